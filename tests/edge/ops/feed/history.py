"""A small scripted history of counted items and review decisions, with its waste aggregates worked out by hand."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

from store_tx import read, write

from edge.store import Store
from edge.store.review_queue import query_queue
from edge.store.review_repo import apply_review
from edge.tracking.item import Item

DAY1, DAY2 = date(2026, 11, 20), date(2026, 11, 21)
JPEG = b"\xff\xd8\xff\xe0" + b"crop" * 16 + b"\xff\xd9"


@dataclass(frozen=True)
class Scripted:
    """One counted item: when (UTC), where, what, and what the reviewer decides (None: nothing, stays pending)."""

    name: str
    camera: str
    at: datetime
    produce: str
    flagged: bool
    decision: str | None = None  # "confirm_waste" | "not_waste"
    relabel: str | None = None  # new produce, applied before the decision
    sku: str | None = None
    model: str = "v1"


def _t(day: date, hh: int, mm: int, ss: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, ss, tzinfo=timezone.utc)


HISTORY = [
    Scripted("before-window", "cam1", _t(date(2026, 11, 19), 23, 59, 59), "apple", True, "confirm_waste"),
    Scripted("a1", "cam1", _t(DAY1, 10, 5), "apple", False),
    Scripted("a2", "cam1", _t(DAY1, 10, 20), "apple", True, "confirm_waste"),
    Scripted("a3", "cam1", _t(DAY1, 10, 40), "apple", True, "not_waste"),
    Scripted("a4", "cam1", _t(DAY1, 11, 10), "apple", True),
    Scripted("b1", "cam1", _t(DAY1, 11, 30), "banana", True, "confirm_waste", model="v2"),
    Scripted("b2", "cam1", _t(DAY1, 11, 45), "banana", False),
    Scripted("s1", "cam2", _t(DAY1, 10, 10), "apple", True, "confirm_waste", sku="SKU-1"),
    Scripted("t1", "cam2", _t(DAY1, 10, 50), "tomato", True, "confirm_waste", relabel="orange"),
    Scripted("a5", "cam1", _t(DAY2, 9, 0), "apple", True),
    Scripted("o1", "cam1", _t(DAY2, 9, 30), "orange", False),
    Scripted("a6", "cam1", _t(DAY2, 23, 59, 59), "apple", False),
    Scripted("after-window", "cam1", _t(date(2026, 11, 22), 0, 0), "apple", True),
]

# (camera, product, day, hour) -> (produce, inspected, flagged, confirmed, false flags, pending, model versions)
DAILY: dict[tuple[str, str, date, int | None], tuple[Any, ...]] = {
    ("cam1", "apple", DAY1, None): ("apple", 4, 3, 1, 1, 1, "v1"),
    ("cam1", "banana", DAY1, None): ("banana", 2, 1, 1, 0, 0, "v1,v2"),
    ("cam2", "SKU-1", DAY1, None): ("apple", 1, 1, 1, 0, 0, "v1"),
    ("cam2", "orange", DAY1, None): ("orange", 1, 1, 1, 0, 0, "v1"),
    ("cam1", "apple", DAY2, None): ("apple", 2, 1, 0, 0, 1, "v1"),
    ("cam1", "orange", DAY2, None): ("orange", 1, 0, 0, 0, 0, "v1"),
}
HOURLY: dict[tuple[str, str, date, int | None], tuple[Any, ...]] = {
    ("cam1", "apple", DAY1, 10): ("apple", 3, 2, 1, 1, 0, "v1"),
    ("cam1", "apple", DAY1, 11): ("apple", 1, 1, 0, 0, 1, "v1"),
    ("cam1", "banana", DAY1, 11): ("banana", 2, 1, 1, 0, 0, "v1,v2"),
    ("cam2", "SKU-1", DAY1, 10): ("apple", 1, 1, 1, 0, 0, "v1"),
    ("cam2", "orange", DAY1, 10): ("orange", 1, 1, 1, 0, 0, "v1"),
    ("cam1", "apple", DAY2, 9): ("apple", 1, 1, 0, 0, 1, "v1"),
    ("cam1", "orange", DAY2, 9): ("orange", 1, 0, 0, 0, 0, "v1"),
    ("cam1", "apple", DAY2, 23): ("apple", 1, 0, 0, 0, 0, "v1"),
}


def commit_item(store: Store, s: Scripted, seq: int, track_id: int) -> None:
    """Commit one frame of ``s.camera`` captured at ``s.at`` in which item ``s`` is counted."""
    t = s.at.timestamp()
    item = Item(
        camera_id=s.camera, track_id=track_id, first_seq=max(seq - 3, 0), last_seq=seq, first_seen_at=t - 0.3,
        last_seen_at=t, counted_seq=seq, produce=s.produce, condition="rotten" if s.flagged else "fresh",
        freshness=0.1 if s.flagged else 0.9, flagged=s.flagged, votes={s.produce: 4}, frames=4,
        best_box=(10.0, 10.0, 60.0, 60.0), best_seq=seq, sku=s.sku, model_version=s.model,
        best_crop_jpeg=JPEG if s.flagged else None,
    )
    assert store.commit_frame(s.camera, seq, t, t, s.model, 1, [item], None)


def build_history(store: Store, reviewer: str = "ops1") -> dict[str, int]:
    """Commit every scripted item, apply the scripted reviews; returns name -> flag id (flagged items only)."""
    seqs: dict[str, int] = {}
    for n, s in enumerate(HISTORY):
        seqs[s.camera] = seqs.get(s.camera, 0) + 10
        commit_item(store, s, seqs[s.camera], track_id=n + 1)
    flag_ids = {}
    entries = read(store, query_queue, status="all", limit=500)
    by_time = {(e.camera_id, e.counted_at): e.flag_id for e in entries}
    for s in HISTORY:
        if not s.flagged:
            continue
        flag_id = by_time[(s.camera, s.at)]
        flag_ids[s.name] = flag_id
        if s.relabel:
            write(store, apply_review, flag_id, "relabel", reviewer, produce=s.relabel)
        if s.decision:
            write(store, apply_review, flag_id, s.decision, reviewer)
    return flag_ids
