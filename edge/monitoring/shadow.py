"""Shadow disagreement: how often the shadow model disagrees with production on the same frames, per camera."""

from __future__ import annotations

from collections import deque

from edge.config import MonitorSection
from edge.monitoring.values import SHADOW_DISAGREEMENT, Alert


class ShadowWindow:
    """A camera's latest agreements (0..1) between one production and one shadow version; a new pair starts
    afresh. At most ``shadow_window`` are kept."""

    def __init__(self, production_version: str, shadow_version: str, settings: MonitorSection) -> None:
        self.production_version = production_version
        self.shadow_version = shadow_version
        self.agreements: deque[tuple[float, float]] = deque(maxlen=settings.shadow_window)

    def observe(self, at: float, agreement: float) -> None:
        """Add one agreement (clipped to 0..1)."""
        self.agreements.append((at, min(1.0, max(0.0, agreement))))

    def recent(self, now: float, settings: MonitorSection) -> list[float]:
        """The agreements of the last ``recent_s`` seconds (a shadow that was removed stops counting)."""
        return [a for at, a in self.agreements if now - at <= settings.recent_s]


def shadow_disagreement(camera_id: str, window: ShadowWindow, settings: MonitorSection, now: float) -> Alert | None:
    """Fires when at least ``shadow_min_frames`` recent agreements are kept and 1 - their mean is above
    ``shadow_max_disagreement``. The alert names the shadow version (its message names production too)."""
    recent = window.recent(now, settings)
    if len(recent) < settings.shadow_min_frames:
        return None
    disagreement = 1.0 - sum(recent) / len(recent)
    if disagreement <= settings.shadow_max_disagreement:
        return None
    return Alert(
        rule=SHADOW_DISAGREEMENT,
        camera_id=camera_id,
        model_version=window.shadow_version,
        message=(
            f"camera {camera_id}: shadow model {window.shadow_version} disagrees with production "
            f"{window.production_version} on {disagreement:.0%} (1 - mean agreement over {len(recent)} frames; "
            f"threshold {settings.shadow_max_disagreement:.0%})"
        ),
        values={"disagreement": disagreement, "frames": float(len(recent)),
                "threshold": settings.shadow_max_disagreement},
        since=now,
    )
