"""Model monitoring: the service feeds a `Monitor` what each committed frame showed (detections, flags, belt
colour), shadow agreements and review decisions; ``check`` says which rules fire (`Alert`). Served as
``GET /alerts`` and Prometheus gauges; read with `qc monitor`.

Rules (thresholds in `edge.config.MonitorSection`): no_detections, flag_rate_drift, class_mix_drift,
review_precision, shadow_disagreement, exposure_drift, colour_drift.
"""

from edge.monitoring.monitor import Monitor
from edge.monitoring.observe import belt_colour, frame_observation
from edge.monitoring.precision import review_windows
from edge.monitoring.values import RULES, Alert, FrameObservation, ReviewWindow, diff_alerts

__all__ = [
    "RULES",
    "Alert",
    "FrameObservation",
    "Monitor",
    "ReviewWindow",
    "belt_colour",
    "diff_alerts",
    "frame_observation",
    "review_windows",
]
