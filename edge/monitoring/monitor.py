"""`Monitor`: takes observations from the service (frames, shadow agreements, review decisions) and says which rules
fire. No I/O: the service feeds it and calls ``check``; memory is bounded (fixed windows per camera)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from edge.config import MonitorSection
from edge.monitoring.colour import BeltColour, colour_drift, exposure_drift
from edge.monitoring.drift import DriftBuckets, class_mix_drift, flag_rate_drift
from edge.monitoring.liveness import Liveness, no_detections
from edge.monitoring.precision import review_precision
from edge.monitoring.shadow import ShadowWindow, shadow_disagreement
from edge.monitoring.values import Alert, FrameObservation, ReviewWindow


@dataclass
class _Camera:
    """Everything the monitor keeps about one camera's frames."""

    liveness: Liveness
    drift: DriftBuckets
    colour: BeltColour = field(default_factory=BeltColour)


class Monitor:
    """Model monitoring for one service. Thread-safe: the worker's post thread observes, the event loop checks.

    ``clock`` stamps shadow agreements (they come without a time); frames carry their own.
    """

    def __init__(self, settings: MonitorSection | None = None, *, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings or MonitorSection()
        self._clock = clock
        self._lock = threading.Lock()
        self._cameras: dict[str, _Camera] = {}
        self._shadow: dict[str, ShadowWindow] = {}
        self._reviews: dict[str, ReviewWindow] = {}
        self._since: dict[tuple[str, str], float] = {}
        self.alerts: list[Alert] = []  # as of the latest check
        self.checked_at: float | None = None

    def observe_frame(self, obs: FrameObservation) -> None:
        """Account one committed frame."""
        with self._lock:
            cam = self._cameras.get(obs.camera_id)
            if cam is None:
                cam = self._cameras[obs.camera_id] = _Camera(Liveness(), DriftBuckets(self.settings))
            cam.liveness.observe(obs)
            cam.drift.observe(obs)
            if obs.belt is not None:
                cam.colour.observe(obs.at, obs.belt, self.settings)

    def observe_shadow(
        self, camera_id: str, production_version: str, shadow_version: str, agreement: float,
        at: float | None = None,
    ) -> None:
        """Account one frame scored by both the production and the shadow model: their agreement (0..1)."""
        with self._lock:
            window = self._shadow.get(camera_id)
            if window is None or (window.production_version, window.shadow_version) != (
                production_version, shadow_version
            ):
                window = self._shadow[camera_id] = ShadowWindow(production_version, shadow_version, self.settings)
            window.observe(self._clock() if at is None else at, agreement)

    def observe_reviews(self, windows: Iterable[ReviewWindow]) -> None:
        """Replace the review decisions known per camera (`edge.monitoring.precision.review_windows` reads them)."""
        latest = {w.camera_id: w for w in windows}
        with self._lock:
            self._reviews = latest

    def check(self, now: float) -> list[Alert]:
        """Every rule on every camera as of ``now``: the alerts that fire, each with the time it first fired
        (``since``) while it has kept firing. Sorted by camera and rule; kept as ``alerts``."""
        s = self.settings
        with self._lock:
            found: list[Alert | None] = []
            for camera_id, cam in self._cameras.items():
                version = cam.liveness.model_version
                found.append(no_detections(camera_id, cam.liveness, s, now))
                recent, trailing = cam.drift.windows(now, s)
                found.append(flag_rate_drift(camera_id, version, recent, trailing, s, now))
                found.append(class_mix_drift(camera_id, version, recent, trailing, s, now))
                judged = cam.colour.judged(s)
                if judged is not None and cam.liveness.flowing(now, s):
                    found.append(exposure_drift(camera_id, version, *judged, s, now))
                    found.append(colour_drift(camera_id, version, *judged, s, now))
            found += [shadow_disagreement(cam_id, w, s, now) for cam_id, w in self._shadow.items()]
            found += [review_precision(w, s, now) for w in self._reviews.values()]
            alerts = [a for a in found if a is not None]
            since = {a.key: self._since.get(a.key, now) for a in alerts}
            self._since = since
            self.alerts = sorted((replace(a, since=since[a.key]) for a in alerts), key=lambda a: (a.camera_id, a.rule))
            self.checked_at = now
            return list(self.alerts)

    def camera_ids(self) -> list[str]:
        """The cameras frames were observed from."""
        with self._lock:
            return sorted(self._cameras)
