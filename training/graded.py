"""The edge's per-item decision applied to boxes offline: how `qc eval --grader` and `qc eval-photos` see a version
that carries a grader.

A box is decided as an item of one view: produce by the detector's soft vote (its class scores summed per produce
kind) plus the grader's produce marginal weighted by the card's ``produce_weight`` (`vision.grader.choose_produce`,
as `edge.tracking.grading` does); condition and freshness by the grader within that produce (`vision.grader.
grade_within`), the detector's where the grader has no class of that produce; flagged as the edge flags it (the
threshold on freshness, and with a grader its condition not fresh too: `vision.grader.grade_flags`). A box the
grader calls no produce (`vision.grader.vetoes`) is marked ``vetoed``: the edge never counts such an item, so
`decided` leaves it out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from vision.detections import Detections
from vision.grader import (
    ConditionGrade, Grader, choose_produce, grade_flags, grade_within, produce_marginals, vetoes,
)
from vision.taxonomy import DEFAULT_FLAG_BELOW, Taxonomy


@dataclass(frozen=True)
class BoxDecision:
    """What the system decides for one detected box."""

    box: np.ndarray
    confidence: float
    produce: str
    detector_produce: str
    condition: str
    freshness: float
    flagged: bool
    vetoed: bool = False


def _detector_vote(dets: Detections, i: int, taxonomy: Taxonomy) -> np.ndarray:
    scores = dets.data.get("class_scores")
    n_c = len(taxonomy.conditions)
    if scores is not None and len(scores[i]) == taxonomy.num_classes:
        return np.asarray(scores[i], np.float64).reshape(len(taxonomy.produce), n_c).sum(axis=1)
    vote = np.zeros(len(taxonomy.produce))
    vote[int(dets.class_id[i]) // n_c] = 1.0
    return vote


def decide(
    image: np.ndarray, dets: Detections, taxonomy: Taxonomy, grader: Grader | None,
    threshold: float = DEFAULT_FLAG_BELOW,
) -> list[BoxDecision]:
    """The per-item decision applied to each box of one image (one view per item)."""
    if len(dets) == 0:
        return []
    n_c = len(taxonomy.conditions)
    probs = grader.grade(image, dets.xyxy) if grader is not None else None
    out = []
    for i in range(len(dets)):
        vote = _detector_vote(dets, i, taxonomy)
        det_produce = taxonomy.produce[int(np.argmax(vote))]
        produce, freshness = det_produce, float(dets.freshness[i])
        condition = taxonomy.condition_names[int(dets.class_id[i]) % n_c]
        flagged = freshness < threshold
        if probs is not None and grader is not None:
            marginal = produce_marginals(probs[i], grader.classes, taxonomy)[0]
            produce = taxonomy.produce[choose_produce(vote, marginal, grader.produce_weight)]
            grade = grade_within(probs[i], grader.classes, taxonomy, produce)
            if grade is not None:
                condition, freshness = grade.condition, grade.freshness
                flagged = grade_flags(ConditionGrade(condition, freshness), threshold, taxonomy.condition_names[0])
        vetoed = probs is not None and grader is not None and vetoes(probs[i], grader.classes)
        out.append(BoxDecision(dets.xyxy[i], float(dets.confidence[i]), produce, det_produce, condition, freshness,
                               flagged and not vetoed, vetoed))
    return out


def decided(
    image: np.ndarray, dets: Detections, taxonomy: Taxonomy, grader: Grader | None,
    threshold: float = DEFAULT_FLAG_BELOW,
) -> list[BoxDecision]:
    """`decide`, without the boxes the grader vetoed: what the edge would count."""
    return [d for d in decide(image, dets, taxonomy, grader, threshold) if not d.vetoed]


def regrade(
    predictions: Sequence[Detections], image_paths: Sequence[str], taxonomy: Taxonomy, grader: Grader, conf: float,
    threshold: float = DEFAULT_FLAG_BELOW,
) -> list[Detections]:
    """Each image's boxes at or above ``conf`` with the class and freshness the system decides (produce and
    condition as above) and its flag decision in ``data["flagged"]``; boxes below ``conf`` are dropped, since the
    edge never grades what it does not track, and so are boxes the grader vetoes, since the edge never counts them."""
    out = []
    for dets, path in zip(predictions, image_paths):
        kept = dets[dets.confidence >= conf]
        if len(kept) == 0:
            out.append(kept)
            continue
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        decisions = decide(image, kept, taxonomy, grader, threshold)
        class_id = np.array([taxonomy.class_id(d.produce, d.condition) for d in decisions], np.int64)
        freshness = np.array([d.freshness for d in decisions], np.float32)
        data = {**kept.data, "flagged": np.array([d.flagged for d in decisions], bool)}
        regraded = Detections(kept.xyxy, kept.confidence, class_id, freshness, kept.tracker_id, data)
        out.append(regraded[~np.array([d.vetoed for d in decisions], bool)])
    return out
