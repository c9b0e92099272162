"""The counter with a grader: each item keeps its few best views as grader crops of the real frames, and the grader
(a real ONNX Runtime session on a real small classifier) runs once per item, deciding whether it is flagged.

The frames are painted: each item is a square of one colour moving across a grey belt. The detector's boxes say
"fresh apple" for every item; the colour grader reads a red square as a fresh apple and a dark one as a rotten
apple, so whether an item is flagged is the grader's decision alone."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from oracle_streams import H, W, detections_from_boxes, item_path

from edge.tracking import CameraCounter, CounterConfig, CountingLine, Item
from edge.tracking.views import GRADE_VIEWS, offer, view_of
from tests.training.testing_models import (
    COLOUR_GRADER_CLASSES, colour_bias, colour_grader_onnx, colour_grader_spec, colour_logits,
)
from vision.frame import Frame
from vision.grader import NOT_PRODUCE, Grader
from vision.taxonomy import Taxonomy

LINE = CountingLine.vertical(320)
RED, DARK = (0, 0, 220), (25, 25, 25)


class CountingGrader(Grader):
    """The real grader, counting its calls and the crops of each (to see it runs once per item, on a few crops)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.batches: list[int] = []

    def grade_crops(self, crops: np.ndarray) -> np.ndarray:
        self.batches.append(len(crops))
        return super().grade_crops(crops)


@pytest.fixture()
def grader(tmp_path: Path, taxonomy: Taxonomy) -> CountingGrader:
    path = colour_grader_onnx(tmp_path / "grader.onnx")
    return CountingGrader(path, colour_grader_spec(path), taxonomy=taxonomy)


def painted_stream(
    taxonomy: Taxonomy, colours: list[tuple[int, int, int]], frames: int = 40, tags: dict[str, str] | None = None
) -> list[tuple[Frame, object]]:
    """Items of the given colours, 200 px apart, moving 20 px/frame to +x; each box detected as a fresh apple."""
    apple_fresh = taxonomy.class_id("apple", "fresh")
    paths = [item_path(i, apple_fresh, x0=-90 - 200 * i, y=120 + 60 * (i % 2), size=90, step=20,
                       frames=range(frames)) for i in range(len(colours))]
    stream = []
    for k in range(frames):
        image = np.full((H, W, 3), 128, np.uint8)
        present = [(p[k], colour) for p, colour in zip(paths, colours) if k in p]
        for (box, _, _, _), colour in present:
            x0, y0, x1, y1 = (int(round(v)) for v in box)
            image[y0:y1, x0:x1] = colour
        dets = detections_from_boxes(taxonomy, [b[0] for b, _ in present], [b[1] for b, _ in present],
                                     [b[2] for b, _ in present], [b[3] for b, _ in present])
        stream.append((Frame("cam", k, k / 15.0, image, dict(tags or {})), dets))
    return stream


def run(counter: CameraCounter, stream: list) -> list[Item]:
    items = [it for frame, dets in stream for it in counter.update(frame, dets).counted]
    return sorted(items + counter.flush(), key=lambda it: it.first_seq)


def test_the_grader_decides_the_flag_and_runs_once_per_item(taxonomy: Taxonomy, grader: CountingGrader) -> None:
    stream = painted_stream(taxonomy, [RED, DARK, RED])
    plain = run(CameraCounter("cam", taxonomy, CounterConfig(line=LINE)), stream)
    assert [(it.produce, it.flagged, it.graded_views) for it in plain] == [("apple", False, 0)] * 3

    counter = CameraCounter("cam", taxonomy, CounterConfig(line=LINE), model_version="v0002", grader=grader)
    items = run(counter, stream)
    assert [(it.produce, it.condition, it.flagged) for it in items] == [
        ("apple", "fresh", False), ("apple", "rotten", True), ("apple", "fresh", False)]
    assert [it.graded_views for it in items] == [GRADE_VIEWS] * 3
    assert items[1].freshness < 0.1 and items[0].freshness > 0.99
    assert items[1].best_crop_jpeg is not None  # a flagged item keeps its thumbnail for the review page
    assert grader.batches == [GRADE_VIEWS] * 3  # once per item, all its crops in one batch; never per frame
    assert all(it.to_dict()["graded_views"] == GRADE_VIEWS for it in items)


def test_the_views_are_bounded_and_survive_a_json_checkpoint(taxonomy: Taxonomy, grader: CountingGrader) -> None:
    stream = painted_stream(taxonomy, [DARK, RED])
    straight = run(CameraCounter("cam", taxonomy, CounterConfig(line=LINE), grader=grader), stream)
    counter = CameraCounter("cam", taxonomy, CounterConfig(line=LINE), grader=grader)
    items: list[Item] = []
    for frame, dets in stream:
        items += counter.update(frame, dets).counted
        state = json.loads(json.dumps(counter.state()))
        assert all(len(it["views"]) <= GRADE_VIEWS for it in state["items"])
        counter = CameraCounter("cam", taxonomy, CounterConfig(line=LINE), grader=grader)
        counter.restore(state)  # after every frame, as the service's checkpoints allow
    items = sorted(items + counter.flush(), key=lambda it: it.first_seq)
    assert [(it.flagged, it.graded_views) for it in items] == [(it.flagged, it.graded_views) for it in straight]
    assert [(True, GRADE_VIEWS), (False, GRADE_VIEWS)] == [(it.flagged, it.graded_views) for it in items]
    lean = counter.state(include_crops=False)
    assert all(it["views"] == [] for it in lean["items"])


def test_a_sku_of_a_kind_the_grader_lacks_keeps_the_detectors_freshness(
    taxonomy: Taxonomy, grader: CountingGrader
) -> None:
    items = run(CameraCounter("cam", taxonomy, CounterConfig(line=LINE), grader=grader),
                painted_stream(taxonomy, [DARK], tags={"sku": "tomato"}))
    assert [(it.produce, it.flagged, it.graded_views) for it in items] == [("tomato", False, 0)]
    assert grader.batches == [GRADE_VIEWS]  # it ran; it just had nothing to say about tomatoes


def test_a_model_swap_brings_its_grader(taxonomy: Taxonomy, grader: CountingGrader) -> None:
    """Items handed on after `serve` are graded by the new version's grader; before it, by none."""
    stream = painted_stream(taxonomy, [DARK, DARK, DARK], frames=60)
    counter = CameraCounter("cam", taxonomy, CounterConfig(line=LINE), model_version="v0001")
    items: list[Item] = []
    for frame, dets in stream:
        if frame.seq == 40:  # the first item has left the view (handed on), the others are in it
            counter.serve("v0002", {}, grader)
        items += counter.update(frame, dets).counted
    items = sorted(items + counter.flush(), key=lambda it: it.first_seq)
    assert [(it.model_version, it.flagged, it.graded_views) for it in items] == [
        ("v0001", False, 0), ("v0002", True, GRADE_VIEWS), ("v0002", True, GRADE_VIEWS)]
    assert grader.batches == [GRADE_VIEWS] * 2


def test_a_box_without_area_gives_no_view_and_never_fails_its_frame(
    taxonomy: Taxonomy, grader: CountingGrader
) -> None:
    """A detector may draw a box of zero height; the grader crop cannot be cut from it, and the frame goes on."""
    image = np.full((H, W, 3), 128, np.uint8)
    assert view_of(image, np.array([10.0, 50.0, 60.0, 50.0]), 64, 0.08) is None
    assert view_of(image, np.array([700.0, 50.0, 760.0, 90.0]), 64, 0.08) is None  # wholly outside
    assert offer((), 0.9, 3, lambda: None) == ()
    counter = CameraCounter("cam", taxonomy, CounterConfig(line=LINE), grader=grader)
    flat = [([float(x), 100.0, float(x) + 80, 100.0], taxonomy.class_id("apple", "fresh"), 0.9, 1)
            for x in range(0, 400, 40)]
    for k, (box, cid, conf, tid) in enumerate(flat):
        counter.update(Frame("cam", k, k / 15.0, image), detections_from_boxes(taxonomy, [box], [cid], [conf], [tid]))
    assert all(it["views"] == [] for it in counter.state()["items"])


def test_an_item_the_grader_calls_no_produce_is_never_counted(tmp_path: Path, taxonomy: Taxonomy) -> None:
    """A grader with a not_produce class vetoes clutter the detector boxed as fruit: the blue square (a label, a
    glove) is tracked but never handed on, and the counter says how many it vetoed."""
    classes = (*COLOUR_GRADER_CLASSES, NOT_PRODUCE)
    weights = np.hstack([colour_logits(), np.array([[-40.0], [-20.0], [40.0]], np.float32)])
    bias = np.append(colour_bias(), -5.0).astype(np.float32)
    path = colour_grader_onnx(tmp_path / "veto.onnx", names=classes, weights=weights, bias=bias)
    veto = Grader(path, colour_grader_spec(path, classes=classes), taxonomy=taxonomy)
    blue = (220, 0, 0)
    counter = CameraCounter("cam", taxonomy, CounterConfig(line=LINE), grader=veto)
    items = run(counter, painted_stream(taxonomy, [RED, blue, DARK]))
    assert [(it.produce, it.condition) for it in items] == [("apple", "fresh"), ("apple", "rotten")]
    assert counter.vetoed == 1
    # The same stream with the grader that has no such class counts all three.
    plain = CameraCounter("cam", taxonomy, CounterConfig(line=LINE),
                          grader=Grader(colour_grader_onnx(tmp_path / "g.onnx"),
                                        colour_grader_spec(tmp_path / "g.onnx"), taxonomy=taxonomy))
    assert len(run(plain, painted_stream(taxonomy, [RED, blue, DARK]))) == 3
    assert plain.vetoed == 0
