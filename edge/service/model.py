"""The served model: loaded from the registry in the background, so the service answers /healthz while it loads."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from edge.config import ModelSection
from vision.detector import Detector
from vision.errors import QCError
from vision.model_card import ModelCard
from vision.registry import Registry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedModel:
    """A verified model card and its detector session."""

    card: ModelCard
    detector: Detector

    @property
    def version(self) -> str:
        """The registry version id."""
        return self.card.version


def load_model(section: ModelSection) -> LoadedModel:
    """Open the registry, verify the pinned (or production) version against its card, start an ORT session.

    Blocking (seconds; minutes for a first TensorRT engine build): run it in a thread. Raises QCError subclasses.
    """
    registry = Registry.open(section.registry_root)
    card, path = registry.load_verified(section.version)
    detector = Detector(
        path,
        card.taxonomy_obj(),
        imgsz=section.imgsz,
        providers=section.providers,
        conf_threshold=section.conf_threshold,
        iou_threshold=section.iou_threshold,
    )
    log.info("serving model %s (%s) on %s", card.version, path, detector.provider)
    return LoadedModel(card=card, detector=detector)


class ModelSlot:
    """Holds the model once loaded, or the error that stopped it loading; read by /readyz and the worker."""

    def __init__(self) -> None:
        self.model: LoadedModel | None = None
        self.error: str | None = None

    def set(self, model: LoadedModel) -> None:
        """The model finished loading."""
        self.model = model
        self.error = None

    def fail(self, exc: QCError) -> None:
        """The model could not be loaded; the service stays up and not ready."""
        self.error = str(exc)
        log.error("model not loaded: %s", exc)
