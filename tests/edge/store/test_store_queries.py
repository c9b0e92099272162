"""Queries over stored items, flags, crops and model versions, on a small scripted history."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
from store_backends import BACKENDS, empty_database
from store_builders import JPEG, T0, commit_args, make_item

from edge.store import NotFoundError, ProduceCount, Store, StoreError, StoreValueError

UTC = timezone.utc


@pytest.fixture(scope="module", params=BACKENDS)
def history(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """A store holding a small history, shared by the read-only tests of this module (per backend).

    cam1: seq 10 apple (fresh), seq 20 apple flagged + pear, seq 30 pear flagged without crop;
    cam2: seq 10 banana flagged, with a SKU and its own model version. Frames are 1 s apart per 10 seq."""
    with empty_database(request.param, tmp_path_factory.mktemp("history")) as url, Store.open(url) as store:
        _write_history(store)
        yield store


def _write_history(store: Store) -> None:
    frames = [
        ("cam1", 10, [make_item("cam1", 1, 10)]),
        (
            "cam1",
            20,
            [
                make_item("cam1", 2, 20, flagged=True, condition="bruised", freshness=0.2),
                make_item("cam1", 3, 20, produce="pear", votes={"pear": 4}),
            ],
        ),
        ("cam1", 30, [make_item("cam1", 4, 30, produce="pear", flagged=True, freshness=0.1, best_crop_jpeg=None)]),
        ("cam2", 10, [make_item("cam2", 1, 10, produce="banana", flagged=True, sku="SKU-9", model_version="v0")]),
    ]
    for cam, seq, items in frames:
        assert store.commit_frame(**commit_args(camera_id=cam, seq=seq, items=items, detections_count=len(items)))


def test_items_keep_every_field_and_a_stable_id(history: Store) -> None:
    items = history.items()
    assert [(i.camera_id, i.track_id) for i in items] == [
        ("cam1", 1),
        ("cam1", 2),
        ("cam1", 3),
        ("cam1", 4),
        ("cam2", 1),
    ]
    ids = [i.id for i in items]
    assert ids == sorted(ids) and len(set(ids)) == 5
    first = items[1]
    assert history.item(first.id) == first
    assert first.produce == "apple" and first.condition == "bruised" and first.freshness == pytest.approx(0.2)
    assert first.flagged is True and first.votes == {"apple": 5, "pear": 1} and first.frames == 6
    assert (first.first_seq, first.last_seq, first.counted_seq, first.best_seq) == (15, 20, 20, 18)
    assert first.best_box == (10.0, 20.0, 110.0, 140.5)
    assert first.first_seen_at == datetime.fromtimestamp(T0 + 1.5, UTC)
    assert first.counted_at == datetime.fromtimestamp(T0 + 2.0, UTC)
    assert first.counted_at.tzinfo == UTC
    assert first.model_version == "v1"  # from the frame
    banana = items[4]
    assert banana.sku == "SKU-9" and banana.model_version == "v0"  # the item's own


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, [("cam1", 1), ("cam1", 2), ("cam1", 3), ("cam1", 4), ("cam2", 1)]),
        ({"camera_id": "cam2"}, [("cam2", 1)]),
        ({"flagged": True}, [("cam1", 2), ("cam1", 4), ("cam2", 1)]),
        ({"flagged": False, "camera_id": "cam1"}, [("cam1", 1), ("cam1", 3)]),
        ({"since": T0 + 2.0}, [("cam1", 2), ("cam1", 3), ("cam1", 4)]),  # counted at T0+1, +2, +3 (cam2 at +1)
        ({"until": T0 + 2.0}, [("cam1", 1), ("cam2", 1)]),  # half-open: [since, until)
        ({"since": T0 + 2.0, "until": T0 + 3.0}, [("cam1", 2), ("cam1", 3)]),
        ({"since": datetime.fromtimestamp(T0 + 3.0, UTC)}, [("cam1", 4)]),
        ({"produce": "pear"}, [("cam1", 3), ("cam1", 4)]),
        ({"limit": 2}, [("cam1", 1), ("cam1", 2)]),
        ({"camera_id": "nobody"}, []),
    ],
)
def test_item_filters(history: Store, filters: dict[str, object], expected: list[tuple[str, int]]) -> None:
    assert [(i.camera_id, i.track_id) for i in history.items(**filters)] == expected  # type: ignore[arg-type]


def test_items_page_by_id(history: Store) -> None:
    first_page = history.items(limit=3)
    second_page = history.items(after_id=first_page[-1].id, limit=3)
    assert [i.id for i in first_page + second_page] == [i.id for i in history.items()]


def test_counts_by_produce(history: Store) -> None:
    assert history.counts_by_produce() == {
        "apple": ProduceCount("apple", items=2, flagged=1),
        "banana": ProduceCount("banana", items=1, flagged=1),
        "pear": ProduceCount("pear", items=2, flagged=1),
    }
    assert history.counts_by_produce(camera_id="cam1", since=T0 + 2.0) == {
        "apple": ProduceCount("apple", items=1, flagged=1),
        "pear": ProduceCount("pear", items=2, flagged=1),
    }
    assert history.counts_by_produce(until=T0) == {}


def test_flags_queue_and_crops_by_id(history: Store) -> None:
    flags = history.flags()
    assert [(f.item.camera_id, f.item.track_id) for f in flags] == [("cam1", 2), ("cam1", 4), ("cam2", 1)]
    assert all(f.status == "pending" for f in flags)
    assert [f.has_crop for f in flags] == [True, False, True]
    assert history.crop(flags[0].id) == JPEG
    with pytest.raises(NotFoundError, match=f"no crop for flag id {flags[1].id}"):
        history.crop(flags[1].id)  # flagged without a crop
    with pytest.raises(NotFoundError, match="no crop for flag id 999999"):
        history.crop(999_999)
    assert [f.item.track_id for f in history.flags(camera_id="cam1", produce="pear")] == [4]
    assert history.flags(status="confirmed") == []
    assert len(history.flags(status="pending", limit=2)) == 2
    with pytest.raises(StoreValueError, match="flag status must be one of"):
        history.flags(status="maybe")  # type: ignore[arg-type]


def test_unknown_item_id(history: Store) -> None:
    with pytest.raises(NotFoundError, match="no item with id 424242"):
        history.item(424242)


def test_model_versions(store: Store) -> None:
    t = datetime(2025, 11, 26, 10, 40, tzinfo=UTC)
    store.record_model_version("v1", "AB" * 32, "production", t, "CPUExecutionProvider")
    store.record_model_version("v2", "cd" * 32, "shadow", t + timedelta(minutes=5), "CUDAExecutionProvider")
    store.record_model_version(
        "v1", "ab" * 32, "rollback", (t + timedelta(minutes=9)).timestamp(), "CPUExecutionProvider"
    )
    v1, v2 = store.model_versions()
    assert (v1.version, v1.sha256, v1.stage, v1.loads) == ("v1", "ab" * 32, "rollback", 2)
    assert (v1.first_loaded_at, v1.last_loaded_at) == (t, t + timedelta(minutes=9))
    assert (v2.version, v2.stage, v2.provider, v2.loads) == ("v2", "shadow", "CUDAExecutionProvider", 1)
    with pytest.raises(StoreError, match="model version 'v2' is already recorded with sha256 cdcd"):
        store.record_model_version("v2", "ef" * 32, "canary", t, "CPUExecutionProvider")
    assert [m.loads for m in store.model_versions()] == [2, 1]  # the refused load left nothing
    with pytest.raises(StoreValueError, match="model provider must be a non-empty string"):
        store.record_model_version("v3", "00" * 32, "shadow", t, "")


def test_counted_at_is_the_time_of_the_crossing_frame(store: Store) -> None:
    # The counter hands an item on when its track ends: frames after it crossed the line (here at seq 12).
    assert store.commit_frame(**commit_args(seq=12, captured_at=T0 + 1.2))
    late = make_item(track_id=1, seq=20, counted_seq=12)
    assert store.commit_frame(**commit_args(seq=20, captured_at=T0 + 2.0, items=[late]))
    # Crossing frame unknown to this store (the tracker state came from elsewhere): interpolated between sightings.
    unseen = make_item(track_id=2, seq=30, counted_seq=27, first_seen_at=T0 + 2.5, last_seen_at=T0 + 3.0, inferred=True)
    assert store.commit_frame(**commit_args(seq=30, captured_at=T0 + 3.0, items=[unseen]))
    first, second = store.items()
    assert first.counted_at == datetime.fromtimestamp(T0 + 1.2, UTC) and first.inferred is False
    assert second.counted_at == datetime.fromtimestamp(T0 + 2.7, UTC) and second.inferred is True
    assert [i.track_id for i in store.items(until=T0 + 2.0)] == [1]
