"""The no-detections rule: a camera's frames keep coming and the model has found nothing in them for too long."""

from __future__ import annotations

from dataclasses import dataclass

from edge.config import MonitorSection
from edge.monitoring.values import NO_DETECTIONS, Alert, FrameObservation


@dataclass
class Liveness:
    """A camera's frame flow: when its last frame came, which model version served it, and since when (and for
    how many frames) that version has detected nothing. A new model version starts its own silence: the alert
    names the version that stays silent."""

    last_frame_at: float | None = None
    model_version: str = ""
    silent_since: float | None = None
    silent_frames: int = 0

    def observe(self, obs: FrameObservation) -> None:
        """Account one committed frame."""
        if obs.model_version != self.model_version:
            self.model_version = obs.model_version
            self.silent_since, self.silent_frames = None, 0
        self.last_frame_at = obs.at if self.last_frame_at is None else max(self.last_frame_at, obs.at)
        if obs.n_detections > 0:
            self.silent_since, self.silent_frames = None, 0
        else:
            if self.silent_since is None:
                self.silent_since = obs.at
            self.silent_frames += 1

    def flowing(self, now: float, settings: MonitorSection) -> bool:
        """True while the camera's last frame is at most ``flowing_s`` old."""
        return self.last_frame_at is not None and now - self.last_frame_at <= settings.flowing_s


def no_detections(camera_id: str, state: Liveness, settings: MonitorSection, now: float) -> Alert | None:
    """Fires when the camera is streaming, its model version has detected nothing for ``no_detections_s`` and at
    least ``no_detections_min_frames`` frames came in that time."""
    if state.silent_since is None or not state.flowing(now, settings):
        return None
    silent_s = now - state.silent_since
    if silent_s < settings.no_detections_s or state.silent_frames < settings.no_detections_min_frames:
        return None
    return Alert(
        rule=NO_DETECTIONS,
        camera_id=camera_id,
        model_version=state.model_version,
        message=(
            f"camera {camera_id}: model {state.model_version} detected nothing in {state.silent_frames} frames over "
            f"{silent_s:.0f} s (threshold {settings.no_detections_s:g} s) while frames keep coming"
        ),
        values={
            "seconds_without_detections": silent_s,
            "frames_without_detections": float(state.silent_frames),
            "threshold_s": settings.no_detections_s,
        },
        since=now,
    )
