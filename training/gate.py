"""The promotion gate: a candidate may replace production only if it is not worse beyond stated tolerances.

A pure function over the evaluations of both models on the same evaluation sets (the frozen hold-out, the
held-back slice of reviewed frames): for each set and each gated metric (COCO mAP50, item-level flag precision
and flag recall, see `training.item_flags`), the check passes when ``candidate >= production - tolerance``.
A negative tolerance demands an improvement of at least that much.

A metric that cannot be measured on a set (e.g. flag precision when a model flags nothing) is ``None``: the check
passes when production has no value either, and also when only production lacks one; it fails when only the
candidate lacks one (it lost something production had).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from vision.errors import InputError

# Float rounding must not fail a candidate that is exactly at the tolerance.
_EPS = 1e-9
GATED_METRICS = ("map50", "flag_precision", "flag_recall")


@dataclass(frozen=True)
class GateTolerances:
    """How much worse than production each metric may be (absolute, in metric units 0..1)."""

    map50: float = 0.02
    flag_precision: float = 0.03
    flag_recall: float = 0.03

    def __post_init__(self) -> None:
        for name in GATED_METRICS:
            value = getattr(self, name)
            if not -1.0 <= value <= 1.0:
                raise InputError(f"gate tolerance for {name} must be in [-1, 1], got {value}")


@dataclass(frozen=True)
class EvalSummary:
    """The gated metrics of one model on one evaluation set (None: not measurable there)."""

    map50: float | None
    flag_precision: float | None
    flag_recall: float | None
    images: int

    @classmethod
    def of(cls, report: Mapping[str, Any]) -> EvalSummary:
        """From an evaluation report's JSON form (`training.evaluate.EvalReport.to_dict`)."""
        flags = report.get("flags") or {}
        return cls(
            map50=report.get("map50"),
            flag_precision=flags.get("precision"),
            flag_recall=flags.get("recall"),
            images=int(report.get("counts", {}).get("images", 0)),
        )


@dataclass(frozen=True)
class GateCheck:
    """One comparison: a metric on an evaluation set."""

    eval_set: str
    metric: str
    candidate: float | None
    production: float | None
    tolerance: float
    passed: bool

    def describe(self) -> str:
        """E.g. ``holdout map50 0.412 < 0.455 - 0.020``."""
        cand, prod = _fmt(self.candidate), _fmt(self.production)
        op = ">=" if self.passed else "<"
        return f"{self.eval_set} {self.metric} {cand} {op} {prod} - {self.tolerance:.3f}"


@dataclass(frozen=True)
class GateReport:
    """Every check, whether all passed, and a one-line reason."""

    passed: bool
    reason: str
    checks: tuple[GateCheck, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "reason": self.reason, "checks": [asdict(c) for c in self.checks]}


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def check_metric(
    eval_set: str, metric: str, candidate: float | None, production: float | None, tolerance: float
) -> GateCheck:
    """One check: ``candidate >= production - tolerance``, with the None rules of the module doc."""
    if production is None:
        passed = True
    elif candidate is None:
        passed = False
    else:
        passed = candidate >= production - tolerance - _EPS
    return GateCheck(eval_set, metric, candidate, production, tolerance, passed)


def promotion_gate(
    candidate: Mapping[str, EvalSummary],
    production: Mapping[str, EvalSummary],
    tolerances: GateTolerances = GateTolerances(),
) -> GateReport:
    """Compare the candidate's evaluations with production's, set by set (both must cover the same sets)."""
    if set(candidate) != set(production):
        raise InputError(
            f"the gate compares like with like: candidate was evaluated on {sorted(candidate)}, "
            f"production on {sorted(production)}"
        )
    if not candidate:
        raise InputError("the gate needs at least one evaluation set")
    checks = tuple(
        check_metric(
            name, metric, getattr(candidate[name], metric), getattr(production[name], metric), getattr(tolerances, metric)
        )
        for name in candidate
        for metric in GATED_METRICS
    )
    failed = [c for c in checks if not c.passed]
    if failed:
        reason = "failed: " + "; ".join(c.describe() for c in failed)
    else:
        reason = f"passed: no gated metric worse than production beyond its tolerance ({len(checks)} checks)"
    return GateReport(passed=not failed, reason=reason, checks=checks)
