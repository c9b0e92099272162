"""Many writers, one frame: the unique constraint on (camera_id, seq) lets exactly one commit win, whichever node,
thread or connection it comes from; the loser gets False and writes nothing."""

from __future__ import annotations

import threading
from collections import defaultdict
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from store_builders import T0, commit_args, make_item

from edge.store import Store, StoreUnavailableError
from edge.store.schema import frames
from edge.store.timestamps import utc_now


@pytest.mark.parametrize("holder_commits", [True, False], ids=["other-commits", "other-rolls-back"])
def test_commit_waits_for_an_in_flight_writer_of_the_same_frame(
    store: Store, store_url: str, holder_commits: bool
) -> None:
    # Another node has inserted (cam1, 10) in a transaction that is still open when this node commits the same frame.
    other_node = create_engine(store_url)
    result: list[bool] = []
    try:
        with other_node.connect() as conn:
            tx = conn.begin()
            now = utc_now()
            conn.execute(
                frames.insert().values(
                    camera_id="cam1", seq=10, status="processed", received_at=now, recorded_at=now, detections_count=0
                )
            )
            racer = threading.Thread(
                target=lambda: result.append(store.commit_frame(**commit_args(seq=10, items=[make_item()])))
            )
            racer.start()
            racer.join(timeout=0.5)
            assert racer.is_alive(), "the second writer must wait for the first, not decide on its own"
            if holder_commits:
                tx.commit()
            else:
                tx.rollback()
            racer.join(timeout=30)
    finally:
        other_node.dispose()
    assert result == [not holder_commits]
    assert store.frame_status("cam1", 10) == "processed"
    assert len(store.items()) == (0 if holder_commits else 1)


def test_two_nodes_racing_every_frame_commit_each_exactly_once(store: Store, store_url: str) -> None:
    # Two stores = two engines and pools, like two edge nodes. Node B drops every third frame instead of committing it.
    n_frames = 30
    other = Store.open(store_url)
    barrier = threading.Barrier(2)
    wins: dict[int, list[str]] = defaultdict(list)
    errors: list[BaseException] = []
    lock = threading.Lock()

    def node(name: str, target: Store) -> None:
        try:
            for seq in range(n_frames):
                barrier.wait(timeout=30)
                if name == "b" and seq % 3 == 0:
                    won = target.record_dropped("cam1", seq, "overload", received_at=T0)
                else:
                    args = commit_args(seq=seq, items=[make_item(track_id=seq, seq=seq, flagged=seq % 2 == 0)])
                    won = target.commit_frame(**args)
                if won:
                    with lock:
                        wins[seq].append(name)
        except Exception as exc:  # noqa: BLE001 - surfaced in the main thread by the assertion on `errors`
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=node, args=(name, s)) for name, s in (("a", store), ("b", other))]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
    finally:
        other.close()
    assert errors == []
    assert sorted(wins) == list(range(n_frames))
    assert all(len(winners) == 1 for winners in wins.values()), dict(wins)

    dropped = {seq for seq, (winner,) in wins.items() if winner == "b" and seq % 3 == 0}
    stored = store.items()
    assert sorted(i.track_id for i in stored) == sorted(set(range(n_frames)) - dropped)
    assert len(store.flags()) == sum(1 for i in stored if i.flagged)
    (tally,) = store.frame_tallies()
    assert tally.processed == n_frames - len(dropped)
    assert tally.dropped == ({"overload": len(dropped)} if dropped else {})
    assert tally.total == n_frames


def test_sqlite_writer_locked_out_past_the_busy_timeout_gets_a_retryable_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'qc.db'}"
    Store.open(url).close()
    other_node = create_engine(url)
    try:
        with Store.open(url, busy_timeout_s=0.2) as store, other_node.connect() as conn:
            conn.exec_driver_sql("BEGIN IMMEDIATE")  # another process holds the write lock and does not let go
            with pytest.raises(StoreUnavailableError, match="database is locked"):
                store.commit_frame(**commit_args())
            conn.exec_driver_sql("ROLLBACK")
            assert store.frame_status("cam1", 10) is None
            assert store.commit_frame(**commit_args()) is True  # the retry goes through once the lock is free
    finally:
        other_node.dispose()
