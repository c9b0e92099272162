"""Flag rate and class mix drift: a camera's recent window against the trailing window before it.

Frames are summed into time buckets of ``bucket_s`` (a bounded deque), so memory does not grow with the frame rate.
The recent window is the buckets that started within ``recent_s`` of now; the trailing window the ``trailing_s``
before that.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from dataclasses import dataclass, field

from edge.config import MonitorSection
from edge.monitoring.values import CLASS_MIX_DRIFT, FLAG_RATE_DRIFT, Alert, FrameObservation


@dataclass
class Bucket:
    """Sums over the frames committed in [start, start + bucket_s)."""

    start: float
    frames: int = 0
    detections: int = 0
    counted: int = 0
    flagged: int = 0
    classes: Counter[str] = field(default_factory=Counter)

    def add(self, obs: FrameObservation) -> None:
        """Add one frame."""
        self.frames += 1
        self.detections += obs.n_detections
        self.counted += obs.n_counted
        self.flagged += obs.n_flagged
        self.classes.update(obs.class_counts)


@dataclass
class Window:
    """The sums of several buckets."""

    frames: int = 0
    detections: int = 0
    counted: int = 0
    flagged: int = 0
    classes: Counter[str] = field(default_factory=Counter)

    def add(self, b: Bucket) -> None:
        """Add one bucket's sums."""
        self.frames += b.frames
        self.detections += b.detections
        self.counted += b.counted
        self.flagged += b.flagged
        self.classes.update(b.classes)

    @property
    def flag_rate(self) -> float:
        """Flagged / counted items (0 when nothing was counted)."""
        return self.flagged / self.counted if self.counted else 0.0

    def shares(self) -> dict[str, float]:
        """Each class's share of the detections."""
        total = sum(self.classes.values())
        return {k: v / total for k, v in self.classes.items()} if total else {}


class DriftBuckets:
    """A camera's time buckets, oldest first; at most enough to cover both windows."""

    def __init__(self, settings: MonitorSection) -> None:
        self.bucket_s = settings.bucket_s
        span = settings.recent_s + settings.trailing_s
        self.buckets: deque[Bucket] = deque(maxlen=math.ceil(span / settings.bucket_s) + 2)

    def observe(self, obs: FrameObservation) -> None:
        """Add a frame to its bucket (a frame older than the newest bucket goes into the newest one)."""
        start = math.floor(obs.at / self.bucket_s) * self.bucket_s
        if self.buckets and start <= self.buckets[-1].start:
            self.buckets[-1].add(obs)
            return
        bucket = Bucket(start)
        bucket.add(obs)
        self.buckets.append(bucket)

    def windows(self, now: float, settings: MonitorSection) -> tuple[Window, Window]:
        """(recent, trailing) sums as of ``now``."""
        recent, trailing = Window(), Window()
        recent_from = now - settings.recent_s
        trailing_from = recent_from - settings.trailing_s
        for b in self.buckets:
            if b.start >= recent_from:
                recent.add(b)
            elif b.start >= trailing_from:
                trailing.add(b)
        return recent, trailing


def flag_rate_drift(
    camera_id: str, model_version: str, recent: Window, trailing: Window, settings: MonitorSection, now: float
) -> Alert | None:
    """Fires when both windows counted at least ``min_items`` items and their flag rates differ by more than
    ``flag_rate_delta``."""
    if recent.counted < settings.min_items or trailing.counted < settings.min_items:
        return None
    delta = recent.flag_rate - trailing.flag_rate
    if abs(delta) <= settings.flag_rate_delta:
        return None
    return Alert(
        rule=FLAG_RATE_DRIFT,
        camera_id=camera_id,
        model_version=model_version,
        message=(
            f"camera {camera_id}, model {model_version}: flag rate {recent.flag_rate:.1%} of {recent.counted} items "
            f"in the last {settings.recent_s:g} s vs {trailing.flag_rate:.1%} of {trailing.counted} before "
            f"({delta:+.1%}, threshold ±{settings.flag_rate_delta:.1%})"
        ),
        values={
            "recent_flag_rate": recent.flag_rate,
            "trailing_flag_rate": trailing.flag_rate,
            "delta": delta,
            "recent_items": float(recent.counted),
            "trailing_items": float(trailing.counted),
            "threshold": settings.flag_rate_delta,
        },
        since=now,
    )


def total_variation(p: dict[str, float], q: dict[str, float]) -> float:
    """Total variation distance between two distributions over names: half the L1 distance (0..1)."""
    return 0.5 * sum(abs(p.get(k, 0.0) - q.get(k, 0.0)) for k in set(p) | set(q))


def class_mix_drift(
    camera_id: str, model_version: str, recent: Window, trailing: Window, settings: MonitorSection, now: float
) -> Alert | None:
    """Fires when both windows hold at least ``min_detections`` detections and the total variation distance of
    their class mixes exceeds ``class_mix_tvd``; the message names the class whose share moved most."""
    if recent.detections < settings.min_detections or trailing.detections < settings.min_detections:
        return None
    p, q = recent.shares(), trailing.shares()
    tvd = total_variation(p, q)
    if tvd <= settings.class_mix_tvd:
        return None
    moved = max(set(p) | set(q), key=lambda k: (abs(p.get(k, 0.0) - q.get(k, 0.0)), k))
    return Alert(
        rule=CLASS_MIX_DRIFT,
        camera_id=camera_id,
        model_version=model_version,
        message=(
            f"camera {camera_id}, model {model_version}: class mix of {recent.detections} detections in the last "
            f"{settings.recent_s:g} s is {tvd:.2f} (total variation) from the {trailing.detections} before "
            f"(threshold {settings.class_mix_tvd:g}); most moved: {moved} {q.get(moved, 0.0):.0%} -> "
            f"{p.get(moved, 0.0):.0%}"
        ),
        values={
            "total_variation": tvd,
            "recent_detections": float(recent.detections),
            "trailing_detections": float(trailing.detections),
            "most_moved_recent_share": p.get(moved, 0.0),
            "most_moved_trailing_share": q.get(moved, 0.0),
            "threshold": settings.class_mix_tvd,
        },
        since=now,
    )
