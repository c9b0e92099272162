"""`qc waste export`: the waste feed to Parquet and to the ``waste_feed`` SQL table, once or periodically."""

from __future__ import annotations

import json
import threading
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from edge.ops.feed.export import ExportResult

app = typer.Typer(help="Waste counts per product and day for the forecasting side.", no_args_is_help=True)

POINT_AT_STORE = (
    "point at the service's store with --config serve.yaml (the file `qc serve --config` runs with) or --db URL"
)


def _date(value: str | None, option: str) -> date | None:
    from edge.ops.feed.api import iso_day
    from vision.errors import InputError

    if value is None:
        return None
    try:
        return iso_day(value)
    except ValueError:
        raise InputError(f"{option} must be a date YYYY-MM-DD, got {value!r}") from None


@app.command("export")
def export(
    since: Annotated[
        str | None, typer.Option("--since", help="First day (YYYY-MM-DD, UTC), inclusive. Default: --days ago.")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Last day (YYYY-MM-DD, UTC), inclusive. Default: today.")
    ] = None,
    days: Annotated[int, typer.Option("--days", help="Window length when --since is not given.", min=1)] = 7,
    hourly: Annotated[bool, typer.Option("--hourly", help="One row per hour instead of per day.")] = False,
    out: Annotated[
        Path | None, typer.Option("--out", help="Parquet folder (<out>/daily|hourly/date=D/<site>.parquet).")
    ] = None,
    db: Annotated[
        str | None, typer.Option("--db", help="Store URL (sqlite:///... or postgresql://...). Default: --config's.")
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="The service's YAML config, whose store to read when --db is not given "
                     "(without either: the default store in the per-user data folder, which must exist)."),
    ] = None,
    site: Annotated[
        str, typer.Option("--site", help="Site name written into every row (letters, digits, _.-).")
    ] = "default",
    every: Annotated[
        float | None,
        typer.Option("--every", help="Periodic mode: export again every SECONDS (rolling window) until Ctrl-C."),
    ] = None,
) -> None:
    """Aggregate items inspected, flagged, confirmed, false flags and pending reviews per camera, product and day
    (or hour); upsert them into the store's waste_feed table and, with --out, write Parquet. One JSON line per
    export on stdout."""
    from edge.config import load_config
    from edge.ops.feed.export import export_waste, export_window, run_periodic
    from edge.store.existing import open_existing
    from edge.store.waste import check_site

    check_site(site)
    first, last = _date(since, "--since"), _date(until, "--until")
    export_window(first, last, days=days)  # refuse a reversed window before opening anything
    url = db or load_config(config).store_url
    # Exporting reads the service's store: a missing one means the wrong place, not an empty feed.
    with open_existing(url, how_to_point=POINT_AT_STORE) as store:
        if every is None:
            start, end = export_window(first, last, days=days)
            result = export_waste(store, start, end, hourly=hourly, site=site, out=out)
            typer.echo(json.dumps(result.to_dict()))
            return
        stop = threading.Event()

        def report(result: ExportResult) -> None:
            typer.echo(json.dumps({"at": datetime.now().astimezone().isoformat(), **result.to_dict()}))

        def warn(exc: Exception) -> None:
            typer.secho(f"warning: waste export failed, retrying in {every:g} s: {exc}", err=True, fg="yellow")

        try:
            run_periodic(
                store, every, stop, report, since=first, until=last, days=days, hourly=hourly, site=site, out=out,
                on_error=warn,
            )
        except KeyboardInterrupt:
            stop.set()
