"""What the monitor keeps of a frame: class counts by name, items counted and flagged, and the belt colour measured
outside the detection boxes."""

from __future__ import annotations

import numpy as np
import pytest

from edge.monitoring import belt_colour, frame_observation
from vision.detections import Detections
from vision.frame import Frame


def detections(boxes: list[tuple[float, float, float, float]], classes: list[int]) -> Detections:
    n = len(boxes)
    return Detections(
        xyxy=np.array(boxes, np.float32).reshape(n, 4), confidence=np.full(n, 0.9, np.float32),
        class_id=np.array(classes, np.int64), freshness=np.ones(n, np.float32),
    )


def belt_with_items() -> np.ndarray:
    """A 480 x 640 blue-grey belt (B 120, G 100, R 80) with two bright red items."""
    image = np.empty((480, 640, 3), np.uint8)
    image[:] = (120, 100, 80)
    image[100:200, 100:220] = (0, 0, 255)
    image[300:420, 400:560] = (0, 0, 255)
    return image


def test_belt_colour_ignores_what_is_inside_the_boxes() -> None:
    image = belt_with_items()
    boxes = np.array([[100, 100, 220, 200], [400, 300, 560, 420]], np.float64)
    assert belt_colour(image, boxes) == pytest.approx((120, 100, 80))
    b, g, r = belt_colour(image, np.zeros((0, 4)))  # without the boxes, the red items pull the mean
    assert r > 90 and b < 115


def test_belt_colour_is_none_when_the_boxes_cover_the_frame() -> None:
    image = belt_with_items()
    assert belt_colour(image, np.array([[0, 0, 640, 480]], np.float64)) is None


def test_frame_observation_counts_classes_by_name_and_keeps_the_counts() -> None:
    image = belt_with_items()
    frame = Frame(camera_id="belt7", seq=3, captured_at=1.0, image=image)
    dets = detections([(100, 100, 220, 200), (400, 300, 560, 420), (0, 0, 10, 10)], [2, 2, 9])
    obs = frame_observation(frame, dets, "v0009", n_flagged=1, n_counted=2, class_names=("a", "b", "c"), at=42.0)
    assert (obs.camera_id, obs.model_version, obs.at) == ("belt7", "v0009", 42.0)
    assert (obs.n_detections, obs.n_counted, obs.n_flagged) == (3, 2, 1)
    assert obs.class_counts == {"c": 2, "class_9": 1}
    assert obs.belt == pytest.approx((120, 100, 80))
