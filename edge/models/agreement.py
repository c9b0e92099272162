"""How far a shadow model agrees with production on one frame: matched boxes over the larger of the two counts."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from vision.detections import Detections
from vision.errors import InputError
from vision.nms import box_iou


@dataclass(frozen=True)
class Agreement:
    """One frame's comparison: ``matched`` pairs (same class, IoU >= the threshold, one-to-one) and
    ``value`` = matched / max(n_production, n_shadow), 1.0 when both found nothing."""

    matched: int
    n_production: int
    n_shadow: int

    @property
    def value(self) -> float:
        """In [0, 1]: 1.0 = the same boxes (or both empty), 0.0 = nothing in common."""
        most = max(self.n_production, self.n_shadow)
        return 1.0 if most == 0 else self.matched / most


def agreement(production: Detections, shadow: Detections, iou_threshold: float = 0.5) -> Agreement:
    """Match ``shadow``'s boxes to ``production``'s one-to-one (Hungarian assignment on IoU; a pair counts when the
    classes are equal and IoU >= ``iou_threshold``) and return the `Agreement`."""
    if not 0 < iou_threshold <= 1:
        raise InputError(f"iou_threshold must be in (0, 1], got {iou_threshold}")
    n_prod, n_shadow = len(production), len(shadow)
    if n_prod == 0 or n_shadow == 0:
        return Agreement(0, n_prod, n_shadow)
    iou = box_iou(production.xyxy, shadow.xyxy)
    same_class = production.class_id[:, None] == shadow.class_id[None, :]
    usable = same_class & (iou >= iou_threshold)
    if not usable.any():
        return Agreement(0, n_prod, n_shadow)
    # Maximise the number of usable pairs first, then their IoU: a pair is worth 1 + IoU, an unusable one 0.
    gain = np.where(usable, 1.0 + iou, 0.0)
    rows, cols = linear_sum_assignment(gain, maximize=True)
    matched = int(usable[rows, cols].sum())
    return Agreement(matched, n_prod, n_shadow)
