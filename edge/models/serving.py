"""The served models: loaded from the registry in the background, so the service answers /healthz while they load.

A model version is its detector and, when its card has one, its grader (`vision.grader`): they load, verify and
swap together as one `LoadedModel`. What serves is one immutable `ServingSet` (production, and the canary and shadow
versions when the registry has them); a hot-swap replaces the whole set in one assignment, so a batch that took a
snapshot of it keeps the models it started with (see `edge.models`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

from edge.config import ModelSection
from vision.decode import DecodeOptions
from vision.detector import Detector
from vision.detector_options import GraphEdits, InputOptions, RuntimeOptions
from vision.errors import ModelLoadError, QCError
from vision.grader import Grader
from vision.model_card import ModelCard
from vision.registry import Registry

log = logging.getLogger(__name__)

# Refusals kept for GET /model (the latest ones; older ones are in the log).
MAX_REFUSALS = 20


@dataclass(frozen=True)
class LoadedModel:
    """A verified model card, its detector session and, when the version has one, its grader session."""

    card: ModelCard
    detector: Detector
    grader: Grader | None = None

    @property
    def version(self) -> str:
        """The registry version id."""
        return self.card.version


@dataclass(frozen=True)
class ServingSet:
    """The models serving now: production for every camera, except ``canary_cameras`` while there is a canary;
    ``shadow`` scores the same frames apart. Replaced whole on a swap, never changed in place."""

    production: LoadedModel
    canary: LoadedModel | None = None
    canary_cameras: frozenset[str] = frozenset()
    shadow: LoadedModel | None = None

    def model_for(self, camera_id: str) -> LoadedModel:
        """The model that detects ``camera_id``'s frames."""
        if self.canary is not None and camera_id in self.canary_cameras:
            return self.canary
        return self.production

    def with_role(self, role: str, model: LoadedModel | None) -> ServingSet:
        """This set with ``role`` ("production" | "canary" | "shadow") served by ``model`` (None: no such role)."""
        if role == "production":
            if model is None:
                raise ValueError("production cannot be empty")
            return replace(self, production=model)
        if role not in ("canary", "shadow"):
            raise ValueError(f"unknown role {role!r}")
        return replace(self, **{role: model})


@dataclass(frozen=True)
class Refusal:
    """A model version the service refused to serve, and why (it is not tried again until the registry changes)."""

    version: str
    role: str  # production | canary | shadow: what the registry wanted it for
    reason: str
    at: float  # unix seconds


def load_model(section: ModelSection) -> LoadedModel:
    """Open the registry, verify the pinned (or production) version against its card, start an ORT session.

    Blocking (seconds; minutes for a first TensorRT engine build): run it in a thread. Raises QCError subclasses.
    """
    return load_version(section, section.version)


def load_version(section: ModelSection, version: str | None) -> LoadedModel:
    """`load_model` for ``version`` (None: production) of ``section``'s registry, with ``section``'s settings."""
    registry = Registry.open(section.registry_root)
    card, path = registry.load_verified(version)  # the grader too: a version is verified whole
    return detector_for(section, card, path, registry.grader_path(card, verify=False))


def detector_for(
    section: ModelSection, card: ModelCard, path: Path, grader_path: Path | None = None
) -> LoadedModel:
    """ONNX Runtime sessions of a verified version: its detector, with ``section``'s providers and thresholds, and
    its grader from ``grader_path`` (the card's grader file; None when the card has no grader), on the same
    providers. ModelLoadError when the card names a grader and no file is given."""
    if card.grader is not None and grader_path is None:
        raise ModelLoadError(f"model {card.version} has a grader ({card.grader.file}) but no grader file was found")
    # One value for both sessions: the grader takes its providers and engine cache from it, the rest is the
    # detector's.
    runtime = RuntimeOptions(
        providers=section.providers, cpu_replicas=section.cpu_replicas, io_binding=section.io_binding,
        engine_cache_dir=section.engine_cache_dir,
    )
    detector = Detector(
        path,
        card.taxonomy_obj(),
        decoding=DecodeOptions(conf_threshold=section.conf_threshold, iou_threshold=section.iou_threshold),
        inputs=InputOptions(imgsz=section.imgsz),
        # An int8 graph takes the pixels as its quantized input (vision.graph_edit): on unless the config says no.
        edits=GraphEdits(
            uint8_input=section.uint8_input if section.uint8_input is not None else card.dtype == "int8",
            topk=section.topk,
        ),
        runtime=runtime,
    )
    grader = None
    if card.grader is not None and grader_path is not None:
        grader = Grader(grader_path, card.grader, taxonomy=detector.taxonomy, runtime=runtime)
    log.info("model %s (%s) loaded on %s%s", card.version, path, detector.provider,
             f", grader on {grader.provider}" if grader is not None else "")
    return LoadedModel(card=card, detector=detector, grader=grader)


@dataclass(eq=False)
class ModelSlot:
    """What serves (a `ServingSet`, once loaded) or the error that stopped the first load; the refusals and swaps
    since start-up. Read by /readyz, GET /model and the worker; written by the model start-up and the rollout."""

    serving: ServingSet | None = None
    error: str | None = None
    refusals: list[Refusal] = field(default_factory=list)
    swaps: int = 0

    @property
    def model(self) -> LoadedModel | None:
        """The production model (None until loaded)."""
        return None if self.serving is None else self.serving.production

    def set(self, model: LoadedModel) -> None:
        """The first model finished loading: it serves every camera."""
        self.serving = ServingSet(production=model)
        self.error = None

    def swap(self, serving: ServingSet) -> None:
        """Serve ``serving`` from the next batch on (one assignment: a batch sees the old set or the new one)."""
        self.serving = serving
        self.swaps += 1

    def refuse(self, refusal: Refusal) -> None:
        """Remember a refused version (the latest `MAX_REFUSALS`)."""
        self.refusals = [*self.refusals, refusal][-MAX_REFUSALS:]

    def fail(self, exc: QCError) -> None:
        """The model could not be loaded; the service stays up and not ready."""
        self.error = str(exc)
        log.error("model not loaded: %s", exc)
