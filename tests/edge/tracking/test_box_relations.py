"""Box relations: which boxes are one object twice, completeness, and the crop thumbnail."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge.tracking.boxes import complete, iou, twins
from edge.tracking.crop import encode_crop
from edge.tracking.item import MAX_CROP_BYTES


@pytest.mark.parametrize(
    ("boxes", "conf", "expected"),
    [
        ([], [], []),
        ([[0, 0, 10, 10]], [0.9], [-1]),
        ([[0, 0, 100, 100], [2, 3, 98, 101]], [0.5, 0.9], [1, -1]),  # near-identical: the surer one stays
        ([[0, 0, 100, 100], [60, 60, 90, 90]], [0.9, 0.4], [-1, 0]),  # a part of the item detected alone
        ([[0, 0, 100, 100], [80, 0, 180, 100]], [0.9, 0.9], [-1, -1]),  # touching neighbours stay two
        ([[0, 0, 100, 100], [5, 0, 105, 100], [10, 0, 110, 100]], [0.7, 0.9, 0.8], [1, -1, 1]),
    ],
)
def test_twins(boxes: list, conf: list, expected: list) -> None:
    got = twins(np.array(boxes, float).reshape(-1, 4), np.array(conf, float))
    assert got.tolist() == expected


@pytest.mark.parametrize(
    ("box", "whole"), [((10, 10, 50, 50), True), ((0, 10, 50, 50), False), ((10, 10, 640, 50), False)]
)
def test_complete(box: tuple, whole: bool) -> None:
    assert complete(np.array(box, float), 640, 360) is whole


def test_iou() -> None:
    assert iou(np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]], float),
               np.array([0, 0, 10, 10], float)).round(3).tolist() == [1.0, 0.333, 0.0]


def test_encode_crop_is_a_bounded_jpeg() -> None:
    image = np.random.default_rng(0).integers(0, 256, (720, 1280, 3), dtype=np.uint8)  # noise: JPEG's worst case
    jpeg = encode_crop(image, np.array([100.0, 100.0, 900.0, 700.0]), max_side=512, quality=100)
    assert jpeg is not None and len(jpeg) <= MAX_CROP_BYTES
    decoded = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert max(decoded.shape[:2]) == 512
    assert encode_crop(image, np.array([5.0, 5.0, 5.5, 5.2]), 128, 85) is None  # degenerate
    assert encode_crop(image, np.array([2000.0, 5.0, 2100.0, 50.0]), 128, 85) is None  # outside the image
