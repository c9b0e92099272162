"""Review precision read from a real store (SQLite and PostgreSQL): a camera's last N decided flags, counted."""

from __future__ import annotations

import time

from store_tx import read, write

from edge.config import MonitorSection
from edge.monitoring import Monitor, review_windows
from edge.store import Store
from edge.store.review_queue import query_queue
from edge.store.review_repo import apply_review
from edge.tracking.item import Item


def flagged_item(camera: str, track: int, at: float, version: str) -> Item:
    return Item(
        camera_id=camera, track_id=track, first_seq=track, last_seq=track, first_seen_at=at, last_seen_at=at,
        counted_seq=track, produce="apple", condition="rotten", freshness=0.1, flagged=True, votes={"apple": 3},
        frames=3, best_box=(10.0, 10.0, 50.0, 50.0), best_seq=track, model_version=version,
    )


def test_review_windows_count_the_last_decided_flags_per_camera(store: Store) -> None:
    t0 = time.time() - 3600
    for k in range(30):  # belt1: 30 flags by v0001 then v0002; belt2: 5 flags
        version = "v0001" if k < 10 else "v0002"
        store.commit_frame("belt1", k, t0 + k, t0 + k, version, 1, [flagged_item("belt1", k, t0 + k, version)], None)
    for k in range(5):
        store.commit_frame("belt2", k, t0 + k, t0 + k, "v0002", 1, [flagged_item("belt2", k, t0 + k, "v0002")], None)
    flags = {(e.camera_id, e.item_id): e.flag_id for e in read(store, query_queue, status="pending", limit=500)}
    belt1 = sorted(f for (cam, _), f in flags.items() if cam == "belt1")
    belt2 = sorted(f for (cam, _), f in flags.items() if cam == "belt2")
    for i, flag in enumerate(belt1[:28]):  # the first 10 confirmed, then 18 false flags; 2 left pending
        write(store, apply_review, flag, "confirm_waste" if i < 10 else "not_waste", "olga")
    write(store, apply_review, belt2[0], "confirm_waste", "olga")

    windows = {w.camera_id: w for w in review_windows(store, ["belt1", "belt2", "belt9"], last_n=20)}
    assert set(windows) == {"belt1", "belt2"}  # belt9 has nothing decided
    assert (windows["belt1"].confirmed, windows["belt1"].rejected) == (2, 18)  # the last 20 of the 28 decided
    assert windows["belt1"].model_versions == ("v0001", "v0002")
    assert (windows["belt2"].confirmed, windows["belt2"].rejected) == (1, 0)

    monitor = Monitor(MonitorSection(min_reviews=20, min_precision=0.6))
    monitor.observe_reviews(windows.values())
    alerts = monitor.check(time.time())
    assert [(a.rule, a.camera_id, a.model_version) for a in alerts] == [("review_precision", "belt1", "v0001,v0002")]
    assert alerts[0].values["precision"] == 0.1
