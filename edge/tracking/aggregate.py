"""What an item *is* from many noisy frames: produce by vote, condition by vote, freshness by a robust aggregate,
and the flag decision. Pure functions plus `Evidence`, the bounded running record one item keeps.

Each frame's vote is weighted by the detector's confidence times the box's completeness: a box cut by the frame
edge shows part of the item and gets `PARTIAL_WEIGHT`. A class that flickers for a frame or two (fresh → bruised
→ fresh) loses the vote and barely moves a weighted median, which is why the median, not the mean, is the
aggregate: one confident wrong frame shifts a mean by a share of its weight, a median not at all while the
majority agrees.

The produce vote is soft: a frame spreads its weight over the classes in proportion to its class scores, so a
frame that scores rotten tomato 0.6 and rotten apple 0.5 votes about evenly instead of all for tomato, and the
vote of the spoiled classes of a look-alike kind can be discounted by the model's own calibration (its card's
``spoiled_vote``, `vision.model_card`): v0003 scores spoiled apples as spoiled tomatoes, often more confidently than as
apples, so its card discounts tomato's spoiled classes; a model without a calibration votes undiscounted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from vision.errors import InputError
from vision.taxonomy import DEFAULT_FLAG_BELOW, Taxonomy

PARTIAL_WEIGHT = 0.3  # a box touching the frame edge shows a part of the item: its class is less reliable
MAX_SAMPLES = 64  # freshness samples kept per item; a stopped belt must not grow an item without bound
NO_DISCOUNT: Mapping[str, float] = MappingProxyType({})  # no produce-vote calibration: every class votes in full


def weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    """The weighted median; when the cumulative weight lands exactly on half, the mean of the two neighbours.

    Raises InputError for empty input, mismatched lengths or no positive weight.
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    w = np.asarray(weights, dtype=np.float64).ravel()
    if len(v) == 0 or len(v) != len(w):
        raise InputError(f"weighted_median needs equal, non-empty values and weights, got {len(v)} and {len(w)}")
    if not np.all(np.isfinite(v)) or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise InputError("weighted_median needs finite values and finite, non-negative weights with a positive sum")
    order = np.argsort(v, kind="stable")
    v, w = v[order], w[order]
    cum = np.cumsum(w)
    half = cum[-1] / 2.0
    i = int(np.searchsorted(cum, half - 1e-12 * cum[-1]))
    if abs(cum[i] - half) <= 1e-9 * cum[-1] and i + 1 < len(v):
        return float((v[i] + v[i + 1]) / 2.0)
    return float(v[i])


@dataclass(frozen=True)
class FlagPolicy:
    """Freshness below the threshold of the item's produce kind flags it; ``per_produce`` overrides ``default``."""

    default: float = DEFAULT_FLAG_BELOW
    per_produce: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        named = {"default": self.default, **{f"per_produce[{k!r}]": v for k, v in self.per_produce.items()}}
        for name, value in named.items():
            if not 0.0 <= float(value) <= 1.0:
                raise InputError(f"flag threshold {name} must be within [0, 1], got {value}")

    def check(self, taxonomy: Taxonomy) -> None:
        """Raise InputError when a per-produce threshold names a produce kind the taxonomy does not have."""
        unknown = sorted(set(self.per_produce) - set(taxonomy.produce))
        if unknown:
            raise InputError(f"flag thresholds name unknown produce kinds {unknown}; known: {list(taxonomy.produce)}")

    def threshold(self, produce: str) -> float:
        """The threshold for one produce kind."""
        return float(self.per_produce.get(produce, self.default))

    def flagged(self, produce: str, freshness: float) -> bool:
        """Whether an item of ``produce`` with aggregate ``freshness`` is flagged as spoiled."""
        return freshness < self.threshold(produce)


@dataclass(frozen=True)
class Verdict:
    """An item's aggregate: produce kind, condition, freshness, flag, and the per-produce frame votes;
    ``graded_views``: crops the grader's freshness came from (0: the detector's, `edge.tracking.grading`)."""

    produce: str
    condition: str
    freshness: float
    flagged: bool
    votes: dict[str, int]
    graded_views: int = 0


class Evidence:
    """The running, bounded record of one item's observations (mutable; one per live item).

    Class weight (the produce vote, per class) and condition weight are sums (constant size); freshness keeps up to
    `MAX_SAMPLES` samples, dropping the least-weighted when full.
    """

    def __init__(self, taxonomy: Taxonomy) -> None:
        self.taxonomy = taxonomy
        n_p, n_c = len(taxonomy.produce), len(taxonomy.conditions)
        self.class_weight = np.zeros((n_p, n_c), dtype=np.float64)
        self.produce_frames = np.zeros(n_p, dtype=np.int64)
        self.condition_weight = np.zeros((n_p, n_c), dtype=np.float64)
        self.fresh_values: list[float] = []
        self.fresh_weights: list[float] = []

    def add(
        self,
        class_id: int,
        confidence: float,
        freshness: float,
        complete: bool,
        class_scores: np.ndarray | None = None,
        as_produce: str | None = None,
    ) -> None:
        """Record one frame's detection of the item.

        ``class_scores`` (nc,) when the detector gave them: the produce vote then spreads the frame's weight over
        the classes in proportion to their scores, and the condition vote over every produce kind's condition
        scores, instead of giving it all to the arg-max class. ``as_produce``: the produce kind the frame's
        SKU tag says the item is. The detector's produce is then not trusted, its condition is: the condition
        scores are summed over its produce hypotheses, vote in ``as_produce``'s row, and give the frame's
        freshness (instead of ``freshness``, which was scored under the detector's produce).
        """
        n_c = len(self.taxonomy.conditions)
        p, c = divmod(int(class_id), n_c)
        if not 0 <= p < len(self.taxonomy.produce):
            raise InputError(f"class id {class_id} outside the taxonomy's {self.taxonomy.num_classes} classes")
        if as_produce is not None and as_produce not in self.taxonomy.produce:
            raise InputError(f"produce {as_produce!r} is not in the taxonomy {list(self.taxonomy.produce)}")
        w = max(float(confidence), 1e-3) * (1.0 if complete else PARTIAL_WEIGHT)
        self.produce_frames[p] += 1
        has_scores = class_scores is not None and len(class_scores) == self.taxonomy.num_classes
        if has_scores:
            rows = np.asarray(class_scores, dtype=np.float64).reshape(len(self.taxonomy.produce), n_c)
        if has_scores and np.all(np.isfinite(rows)) and np.all(rows >= 0) and rows.sum() > 0:
            # Sigmoid scores do not sum to 1: their shares do. A frame torn between two kinds votes for both.
            self.class_weight += w * rows / rows.sum()
        else:
            self.class_weight[p, c] += w
        if as_produce is None and has_scores:
            total = rows.sum(axis=1, keepdims=True)
            self.condition_weight += w * np.divide(rows, total, out=np.zeros_like(rows), where=total > 0)
        elif as_produce is not None and has_scores:
            marginal = rows.sum(axis=0)
            if marginal.sum() > 0:
                dist = marginal / marginal.sum()
                self.condition_weight[self.taxonomy.produce.index(as_produce)] += w * dist
                values = np.array([cond.freshness for cond in self.taxonomy.conditions])
                freshness = float(dist @ values)
        else:
            row = p if as_produce is None else self.taxonomy.produce.index(as_produce)
            self.condition_weight[row, c] += w
        self.fresh_values.append(float(np.clip(freshness, 0.0, 1.0)))
        self.fresh_weights.append(w)
        if len(self.fresh_values) > MAX_SAMPLES:
            drop = int(np.argmin(self.fresh_weights))  # the first of equal minima: the oldest
            del self.fresh_values[drop], self.fresh_weights[drop]

    def absorb(self, other: Evidence) -> None:
        """Add another record of the same item (a track the tracker lost and restarted) to this one."""
        self.class_weight += other.class_weight
        self.produce_frames += other.produce_frames
        self.condition_weight += other.condition_weight
        self.fresh_values += other.fresh_values
        self.fresh_weights += other.fresh_weights
        while len(self.fresh_values) > MAX_SAMPLES:
            drop = int(np.argmin(self.fresh_weights))
            del self.fresh_values[drop], self.fresh_weights[drop]

    @property
    def frames(self) -> int:
        """Frames observed."""
        return int(self.produce_frames.sum())

    def verdict(
        self, policy: FlagPolicy, produce_override: str | None = None,
        spoiled_vote: Mapping[str, float] = NO_DISCOUNT,
    ) -> Verdict:
        """The aggregate so far. ``produce_override`` (a produce kind, from the warehouse's SKU tag) replaces the
        vote; ``spoiled_vote`` calibrates it (`produce_vote`). Raises InputError when nothing was observed or the
        override is not a produce kind."""
        if not self.fresh_values:
            raise InputError("an item with no observations has no verdict")
        names = self.taxonomy.produce
        if produce_override is not None:
            if produce_override not in names:
                raise InputError(f"produce {produce_override!r} is not in the taxonomy {list(names)}")
            p = names.index(produce_override)
        else:
            p = int(np.argmax(self.produce_vote(spoiled_vote)))  # ties: the first kind, deterministic
        c = int(np.argmax(self.condition_weight[p])) if self.condition_weight[p].sum() > 0 else 0
        freshness = weighted_median(np.array(self.fresh_values), np.array(self.fresh_weights))
        return Verdict(
            produce=names[p],
            condition=self.taxonomy.conditions[c].name,
            freshness=round(freshness, 4),
            flagged=policy.flagged(names[p], freshness),
            votes={names[i]: int(n) for i, n in enumerate(self.produce_frames) if n > 0},
        )

    def produce_vote(self, spoiled_vote: Mapping[str, float] = NO_DISCOUNT) -> np.ndarray:
        """Each produce kind's vote, (len(produce),): its class weights summed, the spoiled classes of each kind in
        ``spoiled_vote`` multiplied by its factor (kinds the taxonomy lacks are ignored)."""
        factor = np.ones_like(self.class_weight)
        spoiled = np.array([cond.freshness < 1.0 for cond in self.taxonomy.conditions])
        for name, f in spoiled_vote.items():
            if name in self.taxonomy.produce:
                factor[self.taxonomy.produce.index(name), spoiled] = f
        return (self.class_weight * factor).sum(axis=1)

    def to_state(self) -> dict[str, Any]:
        """JSON-serialisable snapshot."""
        return {
            "class_weight": self.class_weight.tolist(),
            "produce_frames": self.produce_frames.tolist(),
            "condition_weight": self.condition_weight.tolist(),
            "fresh_values": list(self.fresh_values),
            "fresh_weights": list(self.fresh_weights),
        }

    @classmethod
    def from_state(cls, taxonomy: Taxonomy, raw: Mapping[str, Any]) -> Evidence:
        """Inverse of `to_state`; raises InputError when the snapshot does not fit the taxonomy. A snapshot from before
        the soft vote (``produce_weight`` per kind, no ``class_weight``) keeps its votes, spread evenly over each
        kind's conditions (so the spoiled-vote factor applies to its spoiled share)."""
        ev = cls(taxonomy)
        try:
            if "class_weight" in raw:
                kw = np.asarray(raw["class_weight"], dtype=np.float64)
            else:
                pw = np.asarray(raw["produce_weight"], dtype=np.float64)
                kw = np.repeat(pw[:, None], len(taxonomy.conditions), axis=1) / len(taxonomy.conditions)
            pf = np.asarray(raw["produce_frames"], dtype=np.int64)
            cw = np.asarray(raw["condition_weight"], dtype=np.float64)
            fv = [float(x) for x in raw["fresh_values"]]
            fw = [float(x) for x in raw["fresh_weights"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"item evidence snapshot is malformed ({exc!r})") from exc
        shapes = (kw.shape, pf.shape, cw.shape)
        if shapes != (ev.class_weight.shape, ev.produce_frames.shape, ev.condition_weight.shape):
            raise InputError("item evidence snapshot does not match the taxonomy (different produce/condition counts)")
        if len(fv) != len(fw):
            raise InputError("item evidence snapshot: freshness values and weights differ in length")
        ev.class_weight, ev.produce_frames, ev.condition_weight = kw, pf, cw
        ev.fresh_values, ev.fresh_weights = fv, fw
        return ev
