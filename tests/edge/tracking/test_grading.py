"""The grader's say in an item's verdict: produce from the detector's vote share plus the grader's marginal
(`vision.grader.choose_produce`, tested with the grader), freshness as the median of its crops, condition from
their mean, and the detector's verdict where it has no say."""

from __future__ import annotations

import numpy as np
import pytest

from edge.tracking.aggregate import Evidence, FlagPolicy
from edge.tracking.grading import grade_item, graded_verdict
from tests.training.testing_models import COLOUR_GRADER_CLASSES as CLASSES
from vision.taxonomy import Taxonomy

# Rows over (apple_fresh, apple_rotten, banana_fresh, banana_rotten).
APPLE_FRESH, APPLE_ROTTEN = (1.0, 0.0, 0.0, 0.0), (0.0, 1.0, 0.0, 0.0)
BANANA_FRESH = (0.0, 0.0, 1.0, 0.0)


def evidence(taxonomy: Taxonomy, frames: list[tuple[str, str]]) -> Evidence:
    """What a detector saw of one item: one confident, complete box per (produce, condition)."""
    ev = Evidence(taxonomy)
    for produce, condition in frames:
        cid = taxonomy.class_id(produce, condition)
        scores = np.full(taxonomy.num_classes, 0.01, np.float32)
        scores[cid] = 0.9
        ev.add(cid, 0.9, float(taxonomy.freshness(scores[None], np.array([cid]))[0]), True, scores)
    return ev


def test_grade_item_takes_the_median_freshness_and_the_condition_of_the_mean(taxonomy: Taxonomy) -> None:
    probs = np.array([APPLE_FRESH, APPLE_ROTTEN, (0.0, 0.6, 0.4, 0.0)])
    grade = grade_item(probs, CLASSES, taxonomy, "apple")
    assert grade is not None and grade.views == 3
    assert grade.freshness == 0.0  # views read 1, 0, 0: one fresh view does not outvote two rotten ones
    assert grade.condition == "rotten"  # mean apple mass: fresh 1/3, rotten 1.6/3
    assert grade_item(probs, CLASSES, taxonomy, "tomato") is None
    assert grade_item(np.zeros((0, 4)), CLASSES, taxonomy, "apple") is None
    # A crop that gave apple no probability at all reads nothing about it: the median is over the other two.
    mixed = grade_item(np.array([APPLE_ROTTEN, BANANA_FRESH, APPLE_FRESH]), CLASSES, taxonomy, "apple")
    assert mixed is not None and (mixed.views, mixed.freshness) == (2, 0.5)


@pytest.mark.parametrize(
    ("seen", "probs", "weight", "override", "produce", "condition", "flagged", "graded"),
    [
        # The detector saw a fresh apple; the grader sees rot at a higher resolution: flagged.
        ([("apple", "fresh")] * 5, [APPLE_ROTTEN] * 3, 1.0, None, "apple", "rotten", True, 3),
        # The detector saw a rotten apple, the grader a fresh one: the grader's freshness wins, not flagged.
        ([("apple", "rotten")] * 5, [APPLE_FRESH] * 2, 1.0, None, "apple", "fresh", False, 2),
        # Not graded (no crops): the detector's verdict.
        ([("apple", "rotten")] * 5, None, 1.0, None, "apple", "rotten", True, 0),
        # The detector leans apple (3 of 5), the grader says banana: with weight 1 banana, with weight 0.1 apple;
        # then the grader, which gave apple no probability at all, has no say on its freshness.
        ([("apple", "fresh")] * 3 + [("banana", "fresh")] * 2, [BANANA_FRESH] * 3, 1.0, None, "banana", "fresh",
         False, 3),
        ([("apple", "fresh")] * 3 + [("banana", "fresh")] * 2, [BANANA_FRESH] * 3, 0.1, None, "apple", "fresh",
         False, 0),
        ([("apple", "fresh")] * 3 + [("banana", "fresh")] * 2, [(0.02, 0.08, 0.9, 0.0)] * 3, 0.1, None, "apple",
         "rotten", True, 3),
        # A tomato: the grader has no tomato class and (weight 0.5) cannot outvote the detector on the produce, so
        # the detector's freshness stands and the item is not counted as graded.
        ([("tomato", "rotten")] * 4, [APPLE_FRESH] * 3, 0.5, None, "tomato", "rotten", True, 0),
        # The SKU tag says banana: the grader's banana classes decide its freshness, whatever it thinks the kind is.
        ([("apple", "fresh")] * 4, [(0.7, 0.0, 0.05, 0.25)] * 3, 1.0, "banana", "banana", "rotten", True, 3),
        # The SKU tag says orange: no orange class, the detector's condition within orange (none seen: the first).
        ([("apple", "fresh")] * 4, [APPLE_ROTTEN] * 3, 1.0, "orange", "orange", "fresh", False, 0),
    ],
)
def test_graded_verdict(
    taxonomy: Taxonomy, seen: list, probs: list | None, weight: float, override: str | None, produce: str,
    condition: str, flagged: bool, graded: int,
) -> None:
    ev = evidence(taxonomy, seen)
    verdict = graded_verdict(ev, FlagPolicy(), None if probs is None else np.array(probs), CLASSES, weight,
                             produce_override=override)
    assert (verdict.produce, verdict.condition, verdict.flagged, verdict.graded_views) == (
        produce, condition, flagged, graded)
    assert verdict.votes == ev.verdict(FlagPolicy()).votes  # the detector's frame votes are reported as they were
    if graded == 0:
        detector = ev.verdict(FlagPolicy(), produce_override=produce)
        assert verdict.freshness == detector.freshness


def test_graded_freshness_is_the_flag_policys_input(taxonomy: Taxonomy) -> None:
    ev = evidence(taxonomy, [("apple", "fresh")] * 3)
    rotten = np.array([(0.4, 0.6, 0.0, 0.0)] * 3)  # apple freshness 0.4, most likely rotten
    assert graded_verdict(ev, FlagPolicy(default=0.8), rotten, CLASSES, 1.0).flagged
    assert not graded_verdict(ev, FlagPolicy(default=0.35), rotten, CLASSES, 1.0).flagged
    assert not graded_verdict(ev, FlagPolicy(per_produce={"apple": 0.3}), rotten, CLASSES, 1.0).flagged
    # Freshness 0.7 is under 0.8, but the grader's own call is fresh: not flagged (vision.grader.grade_flags).
    blemish = np.array([(0.7, 0.3, 0.0, 0.0)] * 3)
    verdict = graded_verdict(ev, FlagPolicy(default=0.8), blemish, CLASSES, 1.0)
    assert verdict.freshness == 0.7 and verdict.condition == "fresh" and not verdict.flagged
