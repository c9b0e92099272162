"""The grader's say in what an item is: produce, condition, freshness and flag from its few graded views.

When an item is handed on, the grader (`vision.grader.Grader`, served with the detector as one model version) runs
once on the item's kept crops (`edge.tracking.views`), in one batch. Then:

* produce: arg-max over produce kinds of the detector's vote share (`Evidence.produce_vote`, normalised to sum 1)
  plus ``produce_weight`` times the grader's mean produce marginal; a warehouse SKU tag still overrides both;
* freshness: the median over the crops of the grader's freshness within that produce (`vision.grader.grade_within`);
  a median, so one bad view (a hand over the item, motion blur) does not move it;
* condition: the arg-max within that produce of the grader's mean probabilities;
* flagged: the item's `FlagPolicy` threshold on that freshness, when the grader's condition is not fresh too
  (`vision.grader.grade_flags`).

A grader with no class of the chosen produce kind (trained without tomatoes, say) has no say on its freshness:
the detector's aggregate stands, and the item records no graded views.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from edge.tracking.aggregate import NO_DISCOUNT, Evidence, FlagPolicy, Verdict
from vision.grader import ConditionGrade, choose_produce, grade_flags, grade_within, produce_marginals
from vision.taxonomy import Taxonomy


class ItemGrader(Protocol):
    """What the counter needs of a grader (`vision.grader.Grader` is one)."""

    @property
    def classes(self) -> tuple[str, ...]: ...
    @property
    def input_size(self) -> int: ...
    @property
    def crop_pad(self) -> float: ...
    @property
    def produce_weight(self) -> float: ...
    def grade_crops(self, crops: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class ItemGrade:
    """The grader's reading of one item within one produce kind, over its graded crops."""

    condition: str
    freshness: float
    views: int


def grade_item(probs: np.ndarray, classes: Sequence[str], taxonomy: Taxonomy, produce: str) -> ItemGrade | None:
    """Median freshness over the crops (``probs``: (k, C)) within ``produce``, condition from their mean; None when
    there are no crops or the grader says nothing about ``produce`` (no class of it, or no probability on them).
    A crop that gave ``produce`` no probability at all has no freshness reading and is left out of the median."""
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or len(p) == 0:
        return None
    overall = grade_within(p.mean(axis=0), classes, taxonomy, produce)
    if overall is None:
        return None
    readings = [g.freshness for row in p if (g := grade_within(row, classes, taxonomy, produce)) is not None]
    return ItemGrade(condition=overall.condition, freshness=float(np.median(readings)), views=len(readings))


def graded_verdict(
    evidence: Evidence,
    policy: FlagPolicy,
    probs: np.ndarray | None,
    classes: Sequence[str],
    produce_weight: float,
    *,
    produce_override: str | None = None,
    spoiled_vote: Mapping[str, float] = NO_DISCOUNT,
) -> Verdict:
    """An item's verdict from the detector's ``evidence`` and the grader's ``probs`` ((k, C) over ``classes``; None
    or empty: not graded, the detector's verdict). ``produce_override``: the SKU tag's produce kind, which wins.
    The verdict's ``graded_views`` says how many crops the grader's freshness came from (0: the detector's)."""
    if probs is None or len(probs) == 0:
        return evidence.verdict(policy, produce_override=produce_override, spoiled_vote=spoiled_vote)
    taxonomy = evidence.taxonomy
    produce = produce_override
    if produce is None:
        marginal = produce_marginals(probs, classes, taxonomy).mean(axis=0)
        produce = taxonomy.produce[choose_produce(evidence.produce_vote(spoiled_vote), marginal, produce_weight)]
    base = evidence.verdict(policy, produce_override=produce, spoiled_vote=spoiled_vote)
    grade = grade_item(probs, classes, taxonomy, produce)
    if grade is None:
        return base
    flagged = grade_flags(ConditionGrade(grade.condition, grade.freshness), policy.threshold(produce),
                          taxonomy.condition_names[0])
    return replace(base, condition=grade.condition, freshness=round(grade.freshness, 4), flagged=flagged,
                   graded_views=grade.views)
