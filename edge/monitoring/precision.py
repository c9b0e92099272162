"""Review precision: of a camera's latest decided flags, how many did ops confirm as waste.

The decisions live in the store (the review page writes them); `review_windows` reads them, the monitor judges them.
"Latest" follows the review queue's order (the items' count time): the last ``review_last_n`` decided flags of the
camera, which is the order ops work through the queue in.
"""

from __future__ import annotations

from collections.abc import Iterable

from edge.config import MonitorSection
from edge.monitoring.values import REVIEW_PRECISION, Alert, ReviewWindow
from edge.store import Store
from edge.store.review_queue import count_queue, query_queue


def review_windows(store: Store, camera_ids: Iterable[str], last_n: int) -> list[ReviewWindow]:
    """Each camera's last ``last_n`` decided (confirmed or rejected) flags, counted; cameras with none are left out.
    One read transaction, so every camera is judged on the same snapshot. Blocking: call it off the event loop."""
    windows: list[ReviewWindow] = []
    with store.transaction(write=False) as conn:
        for cam in camera_ids:
            decided = count_queue(conn, camera=cam, status="reviewed")
            if decided == 0:
                continue
            entries = query_queue(conn, camera=cam, status="reviewed", offset=max(0, decided - last_n), limit=last_n)
            windows.append(ReviewWindow(
                camera_id=cam,
                model_versions=tuple(sorted({e.model_version for e in entries if e.model_version})),
                confirmed=sum(1 for e in entries if e.status == "confirmed"),
                rejected=sum(1 for e in entries if e.status == "rejected"),
            ))
    return windows


def review_precision(window: ReviewWindow, settings: MonitorSection, now: float) -> Alert | None:
    """Fires when at least ``min_reviews`` flags are decided and precision is below ``min_precision``."""
    precision = window.precision
    decided = window.confirmed + window.rejected
    if precision is None or decided < settings.min_reviews or precision >= settings.min_precision:
        return None
    versions = ",".join(window.model_versions) or "unknown"
    return Alert(
        rule=REVIEW_PRECISION,
        camera_id=window.camera_id,
        model_version=versions,
        message=(
            f"camera {window.camera_id}, model {versions}: review precision {precision:.0%} "
            f"({window.confirmed} confirmed, {window.rejected} false flags of the last {decided} decided) is below "
            f"{settings.min_precision:.0%}"
        ),
        values={"precision": precision, "confirmed": float(window.confirmed), "rejected": float(window.rejected),
                "threshold": settings.min_precision},
        since=now,
    )
