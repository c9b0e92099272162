"""`Store.commit_flush`: the items a quiet camera's counter still held, committed with its emptied checkpoint once."""

from __future__ import annotations

from typing import Any

import pytest
from store_builders import commit_args, make_item

from edge.store import Store, StoreValueError

EMPTIED = {"format": 1, "tracks": [], "items": [[7, "handed on"], [8, "handed on"]]}


def _stream(store: Store, frames: int, checkpoint: bool = True) -> None:
    """Frames 0..frames-1 of cam1 committed with no items (the items in view are not handed on yet)."""
    for seq in range(frames):
        store.commit_frame(**commit_args(seq=seq, checkpoint={"seq": seq, "tracks": [[7, 1.0]]} if checkpoint else None))


def _in_view() -> list[Any]:
    return [make_item(track_id=7, seq=8, flagged=True), make_item(track_id=8, seq=9)]


def test_flush_commits_items_flags_and_the_checkpoint_together(store: Store) -> None:
    _stream(store, 10)
    stored = store.commit_flush("cam1", 9, _in_view(), EMPTIED, model_version="v1")
    assert stored is not None and [it.track_id for it in stored] == [7, 8]
    items = store.items(camera_id="cam1")
    assert [(i.track_id, i.counted_seq, i.flagged, i.model_version) for i in items] == [
        (7, 8, True, "v1"), (8, 9, False, "v1")
    ]
    flags = store.flags(camera_id="cam1")
    assert len(flags) == 1 and flags[0].has_crop and store.crop(flags[0].id)
    assert store.load_checkpoint("cam1") == EMPTIED
    assert store.last_seq("cam1") == 9  # a flush is not a frame


@pytest.mark.parametrize(
    ("second", "expect_new"),
    [
        (_in_view, []),  # the same flush again (a commit whose answer was lost): nothing stored twice
        (lambda: _in_view()[1:], []),
        (lambda: [*_in_view(), make_item(track_id=9, seq=9)], [9]),  # only the new one
    ],
)
def test_flush_twice_never_stores_an_item_twice(store: Store, second: Any, expect_new: list[int]) -> None:
    _stream(store, 10)
    store.commit_flush("cam1", 9, _in_view(), EMPTIED)
    again = store.commit_flush("cam1", 9, second(), EMPTIED)
    assert again is not None and [it.track_id for it in again] == expect_new
    tracks = [i.track_id for i in store.items(camera_id="cam1")]
    assert sorted(tracks) == sorted({7, 8, *expect_new}) and len(tracks) == len(set(tracks))
    assert len(store.flags(camera_id="cam1")) == 1


def test_a_stale_flush_writes_nothing(store: Store) -> None:
    _stream(store, 11)  # frame 10 came in after the worker decided to flush as of frame 9
    before = store.load_checkpoint("cam1")
    assert store.commit_flush("cam1", 9, _in_view(), EMPTIED) is None
    assert store.items(camera_id="cam1") == [] and store.load_checkpoint("cam1") == before


def test_a_flush_after_dropped_frames_and_without_a_checkpoint_row(store: Store) -> None:
    _stream(store, 10, checkpoint=False)
    store.record_dropped("cam1", 10, "corrupt_jpeg")
    stored = store.commit_flush("cam1", 10, _in_view(), EMPTIED)
    assert stored is not None and len(stored) == 2
    assert store.load_checkpoint("cam1") == EMPTIED


@pytest.mark.parametrize(
    ("items", "checkpoint", "message"),
    [
        ([make_item(camera_id="cam2")], EMPTIED, "belongs to camera 'cam2'"),
        ([make_item(freshness=float("nan"))], EMPTIED, "freshness must be finite"),
        ([], {"bad": float("nan")}, "not plain JSON"),
    ],
)
def test_bad_flushes_are_refused_with_the_reason(
    store: Store, items: list[Any], checkpoint: dict[str, Any], message: str
) -> None:
    _stream(store, 3)
    with pytest.raises(StoreValueError, match=message):
        store.commit_flush("cam1", 2, items, checkpoint)
    assert store.items(camera_id="cam1") == []
