"""The real counter's state through the store: a service that restarts from the stored checkpoint (and gets a resent
frame) counts exactly what an uninterrupted run counts, each item once, with the flagged one's crop stored."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from store_builders import T0

from edge.store import Store
from edge.tracking import CameraCounter, CounterConfig, CountingLine, Item
from vision.detections import Detections
from vision.frame import Frame
from vision.taxonomy import Taxonomy

W, H, STEP = 640, 480, 24  # px per frame along +x
# (class id, first frame, row): apple/fresh and banana/rotten ride across the line at x = 320.
RIDERS = [(0, 0, 120), (7, 10, 300)]
N_FRAMES = 45


def _frame(camera_id: str, seq: int) -> Frame:
    image = np.full((H, W, 3), 90, np.uint8)
    return Frame(camera_id, seq, T0 + seq / 10, image)


def _detections(taxonomy: Taxonomy, seq: int) -> Detections:
    boxes, classes = [], []
    for class_id, start, row in RIDERS:
        x0 = -40 + (seq - start) * STEP
        if seq >= start and x0 >= 0 and x0 + 80 <= W:
            boxes.append([x0, row, x0 + 80, row + 80])
            classes.append(class_id)
    scores = np.full((len(boxes), taxonomy.num_classes), 0.01, np.float32)
    scores[np.arange(len(boxes)), classes] = 0.9
    cls = np.asarray(classes, np.int64)
    return Detections(
        xyxy=np.asarray(boxes, np.float32).reshape(-1, 4),
        confidence=np.full(len(boxes), 0.9, np.float32),
        class_id=cls,
        freshness=taxonomy.freshness(scores, cls),
        data={"class_scores": scores},
    )


def _run(
    store: Store, taxonomy: Taxonomy, new_counter: Callable[[str], CameraCounter], cam: str, restart_at: int
) -> None:
    counter = new_counter(cam)
    for seq in range(N_FRAMES):
        if seq == restart_at:
            # The service dies after committing seq-1 but before acking it: a new counter resumes from the store and
            # the camera resends seq-1, which the store answers without processing it again.
            counter = new_counter(cam)
            state = store.load_checkpoint(cam)
            assert state is not None
            counter.restore(state)
            assert store.frame_status(cam, seq - 1) == "processed"
            assert not store.commit_frame(cam, seq - 1, T0, T0, "v1", 0, [], counter.state())
        frame = _frame(cam, seq)
        result = counter.update(frame, _detections(taxonomy, seq))
        counted: list[Item] = result.counted
        assert store.commit_frame(
            cam, seq, frame.captured_at, frame.captured_at, "v1", len(result.tracked), counted, counter.state()
        )


@pytest.mark.parametrize("restart_at", [16, 30], ids=["apple-crossed-in-view", "banana-crossed-in-view"])
def test_restart_from_stored_checkpoint_counts_each_item_once(
    store: Store, taxonomy: Taxonomy, restart_at: int
) -> None:
    config = CounterConfig(line=CountingLine.vertical(320))

    def new_counter(cam: str) -> CameraCounter:
        return CameraCounter(cam, taxonomy, config, model_version="v1")

    _run(store, taxonomy, new_counter, "straight", restart_at=-1)
    _run(store, taxonomy, new_counter, "restarted", restart_at=restart_at)

    def summary(cam: str) -> list[tuple[str, str, bool, int]]:
        return [(i.produce, i.condition, i.flagged, i.counted_seq) for i in store.items(camera_id=cam)]

    assert sorted(p for p, *_ in summary("straight")) == ["apple", "banana"]
    assert summary("restarted") == summary("straight")
    for cam in ("straight", "restarted"):
        (flag,) = store.flags(camera_id=cam)
        assert flag.item.produce == "banana" and flag.item.flagged
        assert flag.has_crop and store.crop(flag.id).startswith(b"\xff\xd8")  # a JPEG
