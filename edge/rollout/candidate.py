"""Getting a model version ready to serve, or refusing it: load + verify, same taxonomy, a warm-up inference."""

from __future__ import annotations

import numpy as np

from edge.config import ModelSection
from edge.service.model import LoadedModel, detector_for
from vision.errors import QCError
from vision.model_card import ModelCard
from vision.registry import Registry


class ModelRefusedError(QCError):
    """A model version cannot serve: it failed to load, to verify against its card, or to warm up, or its taxonomy
    is not the serving one. The current model keeps serving."""


def same_taxonomy_problem(candidate: ModelCard, serving: ModelCard) -> str | None:
    """Why ``candidate`` cannot replace or run beside ``serving`` (counters and stored results depend on the
    class list), or None when their classes and taxonomy are the same."""
    if list(candidate.classes) == list(serving.classes) and candidate.taxonomy == serving.taxonomy:
        return None

    def describe(card: ModelCard) -> str:
        return f"produce {card.taxonomy.get('produce')}, {len(card.classes)} classes"

    return (
        f"its taxonomy ({describe(candidate)}) differs from that of {serving.version} serving now "
        f"({describe(serving)}); restart the service to change the taxonomy"
    )


def warm_up(model: LoadedModel) -> None:
    """One inference on a blank frame of the card's input size; it must return detections without error.

    Raises ModelRefusedError (whatever ONNX Runtime raised, named in the message)."""
    h, w = model.card.input_size
    blank = np.full((h, w, 3), model.card.letterbox.pad_value, np.uint8)
    try:
        result = model.detector.detect([blank])
    except Exception as exc:  # noqa: BLE001 - whatever the run raises, this model must not serve
        raise ModelRefusedError(f"the warm-up inference failed: {type(exc).__name__}: {exc}") from exc
    if len(result) != 1:
        raise ModelRefusedError(f"the warm-up inference returned {len(result)} results for 1 frame")


def prepare(section: ModelSection, version: str, serving: ModelCard | None) -> LoadedModel:
    """Load ``version`` from ``section``'s registry (sha256, card and external-data checks), check it fits the serving
    model ``serving``, start its session and warm it up. Blocking: run it in a thread.

    Raises ModelRefusedError naming the version and the reason; nothing else (a refusal must never stop the rollout).
    """
    try:
        card, path = Registry.open(section.registry_root).load_verified(version)
        if serving is not None:
            problem = same_taxonomy_problem(card, serving)
            if problem is not None:
                raise ModelRefusedError(problem)
        model = detector_for(section, card, path)
    except QCError as exc:
        raise ModelRefusedError(f"model {version} refused: {exc}") from exc
    except Exception as exc:  # noqa: BLE001 - ONNX Runtime's own untyped errors for a graph it cannot load
        raise ModelRefusedError(f"model {version} refused: cannot load it: {type(exc).__name__}: {exc}") from exc
    try:
        warm_up(model)
    except ModelRefusedError as exc:
        raise ModelRefusedError(f"model {version} refused: {exc}") from exc
    return model
