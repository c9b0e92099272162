"""Model monitoring in the service: the periodic check (alerts logged, gauges set) and ``GET /alerts``.

Every ``monitor.check_every_s`` the monitor's rules are checked: a new alert is logged as a warning and counted
(``qc_alerts_raised``), a cleared one logged, and ``qc_alert_active{rule,camera}`` follows. Every
``monitor.review_every_s`` the cameras' latest review decisions are read from the store first.
"""

from __future__ import annotations

import asyncio
import logging
import time

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from edge.monitoring import Monitor, diff_alerts, review_windows
from edge.monitoring.values import iso_utc
from edge.service.runtime import Runtime, RuntimeDep

log = logging.getLogger(__name__)

router = APIRouter(tags=["monitoring"])


@router.get("/alerts")
async def alerts(runtime: RuntimeDep) -> JSONResponse:
    """The alerts of the latest check: ``{"alerts": [{rule, camera_id, model_version, message, values, since}],
    "checked_at": ISO UTC or null}``."""
    monitor = runtime.monitor
    if monitor is None:
        return JSONResponse({"alerts": [], "checked_at": None})
    checked = monitor.checked_at
    return JSONResponse({"alerts": [a.to_dict() for a in monitor.alerts],
                         "checked_at": iso_utc(checked) if checked is not None else None})


async def watch_alerts(runtime: Runtime, monitor: Monitor) -> None:
    """Check the rules every ``check_every_s`` until cancelled (see the module docstring)."""
    settings = monitor.settings
    cameras = [c.id for c in runtime.config.cameras]
    next_reviews = 0.0
    while True:
        now = time.time()
        if runtime.store is not None and now >= next_reviews:
            try:  # a store outage only delays review precision; the other rules go on
                windows = await asyncio.to_thread(review_windows, runtime.store, cameras, settings.review_last_n)
                monitor.observe_reviews(windows)
                next_reviews = now + settings.review_every_s
            except Exception as exc:  # noqa: BLE001 - monitoring outlives a failed read
                log.warning("monitoring: reading review decisions failed: %s", exc)
        try:
            check(runtime, monitor)
        except Exception:  # a monitoring bug must not take the service down (a dead task fails /healthz)
            log.exception("monitoring: checking the rules failed")
        await asyncio.sleep(settings.check_every_s)


def check(runtime: Runtime, monitor: Monitor) -> None:
    """One check: the rules as of now; raised and cleared alerts logged and counted, the gauges set."""
    before = monitor.alerts
    after = monitor.check(time.time())
    raised, cleared = diff_alerts(before, after)
    for alert in raised:
        log.warning("alert %s on camera %s (model %s): %s", alert.rule, alert.camera_id, alert.model_version,
                    alert.message)
    for alert in cleared:
        log.info("alert %s on camera %s (model %s) cleared", alert.rule, alert.camera_id, alert.model_version)
    runtime.metrics.alerts.update([a.key for a in after], [a.key for a in raised], [a.key for a in cleared])
