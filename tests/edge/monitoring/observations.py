"""Sequences of frame observations for the monitoring tests (imported by sibling modules)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from edge.config import MonitorSection
from edge.monitoring import FrameObservation

GREY = (90.0, 92.0, 95.0)


def settings(**changes: Any) -> MonitorSection:
    """Default thresholds with ``changes`` applied."""
    return MonitorSection(**changes)


def frames(
    camera_id: str, start: float, seconds: float, fps: float = 10.0, *, version: str = "v0001", detections: int = 2,
    counted: int = 0, flagged: int = 0, classes: dict[str, int] | None = None, belt: tuple[float, float, float] | None
    = GREY,
) -> Iterator[FrameObservation]:
    """One observation every 1/fps seconds over [start, start + seconds), all alike."""
    n = int(round(seconds * fps))
    for i in range(n):
        yield FrameObservation(
            camera_id=camera_id, model_version=version, at=start + i / fps, n_detections=detections,
            n_flagged=flagged, n_counted=counted,
            class_counts=dict(classes) if classes is not None else ({"apple_fresh": detections} if detections else {}),
            belt=belt,
        )
