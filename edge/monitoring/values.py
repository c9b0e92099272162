"""The values monitoring works on: what one committed frame showed, a camera's recent review decisions, an alert."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

# Rule names, as they appear in alerts, logs and the qc_alert_active{rule=...} gauge.
NO_DETECTIONS = "no_detections"
FLAG_RATE_DRIFT = "flag_rate_drift"
CLASS_MIX_DRIFT = "class_mix_drift"
REVIEW_PRECISION = "review_precision"
SHADOW_DISAGREEMENT = "shadow_disagreement"
EXPOSURE_DRIFT = "exposure_drift"
COLOUR_DRIFT = "colour_drift"
RULES: tuple[str, ...] = (
    NO_DETECTIONS, FLAG_RATE_DRIFT, CLASS_MIX_DRIFT, REVIEW_PRECISION, SHADOW_DISAGREEMENT, EXPOSURE_DRIFT,
    COLOUR_DRIFT,
)

BGR = tuple[float, float, float]


@dataclass(frozen=True)
class FrameObservation:
    """One committed frame as monitoring sees it.

    ``at``: unix seconds when the service committed it (the service's clock, not the camera's). ``n_counted``:
    items counted in this frame, ``n_flagged`` of them flagged. ``class_counts``: detections per class name.
    ``belt``: mean B, G, R (0..255) of the frame outside the detection boxes; None when the boxes cover it all.
    """

    camera_id: str
    model_version: str
    at: float
    n_detections: int
    n_flagged: int
    class_counts: dict[str, int] = field(default_factory=dict)
    belt: BGR | None = None
    n_counted: int = 0


@dataclass(frozen=True)
class ReviewWindow:
    """A camera's latest decided flags: how many were confirmed waste and how many were false flags, and the model
    versions that flagged them."""

    camera_id: str
    model_versions: tuple[str, ...]
    confirmed: int
    rejected: int

    @property
    def precision(self) -> float | None:
        """confirmed / (confirmed + rejected); None when nothing is decided."""
        decided = self.confirmed + self.rejected
        return self.confirmed / decided if decided else None


@dataclass(frozen=True)
class Alert:
    """A rule that fires: on which camera, for which model version, why (``message``) and the numbers (``values``).

    ``since``: unix seconds when the monitor first saw it firing (kept while it keeps firing).
    """

    rule: str
    camera_id: str
    model_version: str
    message: str
    values: dict[str, float]
    since: float

    @property
    def key(self) -> tuple[str, str]:
        """(rule, camera): an alert is the same alert while this stays the same."""
        return (self.rule, self.camera_id)

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of ``GET /alerts``; ``since`` as ISO 8601 UTC."""
        return {
            "rule": self.rule,
            "camera_id": self.camera_id,
            "model_version": self.model_version,
            "message": self.message,
            "values": {k: round(v, 6) for k, v in self.values.items()},
            "since": iso_utc(self.since),
        }


def iso_utc(at: float) -> str:
    """``2026-11-26T12:00:00Z`` (second precision) for unix seconds ``at``."""
    return datetime.fromtimestamp(at, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def diff_alerts(before: list[Alert], after: list[Alert]) -> tuple[list[Alert], list[Alert]]:
    """(raised, cleared): the alerts of ``after`` that were not active in ``before``, and those of ``before`` that
    are no longer active."""
    old = {a.key for a in before}
    new = {a.key for a in after}
    return [a for a in after if a.key not in old], [a for a in before if a.key not in new]
