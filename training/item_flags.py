"""Item-level flag precision and recall: does the model flag the items ops should act on?

Flagging is what the edge does with a detection: an item is flagged when its freshness is below the operating
threshold (``counting.flag_below``, default `vision.taxonomy.DEFAULT_FLAG_BELOW`). On a labelled split, per image:

- ground truth: an item is *flagged* when its labelled condition's freshness is below the same threshold (at the
  default 0.8 that is every condition but ``fresh``);
- predictions: the boxes with confidence >= ``conf``, *flagged* when their freshness is below the threshold;
- matching is class-agnostic (a flag is about the item, whatever produce kind the model calls it): predictions by
  descending confidence each take the unmatched ground-truth item with the highest IoU, if that IoU >= 0.5.

Counts: a true positive is a flagged prediction matched to a flagged item; a false positive is a flagged
prediction matched to an unflagged item or to nothing; a false negative is a flagged item that no flagged
prediction matched (missed, or detected as fresh). precision = tp / (tp + fp), recall = tp / (tp + fn), None when
the denominator is 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from vision.detections import Detections
from vision.errors import InputError
from vision.nms import box_iou
from vision.taxonomy import DEFAULT_FLAG_BELOW

if TYPE_CHECKING:
    from training.yolo_dataset import GroundTruth



@dataclass(frozen=True)
class FlagCounts:
    """Item-level flag outcomes on a split at one freshness threshold and confidence threshold."""

    tp: int
    fp: int
    fn: int
    flag_below: float

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    def to_dict(self) -> dict[str, Any]:
        """JSON form (the ``flags`` entry of the evaluation report)."""
        return {
            "flag_below": self.flag_below,
            "precision": None if self.precision is None else round(self.precision, 6),
            "recall": None if self.recall is None else round(self.recall, 6),
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
        }


def greedy_match(pred_xyxy: np.ndarray, pred_conf: np.ndarray, gt_xyxy: np.ndarray, iou_threshold: float) -> np.ndarray:
    """For each prediction (in input order), the index of the ground-truth box it matched, or -1.

    Predictions by descending confidence each take the unmatched box with the highest IoU, if >= ``iou_threshold``.
    """
    matched = np.full(len(pred_xyxy), -1, np.int64)
    if not len(pred_xyxy) or not len(gt_xyxy):
        return matched
    order = np.argsort(-pred_conf, kind="stable")
    ious = box_iou(pred_xyxy[order], gt_xyxy)
    taken = np.zeros(len(gt_xyxy), bool)
    for row, p in zip(ious, order):
        candidates = np.where(taken, -1.0, row)
        j = int(np.argmax(candidates))
        if candidates[j] >= iou_threshold:
            taken[j] = True
            matched[p] = j
    return matched


def item_flags(
    truths: Sequence[GroundTruth],
    predictions: Sequence[Detections],
    class_freshness: np.ndarray,
    *,
    flag_below: float = DEFAULT_FLAG_BELOW,
    conf: float,
    iou_threshold: float = 0.5,
) -> FlagCounts:
    """Item-level flag counts (see the module doc); ``class_freshness[c]`` is the labelled freshness of class ``c``."""
    if len(truths) != len(predictions):
        raise InputError(f"{len(truths)} ground-truth images but {len(predictions)} prediction sets")
    if not 0.0 <= flag_below <= 1.0:
        raise InputError(f"flag threshold must be in [0, 1], got {flag_below}")
    class_freshness = np.asarray(class_freshness, np.float32)
    tp = fp = fn = 0
    for gt, det in zip(truths, predictions):
        det = det[det.confidence >= conf]
        gt_flag = class_freshness[gt.class_id] < flag_below
        # A system that decided its flags (a grader's, `training.graded.regrade`) is scored on its decisions.
        decided = det.data.get("flagged")
        pred_flag = np.asarray(decided, bool) if decided is not None else det.freshness < flag_below
        match = greedy_match(det.xyxy, det.confidence, gt.xyxy, iou_threshold)
        hit = match >= 0
        # A flagged prediction is right only when the item it landed on should be flagged.
        right = pred_flag & hit & gt_flag[np.where(hit, match, 0)] if len(gt_flag) else np.zeros(len(det), bool)
        tp += int(right.sum())
        fp += int((pred_flag & ~right).sum())
        caught = np.zeros(len(gt_flag), bool)
        caught[match[right]] = True
        fn += int((gt_flag & ~caught).sum())
    return FlagCounts(tp=tp, fp=fp, fn=fn, flag_below=float(flag_below))
