"""Frame and Detections: the values that flow between stages validate themselves."""

from __future__ import annotations

import numpy as np
import pytest

from vision.detections import Detections
from vision.errors import InputError
from vision.frame import Frame


def _dets(n: int) -> Detections:
    return Detections(
        xyxy=np.arange(n * 4, dtype=np.float32).reshape(n, 4),
        confidence=np.linspace(0.1, 0.9, n, dtype=np.float32),
        class_id=np.arange(n),
        freshness=np.full(n, 0.5, np.float32),
        data={"class_scores": np.zeros((n, 16), np.float32)},
    )


def test_mask_and_index_return_new_detections() -> None:
    d = _dets(4)
    kept = d[d.confidence > 0.5]
    assert len(kept) == 2 and kept.data["class_scores"].shape == (2, 16)
    assert len(d[2]) == 1 and d[2].class_id[0] == 2
    assert len(Detections.empty()) == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"xyxy": np.zeros((3, 3), np.float32)}, r"must be \(N, 4\)"),
        ({"confidence": np.zeros(2, np.float32)}, "confidence has 2 rows"),
        ({"tracker_id": np.zeros(5, int)}, "tracker_id has 5 rows"),
        ({"data": {"x": np.zeros(1)}}, "data\\['x'\\] has 1 rows"),
    ],
)
def test_detections_reject_inconsistent_columns(kwargs: dict, message: str) -> None:
    base = {
        "xyxy": np.zeros((3, 4), np.float32),
        "confidence": np.zeros(3, np.float32),
        "class_id": np.zeros(3, int),
        "freshness": np.zeros(3, np.float32),
    }
    with pytest.raises(InputError, match=message):
        Detections(**{**base, **kwargs})


@pytest.mark.parametrize(
    ("image", "seq", "message"),
    [
        (np.zeros((4, 4), np.uint8), 0, "HxWx3 uint8"),
        (np.zeros((4, 4, 3), np.float32), 0, "HxWx3 uint8"),
        (np.zeros((0, 4, 3), np.uint8), 0, "empty"),
        ("not an image", 0, "HxWx3 uint8"),
        (np.zeros((4, 4, 3), np.uint8), -1, "seq must be >= 0"),
    ],
)
def test_frame_rejects_bad_images(image: object, seq: int, message: str) -> None:
    with pytest.raises(InputError, match=message):
        Frame(camera_id="cam1", seq=seq, captured_at=0.0, image=image)  # type: ignore[arg-type]


def test_frame_key() -> None:
    f = Frame("cam1", 7, 1.0, np.zeros((2, 2, 3), np.uint8), {"sku": "123"})
    assert f.key == ("cam1", 7)
