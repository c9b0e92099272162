"""`qc monitor`: a running service's alerts, as a table or JSON, once or every few seconds; the exit status says
whether there are any (for cron jobs and systemd units)."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from edge.monitoring.client import AlertsReport

EXIT_OK, EXIT_UNREACHABLE, EXIT_ALERTS = 0, 1, 3


def monitor(
    url: Annotated[
        str, typer.Option("--url", help="The service's base URL, http://HOST:PORT.")
    ] = "http://127.0.0.1:8000",
    as_json: Annotated[bool, typer.Option("--json", help="Print GET /alerts' JSON (one object per check).")] = False,
    watch: Annotated[
        float | None,
        typer.Option("--watch", help="Check again every SECONDS until Ctrl-C (exit status: the last check's).",
                     min=0.1),
    ] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="HTTP timeout in seconds.", min=0.1)] = 10.0,
) -> None:
    """Print the model monitoring alerts of a running `qc serve` (GET /alerts): rule, camera, model version, since
    when, and the numbers.

    Exit status, for cron and systemd: 0 = no alerts, 3 = alerts active, 1 = the service could not be reached.
    """
    status = EXIT_OK
    try:
        while True:
            status = _check_once(url, as_json, timeout)
            if watch is None:
                break
            time.sleep(watch)
    except KeyboardInterrupt:  # --watch ends with Ctrl-C; the status is the last completed check's
        pass
    raise typer.Exit(status)


def _check_once(url: str, as_json: bool, timeout: float) -> int:
    """Fetch and print the alerts once; the exit status this check stands for."""
    from edge.monitoring.client import ServiceUnreachableError, fetch_alerts

    try:
        report = fetch_alerts(url, timeout)
    except ServiceUnreachableError as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        return EXIT_UNREACHABLE
    typer.echo(json.dumps(report.to_dict()) if as_json else render(report, url))
    return EXIT_ALERTS if report.alerts else EXIT_OK


def render(report: AlertsReport, url: str) -> str:
    """The alerts as a plain-text table (one line each, the message below), or a line saying there are none."""
    checked = f" (checked {report.checked_at})" if report.checked_at else ""
    if not report.alerts:
        return f"{url}: no alerts{checked}"
    header = ("RULE", "CAMERA", "MODEL", "SINCE")
    rows = [tuple(_text(a.get(k)) for k in ("rule", "camera_id", "model_version", "since")) for a in report.alerts]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [f"{url}: {len(report.alerts)} alert(s){checked}", _row(header, widths)]
    for alert, row in zip(report.alerts, rows):
        lines.append(_row(row, widths))
        lines.append(f"    {_text(alert.get('message'))}")
    return "\n".join(lines)


def _row(cells: tuple[str, ...], widths: list[int]) -> str:
    return "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()


def _text(value: Any) -> str:
    return "-" if value is None else str(value)

