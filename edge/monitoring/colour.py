"""Colour and exposure drift of a camera's belt against the camera's own baseline.

Ripeness is judged by colour, so a camera whose white balance or exposure wanders makes the model wrong without any
change to the model. The baseline is the mean belt colour over the camera's first ``colour_baseline_s`` of frames
(kept while the service runs); the current colour is an exponential moving average with time constant
``colour_window_s``, started from the baseline. Brightness is luma (0.114 B + 0.587 G + 0.299 R); white balance the
B/G and R/G ratios.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from edge.config import MonitorSection
from edge.monitoring.values import BGR, COLOUR_DRIFT, EXPOSURE_DRIFT, Alert

_MIN_CHANNEL = 1.0  # a channel mean below this (near black) makes ratios meaningless


def luma(c: BGR) -> float:
    """Brightness of a BGR colour (Rec. 601 weights)."""
    return 0.114 * c[0] + 0.587 * c[1] + 0.299 * c[2]


def ratios(c: BGR) -> tuple[float, float]:
    """(B/G, R/G) of a BGR colour."""
    g = max(c[1], _MIN_CHANNEL)
    return c[0] / g, c[2] / g


@dataclass
class BeltColour:
    """A camera's belt colour baseline and its moving average."""

    first_at: float | None = None
    sums: tuple[float, float, float] = (0.0, 0.0, 0.0)
    baseline_frames: int = 0
    baseline: BGR | None = None  # set once the baseline period is over
    ema: BGR | None = None
    ema_at: float = 0.0
    frames_since_baseline: int = 0

    def observe(self, at: float, colour: BGR, settings: MonitorSection) -> None:
        """Account one frame's belt colour."""
        if self.first_at is None:
            self.first_at = at
        if self.baseline is None:
            if at - self.first_at < settings.colour_baseline_s or self.baseline_frames < settings.colour_min_frames:
                s = self.sums
                self.sums = (s[0] + colour[0], s[1] + colour[1], s[2] + colour[2])
                self.baseline_frames += 1
                return
            n = self.baseline_frames
            self.baseline = (self.sums[0] / n, self.sums[1] / n, self.sums[2] / n)
            self.ema, self.ema_at = self.baseline, at
        alpha = 1.0 - math.exp(-max(0.0, at - self.ema_at) / settings.colour_window_s)
        e = self.ema or colour
        self.ema = (e[0] + alpha * (colour[0] - e[0]), e[1] + alpha * (colour[1] - e[1]),
                    e[2] + alpha * (colour[2] - e[2]))
        self.ema_at = max(self.ema_at, at)
        self.frames_since_baseline += 1

    def judged(self, settings: MonitorSection) -> tuple[BGR, BGR] | None:
        """(baseline, current) once both rest on enough frames, else None."""
        if self.baseline is None or self.ema is None or self.frames_since_baseline < settings.colour_min_frames:
            return None
        return self.baseline, self.ema


def exposure_drift(
    camera_id: str, model_version: str, baseline: BGR, current: BGR, settings: MonitorSection, now: float
) -> Alert | None:
    """Fires when the belt's brightness differs from the baseline by more than ``brightness_delta`` (a fraction)."""
    base, cur = luma(baseline), luma(current)
    change = cur / max(base, _MIN_CHANNEL) - 1.0
    if abs(change) <= settings.brightness_delta:
        return None
    return Alert(
        rule=EXPOSURE_DRIFT,
        camera_id=camera_id,
        model_version=model_version,
        message=(
            f"camera {camera_id} (model {model_version}): belt brightness {cur:.0f} vs baseline {base:.0f} "
            f"({change:+.0%}, threshold ±{settings.brightness_delta:.0%}); check exposure and lighting"
        ),
        values={"brightness": cur, "baseline_brightness": base, "change": change,
                "threshold": settings.brightness_delta},
        since=now,
    )


def colour_drift(
    camera_id: str, model_version: str, baseline: BGR, current: BGR, settings: MonitorSection, now: float
) -> Alert | None:
    """Fires when the belt's B/G or R/G ratio differs from the baseline's by more than ``white_balance_delta``."""
    (bg0, rg0), (bg, rg) = ratios(baseline), ratios(current)
    bg_change = bg / max(bg0, 1e-6) - 1.0
    rg_change = rg / max(rg0, 1e-6) - 1.0
    if max(abs(bg_change), abs(rg_change)) <= settings.white_balance_delta:
        return None
    return Alert(
        rule=COLOUR_DRIFT,
        camera_id=camera_id,
        model_version=model_version,
        message=(
            f"camera {camera_id} (model {model_version}): belt white balance B/G {bg:.2f} vs baseline {bg0:.2f} "
            f"({bg_change:+.0%}), R/G {rg:.2f} vs {rg0:.2f} ({rg_change:+.0%}), threshold "
            f"±{settings.white_balance_delta:.0%}; ripeness is judged by colour"
        ),
        values={"b_over_g": bg, "baseline_b_over_g": bg0, "b_over_g_change": bg_change,
                "r_over_g": rg, "baseline_r_over_g": rg0, "r_over_g_change": rg_change,
                "threshold": settings.white_balance_delta},
        since=now,
    )
