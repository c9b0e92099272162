"""Box relations the counter needs: centre, area, overlap, completeness, and boxes that are one object twice."""

from __future__ import annotations

import numpy as np

from edge.tracking.belt import EDGE_MARGIN_PX

TWIN_IOU = 0.5  # two boxes this alike are one object (see `twins`)
TWIN_IOS = 0.7


def twins(xyxy: np.ndarray, confidence: np.ndarray, iou: float = TWIN_IOU, ios: float = TWIN_IOS) -> np.ndarray:
    """For each box, the index of a more confident box on the same object, or -1 when it is its object's best.

    Same object: IoU >= ``iou``, or the smaller box lies >= ``ios`` inside the larger (a part detected alone).
    The detector's NMS runs per produce kind, so an item the model is unsure about can come as an apple box and an
    orange box; tracking both would make two items out of one.
    """
    b = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    out = np.full(len(b), -1, dtype=np.int64)
    if len(b) < 2:
        return out
    areas = area(b)
    ix = np.clip(np.minimum(b[:, None, 2], b[None, :, 2]) - np.maximum(b[:, None, 0], b[None, :, 0]), 0, None)
    iy = np.clip(np.minimum(b[:, None, 3], b[None, :, 3]) - np.maximum(b[:, None, 1], b[None, :, 1]), 0, None)
    inter = ix * iy
    same = (inter / np.maximum(areas[:, None] + areas[None, :] - inter, 1e-9) >= iou) | (
        inter / np.maximum(np.minimum(areas[:, None], areas[None, :]), 1e-9) >= ios
    )
    order = np.argsort(-np.asarray(confidence, dtype=np.float64), kind="stable")
    kept: list[int] = []
    for i in order:
        owner = next((k for k in kept if same[i, k]), None)
        if owner is None:
            kept.append(int(i))
        else:
            out[i] = owner
    return out


def centre(box: np.ndarray) -> np.ndarray:
    """Centre (2,) of an xyxy box."""
    return (box[:2] + box[2:]) / 2


def complete(box: np.ndarray, w: int, h: int) -> bool:
    """Whether a box is clear of the borders of a w x h frame (the whole item is in view)."""
    m = EDGE_MARGIN_PX
    return bool(box[0] > m and box[1] > m and box[2] < w - m and box[3] < h - m)


def area(boxes: np.ndarray) -> np.ndarray:
    """Areas of (N, 4) xyxy boxes (0 for inverted ones)."""
    return np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)


def iou(boxes: np.ndarray, box: np.ndarray) -> np.ndarray:
    """IoU of each of (N, 4) boxes with one box."""
    ix = np.clip(np.minimum(boxes[:, 2], box[2]) - np.maximum(boxes[:, 0], box[0]), 0, None)
    iy = np.clip(np.minimum(boxes[:, 3], box[3]) - np.maximum(boxes[:, 1], box[1]), 0, None)
    inter = ix * iy
    union = area(boxes) + (box[2] - box[0]) * (box[3] - box[1]) - inter
    return inter / np.maximum(union, 1e-9)


def overlap_of_smaller(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection of two xyxy boxes over the smaller one's area: 1 when one lies inside the other."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    small = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return float(ix * iy / small) if small > 0 else 0.0
