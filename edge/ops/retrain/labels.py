"""The corrected labels of one reviewed frame (pure functions).

Rules, per box of the frame:
- A detection whose track is an item with a *decided* flag (confirmed or rejected) gets that item's labels as the
  reviewer left them: produce = the relabel, else the item's produce; condition = the relabel, else for a confirmed
  flag the item's condition, and for a "not waste" (rejected) flag the taxonomy's freshest condition ("fresh"): the
  reviewer said the item is sellable, and the model's waste condition is what was wrong. (A reviewer who knows it
  is e.g. bruised relabels the condition before pressing "not waste".)
- In the item's best frame (the one the reviewer saw) a fixed box replaces the detected one; in other frames the
  detected box stays (the fix was drawn on the best frame only).
- A decided item whose best frame this is but which has no detection here (its track id was not kept) is added with
  its box.
- Every other detection (unflagged items, flags still pending, untracked boxes) keeps the model's class and box:
  the frame is labelled whole, not just the reviewed item, so the other items are not taught as background.
Boxes are clipped to the image; a box with nothing left inside is dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from edge.store.review_samples import ReviewedItem, ReviewSample
from edge.store.reviews import Box, FrameDetection
from vision.errors import TaxonomyError
from vision.taxonomy import Taxonomy

_MATCH_IOU = 0.5  # an untracked detection is the decided item's if it overlaps its best box this much


@dataclass(frozen=True)
class Label:
    """One box of a training sample: class id and corners in image pixels."""

    class_id: int
    box: Box


class UnlabelableFrame(ValueError):
    """A class of the frame is not in the taxonomy (another model's or a typo in a relabel); the frame is skipped."""


def freshest_condition(taxonomy: Taxonomy) -> str:
    """The condition that "not waste" means when the reviewer gave none: the one with the highest freshness."""
    return max(taxonomy.conditions, key=lambda c: c.freshness).name


def item_class(item: ReviewedItem, taxonomy: Taxonomy) -> tuple[str, str]:
    """(produce, condition) of a decided item after review."""
    produce = item.produce or item.detected_produce
    if item.condition:
        condition = item.condition
    elif item.status == "rejected":
        condition = freshest_condition(taxonomy)
    else:
        condition = item.detected_condition
    return produce, condition


def frame_labels(sample: ReviewSample, taxonomy: Taxonomy, width: int, height: int) -> list[Label]:
    """The corrected labels of a sample frame whose decoded image is ``width`` x ``height`` pixels.

    UnlabelableFrame when a class is not in ``taxonomy``.
    """
    seq = sample.frame.seq
    decided = {it.track_id: it for it in sample.items if it.decided}
    best_here = [it for it in sample.items if it.decided and it.best_seq == seq]
    claimed: set[int] = set()
    labels: list[Label] = []
    for det in sample.frame.detections:
        item = decided.get(det.track_id) if det.track_id is not None else None
        if item is None and det.track_id is None:
            item = _overlapping(det, best_here, claimed)
        if item is None or item.item_id in claimed:
            _append(labels, _class_id(taxonomy, det.produce, det.condition), det.box, width, height)
            continue
        claimed.add(item.item_id)
        box = item.box if item.best_seq == seq and item.box is not None else det.box
        _append(labels, _class_id(taxonomy, *item_class(item, taxonomy)), box, width, height)
    for item in best_here:
        if item.item_id in claimed:
            continue
        box = item.box or item.detected_box
        if box is not None:
            _append(labels, _class_id(taxonomy, *item_class(item, taxonomy)), box, width, height)
    return labels


def _overlapping(det: FrameDetection, candidates: Sequence[ReviewedItem], claimed: set[int]) -> ReviewedItem | None:
    best, best_iou = None, _MATCH_IOU
    for item in candidates:
        if item.item_id in claimed or item.detected_box is None:
            continue
        iou = _iou(det.box, item.detected_box)
        if iou >= best_iou:
            best, best_iou = item, iou
    return best


def _iou(a: Box, b: Box) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _class_id(taxonomy: Taxonomy, produce: str, condition: str) -> int:
    try:
        return taxonomy.class_id(produce, condition)
    except TaxonomyError as exc:
        raise UnlabelableFrame(f"class {produce}_{condition} is not in the taxonomy") from exc


def _append(labels: list[Label], class_id: int, box: Box, width: int, height: int) -> None:
    x0, x1 = (min(max(float(v), 0.0), float(width)) for v in (box[0], box[2]))
    y0, y1 = (min(max(float(v), 0.0), float(height)) for v in (box[1], box[3]))
    if x1 - x0 > 0 and y1 - y0 > 0:
        labels.append(Label(class_id, (x0, y0, x1, y1)))


def label_text(labels: Sequence[Label], width: int, height: int) -> str:
    """The ultralytics label file: ``cls cx cy w h`` normalised, 6 decimals, one box per line (empty: negative)."""
    lines = []
    for lab in labels:
        x0, y0, x1, y1 = lab.box
        cx, cy = (x0 + x1) / 2 / width, (y0 + y1) / 2 / height
        lines.append(f"{lab.class_id} {cx:.6f} {cy:.6f} {(x1 - x0) / width:.6f} {(y1 - y0) / height:.6f}\n")
    return "".join(lines)
