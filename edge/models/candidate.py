"""Getting a model version ready to serve, or refusing it: load + verify (detector and grader, one unit), same
taxonomy, a warm-up inference of each."""

from __future__ import annotations

import numpy as np

from edge.config import ModelSection
from edge.models.serving import LoadedModel, detector_for
from edge.tracking.views import GRADE_VIEWS
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
    """One inference on a blank frame of the card's input size; it must return detections without error. A grader
    grades a batch of blank crops (as many as an item keeps): one row of probabilities per crop, each summing to 1.

    Raises ModelRefusedError (whatever ONNX Runtime raised, named in the message)."""
    h, w = model.card.input_size
    blank = np.full((h, w, 3), model.card.letterbox.pad_value, np.uint8)
    try:
        result = model.detector.detect([blank])
    except Exception as exc:  # noqa: BLE001 - whatever the run raises, this model must not serve
        raise ModelRefusedError(f"the warm-up inference failed: {type(exc).__name__}: {exc}") from exc
    if len(result) != 1:
        raise ModelRefusedError(f"the warm-up inference returned {len(result)} results for 1 frame")
    if model.grader is None:
        return
    size = model.grader.input_size
    crops = np.full((GRADE_VIEWS, size, size, 3), model.card.letterbox.pad_value, np.uint8)
    try:
        probs = model.grader.grade_crops(crops)
    except Exception as exc:  # noqa: BLE001 - same: a grader that cannot run must not serve
        raise ModelRefusedError(f"the grader's warm-up failed: {type(exc).__name__}: {exc}") from exc
    if probs.shape != (GRADE_VIEWS, len(model.grader.classes)) or not np.allclose(probs.sum(axis=1), 1.0, atol=1e-3):
        raise ModelRefusedError(f"the grader's warm-up returned probabilities of shape {probs.shape} that do not "
                                f"sum to 1 per crop, for {GRADE_VIEWS} crops of {len(model.grader.classes)} classes")


def prepare(section: ModelSection, version: str, serving: ModelCard | None) -> LoadedModel:
    """Load ``version`` from ``section``'s registry (sha256, card and external-data checks), check it fits the serving
    model ``serving``, start its session and warm it up. Blocking: run it in a thread.

    Raises ModelRefusedError naming the version and the reason; nothing else (a refusal must never stop the rollout).
    """
    try:
        registry = Registry.open(section.registry_root)
        card, path = registry.load_verified(version)  # the grader too: a version is verified whole
        if serving is not None:
            problem = same_taxonomy_problem(card, serving)
            if problem is not None:
                raise ModelRefusedError(problem)
        model = detector_for(section, card, path, registry.grader_path(card, verify=False))
    except QCError as exc:
        raise ModelRefusedError(f"model {version} refused: {exc}") from exc
    except Exception as exc:  # noqa: BLE001 - ONNX Runtime's own untyped errors for a graph it cannot load
        raise ModelRefusedError(f"model {version} refused: cannot load it: {type(exc).__name__}: {exc}") from exc
    try:
        warm_up(model)
    except ModelRefusedError as exc:
        raise ModelRefusedError(f"model {version} refused: {exc}") from exc
    return model
