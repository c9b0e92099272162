"""The monitoring series of the service's Prometheus registry: which alerts are active, how many were raised."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge

from edge.monitoring.values import RULES


class AlertMetrics:
    """``qc_alert_active{rule,camera}`` (1 while active, 0 once cleared) and ``qc_alerts_raised{rule,camera}``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.active = Gauge(
            "qc_alert_active", "1 while a model monitoring alert is active (GET /alerts), per rule and camera.",
            ["rule", "camera"], registry=registry,
        )
        self.raised = Counter(
            "qc_alerts_raised", "Model monitoring alerts raised (went from clear to active), per rule and camera.",
            ["rule", "camera"], registry=registry,
        )

    def init_camera(self, camera: str) -> None:
        """Zero-valued series of every per-camera rule, so they show before anything fires."""
        for rule in RULES:
            self.active.labels(rule, camera).set(0)
            self.raised.labels(rule, camera)

    def update(
        self, active: Iterable[tuple[str, str]], raised: Iterable[tuple[str, str]], cleared: Iterable[tuple[str, str]]
    ) -> None:
        """After a check: (rule, camera) keys now active, newly raised, and cleared."""
        for rule, camera in cleared:
            self.active.labels(rule, camera).set(0)
        for rule, camera in raised:
            self.raised.labels(rule, camera).inc()
        for rule, camera in active:
            self.active.labels(rule, camera).set(1)
