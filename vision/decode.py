"""The one place that knows the raw YOLO ONNX output layout and turns it into `Detections`.

Layout (ultralytics YOLO11 detect export, no NMS in the graph): ``(B, 4 + nc, A)``: per anchor, box centre x, y,
width, height in network-input pixels, then ``nc`` independent sigmoid class scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
from pydantic import Field

from vision.detections import Detections
from vision.errors import InputError, ModelLoadError
from vision.letterbox import Letterbox
from vision.nms import nms_per_image
from vision.options import Count, Options, Share
from vision.taxonomy import Taxonomy

NmsBy = Literal["produce", "class", "item"]

# ultralytics' max_nms: at most this many candidates (best first) enter NMS.
MAX_NMS_CANDIDATES = 30000


class DecodeOptions(Options):
    """How `decode` turns raw output into `Detections`: thresholds, a cap, and what NMS groups by."""

    conf_threshold: Share = Field(
        default=0.25,
        description="Keep anchors whose confidence (the item score; the best class score under nms_by='class') is "
        "above this.",
    )
    iou_threshold: Share = Field(default=0.6, description="NMS drops a box overlapping a better one by more.")
    max_det: Count = Field(default=300, description="At most this many boxes per image, best first.")
    nms_by: NmsBy = Field(
        default="produce",
        description="'produce': one box per item whatever its condition; 'item': class-agnostic; 'class': "
        "ultralytics' class-aware NMS (parity checks).",
    )


DEFAULT_DECODING = DecodeOptions()


def decode(
    raw: np.ndarray,
    letterboxes: Sequence[Letterbox],
    taxonomy: Taxonomy,
    options: DecodeOptions = DEFAULT_DECODING,
) -> list[Detections]:
    """Turn raw output ``(B, 4 + nc, A)`` into one `Detections` per image, in original-image pixels.

    Per image (``options``: `DecodeOptions`): per anchor its arg-max class and a confidence (the item score,
    `item_scores`, except under ``nms_by="class"``: the best class score, as ultralytics), keep confidences
    ``> conf_threshold``, centre/size to corners, greedy NMS, at most ``max_det`` boxes (best first), boxes mapped
    back through that image's `Letterbox`. ``nms_by="produce"`` suppresses overlapping boxes of the same produce
    kind whatever their condition (one physical item, one box; its condition comes from the scores);
    ``nms_by="item"`` suppresses overlapping boxes whatever their produce (class-agnostic: two kinds on one item
    cannot both survive, but two touching items of different kinds can lose one); ``nms_by="class"`` is
    ultralytics' class-aware NMS, for parity checks.
    ``data["class_scores"]`` holds each kept box's (nc,) float32 scores (always present, (0, nc) when empty);
    freshness is computed from them.
    """
    conf_threshold, nms_by = options.conf_threshold, options.nms_by
    raw = np.asarray(raw)
    nc = taxonomy.num_classes
    if raw.ndim != 3:
        raise ModelLoadError(f"model output must be (batch, 4 + classes, anchors), got shape {raw.shape}")
    if raw.shape[1] != 4 + nc:
        raise ModelLoadError(
            f"model output has {raw.shape[1]} channels per anchor, the taxonomy needs 4 + {nc} = {4 + nc} "
            f"(model trained for {raw.shape[1] - 4} classes, taxonomy has {nc})"
        )
    if len(letterboxes) != raw.shape[0]:
        raise InputError(f"decode: {raw.shape[0]} outputs but {len(letterboxes)} letterboxes")
    # fp16 models: all arithmetic (and NMS rounding) in float32, like ultralytics after .float().
    raw = raw.astype(np.float32, copy=False)
    n_conditions = len(taxonomy.conditions)
    # The whole batch's candidates at once, image by image in anchor order; `nms_per_image` then keeps what `nms`
    # keeps image by image.
    scores_all = raw[:, 4:]  # (B, nc, A)
    # A box of one physical item ("produce"/"item" NMS) is kept for how likely an item is there at all; ultralytics'
    # class-aware NMS ("class", parity checks) keeps its best class score.
    best = scores_all.max(axis=1) if nms_by == "class" else item_scores(scores_all)
    image, anchor = np.nonzero(best > conf_threshold)
    counts = np.bincount(image, minlength=raw.shape[0])
    if counts.size and counts.max() > MAX_NMS_CANDIDATES:
        image, anchor, counts = _capped(image, anchor, counts, best)
    scores = scores_all[image, :, anchor]  # (K, nc)
    class_id = scores.argmax(axis=1)
    confidence = best[image, anchor]
    cxcywh = raw[image, :4, anchor]
    # Same float32 ops as ultralytics' xywh2xyxy: half size, then centre -/+ half.
    half = cxcywh[:, 2:] / 2
    xyxy = np.concatenate([cxcywh[:, :2] - half, cxcywh[:, :2] + half], axis=1)
    groups = class_id if nms_by == "class" else np.zeros_like(class_id) if nms_by == "item" else class_id // n_conditions
    bounds = np.concatenate([[0], np.cumsum(counts)])
    keep = nms_per_image(xyxy, confidence, groups, bounds, options.iou_threshold, options.max_det)
    kept_bounds = np.searchsorted(image[keep], np.arange(raw.shape[0] + 1))
    return [
        _detections(xyxy, confidence, class_id, scores, keep[start:stop], box, taxonomy)
        for box, start, stop in zip(letterboxes, kept_bounds[:-1].tolist(), kept_bounds[1:].tolist())
    ]


def item_scores(scores: np.ndarray) -> np.ndarray:
    """Per anchor, the probability that it holds an item of some class: ``1 - prod(1 - s_c)`` over axis 1 of the
    ``(B, nc, A)`` class scores.

    The class scores are independent sigmoids. On real photos the detector often spreads one fruit's score over
    several produce kinds (0.14 apple, 0.10 orange, ...), so the best class alone sits under the threshold while
    the item is plainly there (shipped v0004 on the real single-fruit photos: a box on 22 % by the best class, 99 %
    by this). Never below the best class score, and equal to it when the other classes are near zero, as on
    confident renders. Which produce and condition the item has is decided afterwards (arg-max class, the produce
    vote over the track, the grader)."""
    return 1.0 - np.prod(1.0 - np.clip(scores, 0.0, 1.0), axis=1)


def _detections(
    xyxy: np.ndarray, confidence: np.ndarray, class_id: np.ndarray, scores: np.ndarray, keep: np.ndarray,
    box: Letterbox, taxonomy: Taxonomy,
) -> Detections:
    """One image's `Detections` from the kept rows of the candidates (boxes in network-input pixels)."""
    kept_class = class_id[keep].astype(np.int64)
    kept_scores = np.ascontiguousarray(scores[keep], dtype=np.float32)
    return Detections(
        xyxy=box.to_original(xyxy[keep]),
        confidence=confidence[keep].astype(np.float32),
        class_id=kept_class,
        freshness=taxonomy.freshness(kept_scores, kept_class),
        data={"class_scores": kept_scores},
    )


def _capped(
    image: np.ndarray, anchor: np.ndarray, counts: np.ndarray, best: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ultralytics' max_nms cut: an image with more than `MAX_NMS_CANDIDATES` candidates keeps its best ones, best
    first (ties in anchor order); the others keep theirs in anchor order. (image, anchor, counts) as given."""
    bounds = np.concatenate([[0], np.cumsum(counts)])
    kept = []
    for i, (start, stop) in enumerate(zip(bounds[:-1].tolist(), bounds[1:].tolist())):
        mine = anchor[start:stop]
        if len(mine) > MAX_NMS_CANDIDATES:
            mine = mine[np.argsort(-best[i, mine], kind="stable")[:MAX_NMS_CANDIDATES]]
        kept.append(mine)
    counts = np.array([len(k) for k in kept], dtype=np.int64)
    return np.repeat(np.arange(len(kept)), counts), np.concatenate(kept), counts
