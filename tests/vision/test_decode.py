"""decode(): the raw YOLO layout to Detections, on a designed output with known answers."""

from __future__ import annotations

import numpy as np
import pytest
from yolo_raw import KEPT, designed_raw, expected_input_xyxy

from vision.decode import decode
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
    (det,) = decode(raw, [FRAME_BOX], taxonomy, 0.25, 0.6, 300, nms_by)  # type: ignore[arg-type]
    kept = KEPT[nms_by]
    assert len(det) == len(kept)
    assert np.allclose(det.xyxy, to_frame(expected_input_xyxy(kept)), atol=1e-4)
    assert det.xyxy[-1, 3] == 360  # the tomato reaching into the padding is clipped to the frame
    assert np.allclose(det.confidence, raw[0, 4:, kept].max(axis=1))
    assert det.class_id.tolist() == [int(raw[0, 4:, a].argmax()) for a in kept]
    assert np.allclose(det.freshness, [FRESHNESS[a] for a in kept])
    scores = det.data["class_scores"]
    assert scores.dtype == np.float32 and scores.shape == (len(kept), taxonomy.num_classes)
    assert np.array_equal(scores, raw[0, 4:, kept])
    assert det.xyxy.dtype == np.float32 and det.confidence.dtype == np.float32 and det.class_id.dtype == np.int64


@pytest.mark.parametrize(
    ("conf", "iou", "max_det", "kept"),
    [
        (0.65, 0.6, 300, [0, 2]),
        (0.0, 0.6, 300, [0, 2, 4, 6, 3]),  # all but anchor 5 (all zero) pass, best first
        (0.25, 0.6, 1, [0]),
        (0.25, 0.99, 300, [0, 1, 2, 4]),  # a near-1 IoU threshold keeps both apples even when grouped by produce
        (0.95, 0.6, 300, []),
    ],
)
def test_decode_thresholds(taxonomy: Taxonomy, conf: float, iou: float, max_det: int, kept: list[int]) -> None:
    (det,) = decode(designed_raw(taxonomy)[None], [IDENTITY], taxonomy, conf, iou, max_det, "produce")
    assert np.allclose(det.xyxy, expected_input_xyxy(kept).clip(0, 320), atol=1e-4)
    assert det.data["class_scores"].shape == (len(kept), taxonomy.num_classes)


def test_decode_batch_maps_each_image_through_its_own_letterbox(taxonomy: Taxonomy) -> None:
    raw = np.stack([designed_raw(taxonomy)] * 2)
    first, second = decode(raw, [FRAME_BOX, IDENTITY], taxonomy, 0.25, 0.6, 300, "produce")
    assert np.allclose(first.xyxy, to_frame(expected_input_xyxy(KEPT["produce"])), atol=1e-4)
    assert np.allclose(second.xyxy, expected_input_xyxy(KEPT["produce"]), atol=1e-4)


def test_decode_fp16_output_is_cast_to_float32(taxonomy: Taxonomy) -> None:
    (det16,) = decode(designed_raw(taxonomy, np.float16)[None], [FRAME_BOX], taxonomy, 0.25, 0.6, 300, "produce")
    (det32,) = decode(designed_raw(taxonomy)[None], [FRAME_BOX], taxonomy, 0.25, 0.6, 300, "produce")
    assert det16.xyxy.dtype == np.float32 and det16.data["class_scores"].dtype == np.float32
    assert det16.class_id.tolist() == det32.class_id.tolist()
    assert np.allclose(det16.xyxy, det32.xyxy, atol=0.5)
    assert np.allclose(det16.confidence, det32.confidence, atol=1e-3)


def test_decode_nothing_gives_empty_detections(taxonomy: Taxonomy) -> None:
    raw = np.zeros((3, 4 + taxonomy.num_classes, 10), np.float32)
    dets = decode(raw, [IDENTITY] * 3, taxonomy, 0.25, 0.6, 300, "produce")
    assert [len(d) for d in dets] == [0, 0, 0]
    assert dets[0].xyxy.shape == (0, 4)
    assert dets[0].data["class_scores"].shape == (0, taxonomy.num_classes)


@pytest.mark.parametrize(
    ("raw_shape", "n_boxes", "settings", "error", "message"),
    [
        ((1, 19, 7), 1, {}, ModelLoadError, r"19 channels .* 4 \+ 16 = 20"),
        ((1, 20), 1, {}, ModelLoadError, "must be"),
        ((2, 20, 7), 1, {}, InputError, "2 outputs but 1 letterboxes"),
        ((1, 20, 7), 1, {"conf_threshold": 1.5}, InputError, "conf_threshold"),
        ((1, 20, 7), 1, {"iou_threshold": -0.1}, InputError, "iou_threshold"),
        ((1, 20, 7), 1, {"max_det": 0}, InputError, "max_det"),
        ((1, 20, 7), 1, {"nms_by": "box"}, InputError, "nms_by"),
    ],
)
def test_decode_rejects(
    taxonomy: Taxonomy, raw_shape: tuple, n_boxes: int, settings: dict, error: type, message: str
) -> None:
    args = {"conf_threshold": 0.25, "iou_threshold": 0.6, "max_det": 300, "nms_by": "produce", **settings}
    with pytest.raises(error, match=message):
        decode(np.zeros(raw_shape, np.float32), [IDENTITY] * n_boxes, taxonomy, **args)
