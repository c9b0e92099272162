"""Greedy non-maximum suppression in numpy, per group (class-aware), with torchvision's semantics.

Groups are separated the way ultralytics does it: each box is shifted by ``group * offset`` so boxes of different
groups never overlap, then one greedy pass runs over all boxes. With ``offset = 7680`` (ultralytics' ``max_wh``)
the float32 IoUs, and so the kept boxes, are the ones ultralytics gets; a larger offset is used automatically when
coordinates would not fit, so grouping stays correct for any image size.
"""

from __future__ import annotations

import numpy as np

from vision.errors import InputError

# ultralytics.utils.nms.non_max_suppression's max_wh: the per-class shift it applies before its single NMS pass.
ULTRALYTICS_MAX_WH = 7680


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix (len(a), len(b)) of xyxy boxes; 0 where the union is empty."""
    a = np.asarray(a, dtype=np.float32).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float32).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.clip(rb - lt, 0, None)
    inter = wh[..., 0] * wh[..., 1]
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / union, 0.0).astype(np.float32)


def nms(
    xyxy: np.ndarray,
    scores: np.ndarray,
    groups: np.ndarray | None,
    iou_threshold: float,
    max_det: int,
) -> np.ndarray:
    """Indices of the boxes kept by greedy NMS within each group, best score first, at most ``max_det``.

    A box is suppressed when its IoU with a kept box of the same group is greater than ``iou_threshold``
    (torchvision's rule). ``groups`` (N,) ints, e.g. class ids; ``None`` suppresses across all boxes.
    Ties in score keep the earlier box.
    """
    boxes = np.asarray(xyxy, dtype=np.float32)
    scores = np.asarray(scores, dtype=np.float32)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise InputError(f"nms: xyxy must be (N, 4), got {boxes.shape}")
    n = len(boxes)
    if scores.shape != (n,):
        raise InputError(f"nms: scores must be ({n},), got {scores.shape}")
    if not 0.0 <= iou_threshold <= 1.0:
        raise InputError(f"nms: iou_threshold must be in [0, 1], got {iou_threshold}")
    if max_det < 0:
        raise InputError(f"nms: max_det must be >= 0, got {max_det}")
    if n == 0 or max_det == 0:
        return np.zeros(0, dtype=np.int64)

    if groups is not None:
        groups = np.asarray(groups)
        if groups.shape != (n,):
            raise InputError(f"nms: groups must be ({n},), got {groups.shape}")
        span = float(np.abs(boxes).max())
        # A non-finite span (NaN/inf boxes from a broken model) cannot be separated anyway; keep the default shift.
        offset = float(ULTRALYTICS_MAX_WH)
        if np.isfinite(span) and span >= ULTRALYTICS_MAX_WH:
            offset = float(2 ** np.ceil(np.log2(2 * span + 1)))
        # Same op as ultralytics (boxes + class * max_wh, in float32), so IoUs round identically.
        boxes = boxes + (groups.astype(np.float32) * np.float32(offset))[:, None]

    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    areas = (x2 - x1) * (y2 - y1)
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size > 0 and len(keep) < max_det:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        if rest.size == 0:
            break
        w = np.maximum(np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]), np.float32(0))
        h = np.maximum(np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]), np.float32(0))
        inter = w * h
        with np.errstate(divide="ignore", invalid="ignore"):
            iou = inter / (areas[i] + areas[rest] - inter)
        # torchvision compares the float32 IoU with the threshold as a double; NaN (two empty boxes) keeps the box.
        order = rest[~(iou.astype(np.float64) > iou_threshold)]
    return np.asarray(keep, dtype=np.int64)
