"""Building a `FrameObservation` from a frame and its detections, and the belt colour measured on it."""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Sequence

import numpy as np

from edge.monitoring.values import BGR, FrameObservation
from vision.detections import Detections
from vision.frame import Frame

# Fewer belt pixels than this (after subsampling) and the colour says more about the items than about the belt.
MIN_BELT_PIXELS = 16


def frame_observation(
    frame: Frame,
    detections: Detections,
    model_version: str,
    *,
    n_flagged: int,
    n_counted: int = 0,
    class_names: Sequence[str] = (),
    at: float | None = None,
    sample_width: int = 80,
) -> FrameObservation:
    """What monitoring keeps of one committed frame: detection and class counts, items counted and flagged in it,
    and the belt colour. ``class_names`` maps class ids to names (ids without a name are counted as ``class_<id>``);
    ``at`` defaults to now."""
    counts = Counter(int(c) for c in np.asarray(detections.class_id).tolist())
    names = {cid: (class_names[cid] if 0 <= cid < len(class_names) else f"class_{cid}") for cid in counts}
    return FrameObservation(
        camera_id=frame.camera_id,
        model_version=model_version,
        at=time.time() if at is None else at,
        n_detections=len(detections),
        n_flagged=n_flagged,
        n_counted=n_counted,
        class_counts={names[cid]: n for cid, n in sorted(counts.items())},
        belt=belt_colour(frame.image, np.asarray(detections.xyxy), sample_width),
    )


def belt_colour(image: np.ndarray, boxes: np.ndarray, sample_width: int = 80) -> BGR | None:
    """Mean B, G, R of ``image`` (H x W x 3, BGR) outside ``boxes`` (N x 4 xyxy pixels), measured on every
    ``step``-th pixel of every ``step``-th row so that about ``sample_width`` columns are read (cheap: a strided view,
    no resize). None when too little belt is left outside the boxes."""
    if image.ndim != 3 or image.shape[2] < 3 or image.size == 0:
        return None
    height, width = image.shape[:2]
    step = max(1, width // max(1, sample_width))
    small = image[::step, ::step, :3]
    mask = np.ones(small.shape[:2], bool)
    for x0, y0, x1, y1 in np.asarray(boxes, np.float64).reshape(-1, 4):
        if not all(math.isfinite(v) for v in (x0, y0, x1, y1)):
            continue
        # Any sample a box touches is masked: a box edge pixel is more likely item than belt.
        c0, r0 = max(0, int(x0 // step)), max(0, int(y0 // step))
        c1, r1 = max(0, math.ceil(x1 / step)), max(0, math.ceil(y1 / step))
        mask[r0:r1, c0:c1] = False
    if int(mask.sum()) < MIN_BELT_PIXELS:
        return None
    b, g, r = small[mask].mean(axis=0, dtype=np.float64)[:3]
    return (float(b), float(g), float(r))
