"""Reading a running service's alerts over HTTP (`GET /alerts`), for `qc monitor`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from vision.errors import QCError


class ServiceUnreachableError(QCError):
    """The service did not answer ``GET /alerts`` (down, wrong address, not a Conveyor QC service)."""


@dataclass(frozen=True)
class AlertsReport:
    """What ``GET /alerts`` returned: the alerts (JSON objects) and when the service last checked its rules."""

    alerts: list[dict[str, Any]]
    checked_at: str | None

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of ``GET /alerts``."""
        return {"alerts": self.alerts, "checked_at": self.checked_at}


def fetch_alerts(base_url: str, timeout_s: float = 10.0) -> AlertsReport:
    """``GET {base_url}/alerts``; raises ServiceUnreachableError naming the URL and the reason."""
    url = base_url.rstrip("/") + "/alerts"
    try:
        resp = httpx.get(url, timeout=timeout_s)
    except httpx.HTTPError as exc:
        raise ServiceUnreachableError(f"cannot reach the service at {url}: {type(exc).__name__}: {exc}") from None
    if resp.status_code != 200:
        raise ServiceUnreachableError(f"{url} answered HTTP {resp.status_code}, not the alerts (is it a qc service?)")
    try:
        body = resp.json()
        alerts = body["alerts"]
        if not isinstance(alerts, list) or not all(isinstance(a, dict) for a in alerts):
            raise TypeError("alerts is not a list of objects")
    except (ValueError, KeyError, TypeError) as exc:
        raise ServiceUnreachableError(f"{url} did not return the alerts JSON ({exc})") from None
    checked = body.get("checked_at")
    return AlertsReport(alerts=alerts, checked_at=checked if isinstance(checked, str) else None)
