"""decode(): the raw YOLO layout to Detections, on a designed output with known answers."""

from __future__ import annotations

import re

import numpy as np
import pytest
from yolo_raw import KEPT, designed_raw, expected_input_xyxy

from vision.decode import DecodeOptions, decode
from vision.errors import InputError, ModelLoadError
from vision.letterbox import Letterbox, letterbox
from vision.taxonomy import Taxonomy

# A 640x360 frame letterboxed into 320x320: scale 0.5, 70 rows of padding on top.
FRAME_BOX = letterbox(np.zeros((360, 640, 3), np.uint8), 320, auto=False)[1]
IDENTITY = Letterbox(scale=1.0, pad_left=0, pad_top=0, input=(320, 320), original=(320, 320), resized=(320, 320))
FRESHNESS = {0: (0.9 * 1.0 + 0.3 * 0.6) / 1.2, 1: 0.0, 2: 1.0, 4: (0.6 * 0.35 + 0.2 * 0.0) / 0.8}


def to_frame(xyxy: np.ndarray) -> np.ndarray:
    out = (xyxy - np.array([0, 70, 0, 70], np.float32)) / 0.5
    out[:, [0, 2]] = out[:, [0, 2]].clip(0, 640)
    out[:, [1, 3]] = out[:, [1, 3]].clip(0, 360)
    return out


@pytest.mark.parametrize("nms_by", ["produce", "class", "item"])
def test_decode_designed_output(taxonomy: Taxonomy, nms_by: str) -> None:
    raw = designed_raw(taxonomy)[None]
    (det,) = decode(raw, [FRAME_BOX], taxonomy, DecodeOptions(nms_by=nms_by))  # type: ignore[arg-type]
    kept = KEPT[nms_by]
    assert len(det) == len(kept)
    assert np.allclose(det.xyxy, to_frame(expected_input_xyxy(kept)), atol=1e-4)
    assert det.xyxy[-1, 3] == 360  # the tomato reaching into the padding is clipped to the frame
    scores = raw[0, 4:, kept]
    # ultralytics' class-aware NMS keeps its best class score; our item NMS the item score, 1 - prod(1 - s).
    expected = scores.max(axis=1) if nms_by == "class" else 1 - np.prod(1 - scores, axis=1)
    assert np.allclose(det.confidence, expected)
    assert det.class_id.tolist() == [int(raw[0, 4:, a].argmax()) for a in kept]
    assert np.allclose(det.freshness, [FRESHNESS[a] for a in kept])
    scores = det.data["class_scores"]
    assert scores.dtype == np.float32 and scores.shape == (len(kept), taxonomy.num_classes)
    assert np.array_equal(scores, raw[0, 4:, kept])
    assert det.xyxy.dtype == np.float32 and det.confidence.dtype == np.float32 and det.class_id.dtype == np.int64


@pytest.mark.parametrize(
    ("conf", "iou", "max_det", "kept"),
    [
        (0.65, 0.6, 300, [0, 2, 4]),  # the tomato: best class 0.6, item score 1 - 0.4 * 0.8 = 0.68
        (0.0, 0.6, 300, [0, 2, 4, 6, 3]),  # all but anchor 5 (all zero) pass, best first
        (0.25, 0.6, 1, [0]),
        (0.25, 0.99, 300, [0, 1, 2, 4]),  # a near-1 IoU threshold keeps both apples even when grouped by produce
        (0.95, 0.6, 300, []),  # the best apple: item score 1 - 0.1 * 0.7 = 0.93
    ],
)
def test_decode_thresholds(taxonomy: Taxonomy, conf: float, iou: float, max_det: int, kept: list[int]) -> None:
    options = DecodeOptions(conf_threshold=conf, iou_threshold=iou, max_det=max_det)
    (det,) = decode(designed_raw(taxonomy)[None], [IDENTITY], taxonomy, options)
    assert np.allclose(det.xyxy, expected_input_xyxy(kept).clip(0, 320), atol=1e-4)
    assert det.data["class_scores"].shape == (len(kept), taxonomy.num_classes)


def test_decode_batch_maps_each_image_through_its_own_letterbox(taxonomy: Taxonomy) -> None:
    raw = np.stack([designed_raw(taxonomy)] * 2)
    first, second = decode(raw, [FRAME_BOX, IDENTITY], taxonomy)
    assert np.allclose(first.xyxy, to_frame(expected_input_xyxy(KEPT["produce"])), atol=1e-4)
    assert np.allclose(second.xyxy, expected_input_xyxy(KEPT["produce"]), atol=1e-4)


def test_decode_fp16_output_is_cast_to_float32(taxonomy: Taxonomy) -> None:
    (det16,) = decode(designed_raw(taxonomy, np.float16)[None], [FRAME_BOX], taxonomy)
    (det32,) = decode(designed_raw(taxonomy)[None], [FRAME_BOX], taxonomy)
    assert det16.xyxy.dtype == np.float32 and det16.data["class_scores"].dtype == np.float32
    assert det16.class_id.tolist() == det32.class_id.tolist()
    assert np.allclose(det16.xyxy, det32.xyxy, atol=0.5)
    assert np.allclose(det16.confidence, det32.confidence, atol=1e-3)


def test_decode_nothing_gives_empty_detections(taxonomy: Taxonomy) -> None:
    raw = np.zeros((3, 4 + taxonomy.num_classes, 10), np.float32)
    dets = decode(raw, [IDENTITY] * 3, taxonomy)
    assert [len(d) for d in dets] == [0, 0, 0]
    assert dets[0].xyxy.shape == (0, 4)
    assert dets[0].data["class_scores"].shape == (0, taxonomy.num_classes)


@pytest.mark.parametrize(
    ("raw_shape", "n_boxes", "error", "message"),
    [
        ((1, 19, 7), 1, ModelLoadError, r"19 channels .* 4 \+ 16 = 20"),
        ((1, 20), 1, ModelLoadError, "must be"),
        ((2, 20, 7), 1, InputError, "2 outputs but 1 letterboxes"),
    ],
)
def test_decode_rejects(taxonomy: Taxonomy, raw_shape: tuple, n_boxes: int, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        decode(np.zeros(raw_shape, np.float32), [IDENTITY] * n_boxes, taxonomy)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"conf_threshold": 1.5}, "conf_threshold: input should be less than or equal to 1, got 1.5"),
        ({"conf_threshold": True}, "conf_threshold: input should be a valid number, got True"),
        ({"iou_threshold": -0.1}, "iou_threshold: input should be greater than or equal to 0, got -0.1"),
        ({"max_det": 0}, "max_det: input should be greater than or equal to 1, got 0"),
        ({"max_det": True}, "max_det: input should be a valid integer, got True"),
        ({"nms_by": "box"}, "nms_by: input should be 'produce', 'class' or 'item', got 'box'"),
        ({"nms": "class"}, "DecodeOptions has no setting 'nms'"),
    ],
)
def test_decode_options_refuse_bad_settings_when_made(settings: dict, message: str) -> None:
    """Checked once, when the value is made: `decode` itself never sees a bad threshold."""
    with pytest.raises(InputError, match=re.escape(message)):
        DecodeOptions(**settings)


def test_a_fruit_whose_score_is_spread_over_kinds_is_kept_as_an_item(taxonomy: Taxonomy) -> None:
    """Real photos: the detector is sure something is there but spreads it over produce kinds (0.15 apple, 0.15
    orange, 0.12 banana). No class passes 0.25, the item does (1 - 0.85 * 0.85 * 0.88 = 0.36); under ultralytics'
    class-aware NMS it is dropped as ultralytics drops it. The arg-max class stays the box's class."""
    raw = np.zeros((1, 4 + taxonomy.num_classes, 2), np.float32)
    raw[0, :4, 0] = raw[0, :4, 1] = [100, 100, 80, 80]
    for produce, score in (("apple", 0.15), ("orange", 0.15), ("banana", 0.12)):
        raw[0, 4 + taxonomy.class_id(produce, "fresh"), 0] = score
    raw[0, 4 + taxonomy.class_id("tomato", "fresh"), 1] = 0.02  # background: a faint score stays background
    (item,) = decode(raw, [IDENTITY], taxonomy)
    assert len(item) == 1 and np.isclose(item.confidence[0], 1 - 0.85 * 0.85 * 0.88)
    assert item.class_id[0] == taxonomy.class_id("apple", "fresh")
    (by_class,) = decode(raw, [IDENTITY], taxonomy, DecodeOptions(nms_by="class"))
    assert len(by_class) == 0
