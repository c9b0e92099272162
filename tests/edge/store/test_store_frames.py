"""Frames: (camera_id, seq) is recorded once, processed or dropped; resends write nothing; bad values are refused
before anything is written."""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any

import pytest
from store_builders import T0, commit_args, make_item

from edge.store import FrameTally, Store, StoreValueError


def test_commit_is_idempotent_on_camera_and_seq(store: Store) -> None:
    items = [make_item(track_id=1, flagged=True), make_item(track_id=2)]
    assert store.commit_frame(**commit_args(items=items, detections_count=2)) is True
    # The resend carries the same frame; even if a restarted tracker produced different items, nothing is written.
    resend = commit_args(items=[make_item(track_id=7)], checkpoint={"seq": 10, "other": True})
    assert store.commit_frame(**resend) is False
    assert [i.track_id for i in store.items()] == [1, 2]
    assert len(store.flags()) == 1
    assert store.load_checkpoint("cam1") == {"seq": 10, "tracks": [[1, 2.5]]}
    assert store.frame_status("cam1", 10) == "processed"
    assert store.frame_tallies() == [FrameTally(camera_id="cam1", processed=1, dropped={})]


def test_same_seq_on_another_camera_is_another_frame(store: Store) -> None:
    assert store.commit_frame(**commit_args(camera_id="cam1", seq=5))
    assert store.commit_frame(**commit_args(camera_id="cam2", seq=5))
    assert store.frame_status("cam2", 5) == "processed"
    assert store.frame_status("cam3", 5) is None


def test_frame_status_and_last_seq(store: Store) -> None:
    assert store.last_seq("cam1") is None
    assert store.frame_status("cam1", 0) is None
    for seq in (0, 1, 2, 5):
        assert store.commit_frame(**commit_args(seq=seq))
    assert store.record_dropped("cam1", 7, "overload")
    assert store.commit_frame(**commit_args(camera_id="cam2", seq=100))
    assert store.last_seq("cam1") == 7  # a dropped frame is finished with, too
    assert store.last_seq("cam2") == 100
    assert [store.frame_status("cam1", s) for s in (0, 3, 5, 7)] == ["processed", None, "processed", "dropped"]


def test_dropped_frames_are_counted_once_per_reason(store: Store) -> None:
    assert store.record_dropped("cam1", 1, "overload", received_at=T0)
    assert store.record_dropped("cam1", 2, "overload")
    assert store.record_dropped("cam1", 3, " corrupt_jpeg ", captured_at=T0 - 1)
    assert store.record_dropped("cam1", 2, "overload") is False  # resent after the drop: still one drop
    assert store.record_dropped("cam1", 3, "overload") is False  # first reason stands
    assert store.commit_frame(**commit_args(seq=4))
    assert store.record_dropped("cam1", 4, "overload") is False  # processed frames cannot become dropped
    assert store.commit_frame(**commit_args(seq=1)) is False  # nor dropped ones processed
    assert store.record_dropped("cam2", 1, "overload")
    assert store.record_dropped("cam2", 2, "bad_header", captured_at=math.nan)  # dropped because its header is bad
    assert store.frame_status("cam2", 2) == "dropped"
    assert store.frame_tallies() == [
        FrameTally(camera_id="cam1", processed=1, dropped={"overload": 2, "corrupt_jpeg": 1}),
        FrameTally(camera_id="cam2", processed=0, dropped={"overload": 1, "bad_header": 1}),
    ]
    assert store.frame_tallies("cam1")[0].total == 4
    assert store.frame_tallies("nobody") == []


def test_checkpoint_round_trip_and_only_moves_forward(store: Store) -> None:
    assert store.load_checkpoint("cam1") is None
    state: dict[str, Any] = {
        "seq": 3,
        "tracks": [{"id": 4, "box": [1.5, 2.0, 3.0, 4.25], "votes": {"apple": 2}, "counted": False}],
        "next_id": 5,
        "note": "äpfel ✓",
        "nothing": None,
    }
    assert store.commit_frame(**commit_args(seq=3, checkpoint=state))
    assert store.load_checkpoint("cam1") == state
    assert store.commit_frame(**commit_args(seq=4, checkpoint=None))  # no new state: the old one stays
    assert store.load_checkpoint("cam1") == state
    assert store.commit_frame(**commit_args(seq=6, checkpoint={"seq": 6}))
    assert store.commit_frame(**commit_args(seq=5, checkpoint={"seq": 5}))  # late frame: never rewinds the tracker
    assert store.load_checkpoint("cam1") == {"seq": 6}
    assert store.load_checkpoint("cam2") is None


NAIVE = datetime(2025, 11, 26, 9, 0)


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"camera_id": ""}, "camera id"),
        ({"camera_id": "c" * 129}, "camera id"),
        ({"seq": -1}, "seq must be an integer >= 0"),
        ({"seq": 1.5}, "seq must be an integer >= 0"),
        ({"captured_at": NAIVE}, "captured_at .* has no time zone"),
        ({"received_at": "yesterday"}, "received_at must be unix seconds"),
        ({"items": [make_item(camera_id="cam2")]}, "belongs to camera 'cam2'"),
        ({"items": [make_item(produce="")]}, "produce must be a non-empty string"),
        ({"items": [make_item(freshness=math.nan)]}, "freshness must be finite"),
        ({"items": [make_item(first_seen_at=NAIVE)]}, "first_seen_at .* has no time zone"),
        ({"items": [make_item(flagged=True, best_crop_jpeg="not bytes")]}, "best_crop_jpeg must be non-empty bytes"),
        ({"checkpoint": {"x": math.inf}}, "checkpoint is not plain JSON"),
        ({"checkpoint": {"x": {1, 2}}}, "checkpoint is not plain JSON"),
    ],
)
def test_bad_values_are_refused_before_writing(store: Store, overrides: dict[str, Any], match: str) -> None:
    with pytest.raises(StoreValueError, match=match):
        store.commit_frame(**commit_args(**overrides))
    assert store.frame_tallies() == []
    assert store.items() == []


@pytest.mark.parametrize(
    ("camera_id", "seq", "reason", "match"),
    [("cam1", 1, "", "non-empty reason"), ("cam1", 1, "   ", "non-empty reason"), ("", 1, "x", "camera id")],
)
def test_bad_drops_are_refused(store: Store, camera_id: str, seq: int, reason: str, match: str) -> None:
    with pytest.raises(StoreValueError, match=match):
        store.record_dropped(camera_id, seq, reason)
    assert store.frame_tallies() == []


def test_aware_datetimes_in_any_zone_are_stored_as_utc(store: Store) -> None:
    from datetime import timedelta

    cet = timezone(timedelta(hours=1))
    captured = datetime(2025, 11, 26, 10, 30, 0, 123456, tzinfo=cet)
    assert store.commit_frame(**commit_args(captured_at=captured, items=[make_item()]))
    counted_at = store.items()[0].counted_at
    assert counted_at == captured
    assert counted_at.tzinfo == timezone.utc and counted_at.hour == 9 and counted_at.microsecond == 123456
