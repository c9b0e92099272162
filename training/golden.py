"""The golden-frame gate: before a version starts serving, its torch weights and its ONNX file must still agree.

A fixed set of frames (rendered by `training.synth` from a fixed seed at the card's input size, so every gate
run on every machine sees the same pixels) goes through the version's ``weights.pt`` (ultralytics, CPU) and its
verified ONNX file (our `vision.Detector`), and the boxes are compared by `training.parity` with its tolerances
for the card's dtype. Where this onnxruntime build lists TensorRT, the ONNX side runs a second time on TensorRT
with the fp16 tolerances: TensorRT builds its engines with TF32 by default, which keeps fp16's 10-bit mantissa.

A version with a grader (`vision.grader`) serves it with its detector, as one unit: the gate refuses the version when
its grader file is missing or does not match the card's grader section (sha256, class names, input size).

It catches what a sha256 cannot: an ONNX file registered with the wrong weights, a graph whose card matches
but whose numbers do not, a runtime (a new onnxruntime or TensorRT) that no longer reproduces the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from training.parity import ParityReport, ParityTolerances, check_parity
from vision.errors import ModelLoadError, QCError
from vision.model_card import ModelCard
from vision.registry import Registry

GOLDEN_SEED = 515_151  # kept apart from training, evaluation and export-parity seeds
GOLDEN_FRAMES = 6
TENSORRT = "TensorrtExecutionProvider"


class GoldenGateError(QCError):
    """The golden-frame gate refuses a version: no weights to compare with, or torch and ONNX disagree."""


@dataclass(frozen=True)
class GoldenRun:
    """One comparison: the ONNX side on one execution-provider list."""

    providers: tuple[str, ...]
    report: ParityReport


@dataclass(frozen=True)
class GoldenResult:
    """The gate's verdict for one version."""

    version: str
    runs: tuple[GoldenRun, ...]

    @property
    def passed(self) -> bool:
        return all(r.report.passed for r in self.runs)

    def summary(self) -> str:
        """One line per run: which providers and the parity summary."""
        verdict = "passed" if self.passed else "FAILED"
        lines = [f"golden-frame gate {verdict} for {self.version}"]
        lines += [f"  [{' > '.join(r.providers)}] {r.report.summary()}" for r in self.runs]
        return "\n".join(lines)


def golden_frames(card: ModelCard, count: int = GOLDEN_FRAMES, seed: int = GOLDEN_SEED) -> list[np.ndarray]:
    """The gate's frames for a card: ``count`` synthetic conveyor frames (BGR uint8) at its input size."""
    from training.synth.frames import render_frame

    height, width = card.input_size
    return [render_frame(i, seed, width, height, card.taxonomy_obj(), 0.5)[0] for i in range(count)]


def gate_providers(available: Sequence[str]) -> list[tuple[str, ...]]:
    """The ONNX Runtime provider lists the gate compares on: CPU always, TensorRT too where the build lists it."""
    runs: list[tuple[str, ...]] = [("CPUExecutionProvider",)]
    if TENSORRT in available:
        runs.append((TENSORRT, "CPUExecutionProvider"))
    return runs


def run_golden_gate(
    registry: Registry,
    version: str,
    *,
    frames: Sequence[np.ndarray] | None = None,
    providers: Sequence[tuple[str, ...]] | None = None,
    conf: float = 0.25,
    iou: float = 0.6,
) -> GoldenResult:
    """Compare ``version``'s stored weights with its ONNX file on the golden frames; returns the verdict.

    Raises GoldenGateError when the version has no weights stored or its grader is missing or mismatched, and
    ModelLoadError when its detector's files fail verification (sha256, external data, card vs graph).
    ``frames``/``providers`` override the defaults (`golden_frames`, `gate_providers` of this onnxruntime build).
    """
    import onnxruntime as ort

    card = registry.get(version)
    if card.grader is not None:
        try:
            registry.grader_path(card)
        except ModelLoadError as exc:
            raise GoldenGateError(f"{version} is refused: its grader does not verify ({exc})") from exc
    weights = registry.weights_path(card)
    if weights is None:
        raise GoldenGateError(
            f"{version} has no torch weights stored, so the golden-frame gate cannot compare torch with ONNX; "
            "register it with --weights, or pass --skip-golden"
        )
    card, onnx_path = registry.load_verified(version)
    frames = list(frames) if frames is not None else golden_frames(card)
    imgsz = max(card.input_size)
    runs = []
    for chain in providers if providers is not None else gate_providers(ort.get_available_providers()):
        dtype = "fp16" if chain[0] == TENSORRT else card.dtype
        report = check_parity(
            weights,
            onnx_path,
            frames,
            card.taxonomy_obj(),
            imgsz,
            ParityTolerances.for_dtype(dtype),
            dtype=card.dtype,
            conf=conf,
            iou=iou,
            providers=chain,
        )
        runs.append(GoldenRun(providers=tuple(chain), report=report))
    return GoldenResult(version=version, runs=tuple(runs))


def require_golden(registry: Registry, version: str) -> GoldenResult:
    """`run_golden_gate`, raising GoldenGateError with the summary when it fails."""
    result = run_golden_gate(registry, version)
    if not result.passed:
        raise GoldenGateError(result.summary())
    return result
