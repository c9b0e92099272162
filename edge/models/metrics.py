"""The rollout's Prometheus series (swaps, refusals, what serves, shadow agreement), on the service's registry."""

from __future__ import annotations

from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

AGREEMENT_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)


class RolloutMetrics:
    """Series of `edge.models`; built by `edge.service.metrics.Metrics` on its own registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.swaps = Counter(
            "qc_model_swaps", "Hot-swaps done, per role (production, canary, shadow) that changed.", ["role"],
            registry=r,
        )
        self.refusals = Counter(
            "qc_model_refusals",
            "Model versions refused (failed to load, verify or warm up, or another taxonomy); the current model kept "
            "serving. Per version.",
            ["version"],
            registry=r,
        )
        self.serving = Gauge(
            "qc_model_serving", "1 for each (role, version) serving now.", ["role", "version"], registry=r
        )
        self.registry_errors = Counter(
            "qc_registry_read_errors", "Times the model registry could not be read (tried again next tick).", registry=r
        )
        self.registry_checks = Counter(
            "qc_registry_checks", "Looks at the model registry that are over (read or not), their swaps and refusals "
            "counted.", registry=r,
        )
        self.shadow_frames = Counter(
            "qc_shadow_frames", "Frames scored by the shadow model, per shadow version.", ["version"], registry=r
        )
        self.shadow_errors = Counter(
            "qc_shadow_errors", "Shadow batches that failed (production was not affected), per shadow version.",
            ["version"], registry=r,
        )
        self.shadow_skipped = Counter(
            "qc_shadow_skipped",
            "Frames the shadow model skipped because it was still busy with earlier batches (production never waits "
            "for it), per shadow version.",
            ["version"],
            registry=r,
        )
        self.agreement = Histogram(
            "qc_shadow_agreement",
            "Per frame: matched boxes (same class, IoU >= rollout.agreement_iou) / max(production boxes, shadow "
            "boxes), 1 when both are empty; per shadow version.",
            ["version"],
            buckets=AGREEMENT_BUCKETS,
            registry=r,
        )
        self.agreement_last = Gauge(
            "qc_shadow_agreement_batch_mean", "Mean agreement over the latest shadow batch, per shadow version.",
            ["version"], registry=r,
        )

    def serving_now(self, roles: dict[str, str | None]) -> None:
        """Set `qc_model_serving` to exactly ``roles`` (role -> version, None: no model in that role)."""
        self.serving.clear()
        for role, version in roles.items():
            if version is not None:
                self.serving.labels(role, version).set(1)


class ServingMetrics(Protocol):
    """What the registry follower reports to: the service's `edge.service.metrics.Metrics` has both parts.

    A protocol, so the model lifecycle never imports the service that uses it.
    """

    rollout: RolloutMetrics

    def model_loaded_as(self, version: str, sha256: str, provider: str, requested: str, fell_back: bool) -> None:
        """Record the loaded production model and the provider it really runs on."""
