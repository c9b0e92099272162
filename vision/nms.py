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
# Up to this many boxes (of one image, or of consecutive images) `nms` computes every pair's IoU at once (a
# 512 x 512 matrix: a few MB of temporaries); an image with more goes one kept box at a time.
MAX_PAIRWISE = 512


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
    boxes, scores = _checked(xyxy, scores, groups, iou_threshold, max_det)
    return _per_image(boxes, scores, groups, np.array([0, len(boxes)]), iou_threshold, max_det)


def nms_per_image(
    xyxy: np.ndarray,
    scores: np.ndarray,
    groups: np.ndarray | None,
    image_starts: np.ndarray,
    iou_threshold: float,
    max_det: int,
) -> np.ndarray:
    """`nms` of every image of a batch on its own, in one pass: the boxes are the images' boxes one image after the
    other, image i's at ``image_starts[i]:image_starts[i + 1]`` (``image_starts`` (B + 1,) non-decreasing, from 0 to
    N). Returns the kept indices image by image, each image's best first, at most ``max_det`` per image: exactly
    the concatenation of `nms` on each image's boxes (the same float32 ops per pair, so the same bits), for a few
    numpy calls per batch instead of a few dozen per image."""
    boxes, scores = _checked(xyxy, scores, groups, iou_threshold, max_det)
    bounds = np.asarray(image_starts, dtype=np.int64)
    covers = bounds.ndim == 1 and len(bounds) >= 1 and bounds[0] == 0 and bounds[-1] == len(boxes)
    if not covers or (np.diff(bounds) < 0).any():
        raise InputError(f"nms_per_image: image_starts must rise from 0 to {len(boxes)}, got {bounds.tolist()}")
    return _per_image(boxes, scores, groups, bounds, iou_threshold, max_det)


def _checked(
    xyxy: np.ndarray, scores: np.ndarray, groups: np.ndarray | None, iou_threshold: float, max_det: int
) -> tuple[np.ndarray, np.ndarray]:
    boxes = np.asarray(xyxy, dtype=np.float32)
    scores = np.asarray(scores, dtype=np.float32)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise InputError(f"nms: xyxy must be (N, 4), got {boxes.shape}")
    n = len(boxes)
    if scores.shape != (n,):
        raise InputError(f"nms: scores must be ({n},), got {scores.shape}")
    if groups is not None and np.shape(groups) != (n,):
        raise InputError(f"nms: groups must be ({n},), got {np.shape(groups)}")
    if not 0.0 <= iou_threshold <= 1.0:
        raise InputError(f"nms: iou_threshold must be in [0, 1], got {iou_threshold}")
    if max_det < 0:
        raise InputError(f"nms: max_det must be >= 0, got {max_det}")
    return boxes, scores


def _per_image(
    boxes: np.ndarray,
    scores: np.ndarray,
    groups: np.ndarray | None,
    bounds: np.ndarray,
    iou_threshold: float,
    max_det: int,
) -> np.ndarray:
    n = len(boxes)
    if n == 0 or max_det == 0:
        return np.zeros(0, dtype=np.int64)
    sizes = np.diff(bounds)
    image = np.repeat(np.arange(len(sizes)), sizes)
    if groups is not None:
        # Each image's own shift, from its own span (a non-finite span, NaN/inf boxes from a broken model, cannot be
        # separated anyway: the default shift). float64 as the scalar formula computes it.
        present = sizes > 0
        span = np.full(len(sizes), np.nan)
        span[present] = np.maximum.reduceat(np.abs(boxes).max(axis=1), bounds[:-1][present]).astype(np.float64)
        offset = np.full(len(sizes), float(ULTRALYTICS_MAX_WH))
        wide = np.isfinite(span) & (span >= ULTRALYTICS_MAX_WH)
        offset[wide] = 2 ** np.ceil(np.log2(2 * span[wide] + 1))
        # Same op as ultralytics (boxes + class * max_wh, in float32), so IoUs round identically.
        boxes = boxes + (np.asarray(groups).astype(np.float32) * offset.astype(np.float32)[image])[:, None]
    # Best first within each image, ties in input order; the images stay where they are.
    order = np.lexsort((-scores, image))
    keep: list[np.ndarray] = []
    chunk_start = 0
    for chunk_end in _chunks(sizes):
        first, last = int(bounds[chunk_start]), int(bounds[chunk_end])
        if last - first > MAX_PAIRWISE:  # one image with very many boxes: memory linear in them
            keep.append(_greedy(boxes, order[first:last], iou_threshold, max_det))
        elif last > first:
            kept = _pairwise(boxes[order[first:last]], bounds[chunk_start : chunk_end + 1] - first, iou_threshold,
                             max_det)
            keep.append(order[first:last][kept])
        chunk_start = chunk_end
    return np.concatenate(keep).astype(np.int64) if keep else np.zeros(0, dtype=np.int64)


def _chunks(sizes: np.ndarray) -> list[int]:
    """Ends (image indices, exclusive) of runs of consecutive images holding at most `MAX_PAIRWISE` boxes together
    (an image with more is a run of its own)."""
    ends: list[int] = []
    total = 0
    for i, size in enumerate(sizes.tolist()):
        if total and total + size > MAX_PAIRWISE:
            ends.append(i)
            total = 0
        total += size
    ends.append(len(sizes))
    return ends


def _pairwise(ordered: np.ndarray, bounds: np.ndarray, iou_threshold: float, max_det: int) -> np.ndarray:
    """The greedy pass over boxes already in each image's best-first order, images at ``bounds``: every pair's IoU
    at once (tens of candidates a frame), then rows of it, a handful of numpy calls per kept box. The same float32
    ops per pair as `_greedy`, so the same bits. Positions kept, image by image."""
    x1, y1, x2, y2 = ordered[:, 0], ordered[:, 1], ordered[:, 2], ordered[:, 3]
    areas = (x2 - x1) * (y2 - y1)
    w = np.maximum(np.minimum(x2[:, None], x2[None, :]) - np.maximum(x1[:, None], x1[None, :]), np.float32(0))
    h = np.maximum(np.minimum(y2[:, None], y2[None, :]) - np.maximum(y1[:, None], y1[None, :]), np.float32(0))
    inter = w * h
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = inter / (areas[:, None] + areas[None, :] - inter)
    # torchvision compares the float32 IoU with the threshold as a double; NaN (two empty boxes) keeps the box.
    suppresses = iou.astype(np.float64) > iou_threshold
    alive = np.ones(len(ordered), dtype=bool)
    keep: list[int] = []
    for start, end in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
        position, kept = start, 0
        while position < end and kept < max_det:
            keep.append(position)
            kept += 1
            alive[position + 1 : end] &= ~suppresses[position, position + 1 : end]
            following = np.flatnonzero(alive[position + 1 : end])
            if following.size == 0:
                break
            position += 1 + int(following[0])
    return np.asarray(keep, dtype=np.int64)


def _greedy(boxes: np.ndarray, order: np.ndarray, iou_threshold: float, max_det: int) -> np.ndarray:
    """`nms`'s greedy pass one kept box at a time (memory linear in the boxes: for many candidates)."""
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    areas = (x2 - x1) * (y2 - y1)
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
