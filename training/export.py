"""Export a trained ultralytics checkpoint to ONNX (fp32 and fp16), check parity, write model-card drafts.

Outputs in ``out_dir``::

    model.onnx            fp32, dynamic batch/H/W, simplified (onnxslim), no NMS in the graph
    model.card.json       its ModelCardDraft (register it with `qc registry register`)
    model_fp16.onnx       fp16 variant: float16 weights, maths AND input/output (card dtype "fp16")
    model_fp16.card.json
    export_report.json    what was exported, hashes, parity reports; written even when parity fails

fp16 keeps float16 I/O, the same contract as ultralytics' own ``half=True`` GPU export: the detector feeds a
float16 tensor (it reads the graph's input type), which halves the host-to-device copy on the edge GPU, and the
card's ``dtype`` states it. ultralytics cannot export half precision on CPU, so the fp16 graph is converted from
the fp32 one with ``onnxruntime.transformers.float16`` (needs the ``onnx`` package: train extra).
"""

from __future__ import annotations

import os
import platform
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from training.parity import ParityError, ParityReport, ParityTolerances, check_parity
from vision.code_version import current_code_version
from vision.errors import InputError, ModelLoadError, QCError
from vision.model_card import (
    DatasetRef,
    Dtype,
    LetterboxSpec,
    ModelCardDraft,
    graph_mismatches,
    sha256_file,
    write_json_atomic,
)
from vision.options import whole_number
from vision.taxonomy import Taxonomy

REPORT_NAME = "export_report.json"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
FILE_NAMES: dict[str, str] = {"fp32": "model.onnx", "fp16": "model_fp16.onnx"}


class ExportError(QCError):
    """The checkpoint cannot be exported as asked (missing file, wrong classes, bad size, conversion failure)."""


@dataclass(frozen=True)
class ExportedModel:
    """One exported ONNX variant, its card draft and (if frames were given) its parity report."""

    dtype: Dtype
    onnx_path: Path
    card_path: Path
    sha256: str
    size_bytes: int
    draft: ModelCardDraft
    parity: ParityReport | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "dtype": self.dtype,
            "onnx": str(self.onnx_path),
            "card": str(self.card_path),
            "sha256": self.sha256,
            "size_bytes": self.size_bytes,
            "parity": None if self.parity is None else self.parity.to_dict(),
        }


@dataclass(frozen=True)
class ExportResult:
    """Everything `export_model` produced; ``passed`` is False only when a parity check failed."""

    checkpoint: Path
    out_dir: Path
    imgsz: int
    models: tuple[ExportedModel, ...]
    report_path: Path
    seconds: float

    @property
    def passed(self) -> bool:
        return all(m.parity is None or m.parity.passed for m in self.models)

    def model(self, dtype: str) -> ExportedModel:
        """The variant of one dtype; ExportError if it was not exported."""
        for m in self.models:
            if m.dtype == dtype:
                return m
        raise ExportError(f"no {dtype} model in export {self.out_dir}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "checkpoint": str(self.checkpoint),
            "out_dir": str(self.out_dir),
            "imgsz": self.imgsz,
            "passed": self.passed,
            "seconds": round(self.seconds, 2),
            "models": [m.to_dict() for m in self.models],
        }


def checkpoint_info(checkpoint_pt: Path) -> dict[str, Any]:
    """How the checkpoint was trained, for the card's ``training``: ultralytics' saved train args, epoch, date,
    final validation metrics, plus the exporting environment's versions. Missing keys are left out."""
    import torch
    import ultralytics

    ckpt = torch.load(str(checkpoint_pt), map_location="cpu", weights_only=False)
    info: dict[str, Any] = {
        "checkpoint": checkpoint_pt.name,
        "checkpoint_sha256": sha256_file(checkpoint_pt),
        "ultralytics": ultralytics.__version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
    args = ckpt.get("train_args") or {}
    keep = ("model", "data", "epochs", "imgsz", "batch", "seed", "optimizer", "lr0", "device", "deterministic")
    if args:
        info["train_args"] = {k: _jsonable(args[k]) for k in keep if k in args}
    for key in ("epoch", "date", "version", "best_fitness"):
        if ckpt.get(key) is not None:
            info[f"checkpoint_{key}"] = _jsonable(ckpt[key])
    metrics = ckpt.get("train_metrics")
    if metrics:
        info["final_val_metrics"] = {str(k): _jsonable(v) for k, v in metrics.items()}
    return info


def _jsonable(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def _check_checkpoint(checkpoint_pt: Path, taxonomy: Taxonomy) -> int:
    """Load the checkpoint once to check its classes against the taxonomy; returns the model's max stride."""
    from ultralytics import YOLO

    if not checkpoint_pt.is_file():
        raise ExportError(f"checkpoint not found: {checkpoint_pt}")
    try:
        model = YOLO(str(checkpoint_pt))
    except Exception as exc:  # ultralytics/torch raise many kinds of errors for a bad file
        raise ExportError(f"cannot load checkpoint {checkpoint_pt}: {exc}") from exc
    if getattr(model, "task", "detect") != "detect":
        raise ExportError(f"{checkpoint_pt} is a '{model.task}' model; only detection models are exported")
    names = [str(model.names[k]) for k in sorted(model.names)]
    if names != list(taxonomy.class_names):
        raise ExportError(
            f"{checkpoint_pt}: class names {names} differ from the taxonomy's {list(taxonomy.class_names)}"
        )
    network: Any = model.model
    return int(max(network.stride.tolist()))


def _export_fp32(checkpoint_pt: Path, out_dir: Path, imgsz: int) -> Path:
    """ultralytics ONNX export (dynamic batch/H/W, onnxslim, default opset, no NMS) into ``out_dir/model.onnx``."""
    from ultralytics import YOLO

    # ultralytics writes next to the checkpoint; work on a copy so the source folder is left alone.
    with tempfile.TemporaryDirectory(prefix=".export-", dir=out_dir) as tmp:
        local = Path(tmp) / checkpoint_pt.name
        shutil.copyfile(checkpoint_pt, local)
        try:
            exported = YOLO(str(local)).export(
                format="onnx",
                dynamic=True,
                simplify=True,
                imgsz=imgsz,
                nms=False,
                device="cpu",
                verbose=False,
            )
        except Exception as exc:  # export failures come from torch.onnx / onnxslim with their own types
            raise ExportError(f"ultralytics ONNX export of {checkpoint_pt} failed: {exc}") from exc
        target = out_dir / FILE_NAMES["fp32"]
        os.replace(exported, target)
    return target


def convert_fp16(fp32_path: Path, out_path: Path) -> Path:
    """Convert an fp32 ONNX graph to fp16 with float16 inputs/outputs; keeps ultralytics' metadata."""
    try:
        import onnx
        from onnxruntime.transformers.float16 import convert_float_to_float16
    except ImportError as exc:
        raise ExportError(f"fp16 export needs the 'onnx' package (pip install conveyor-qc[train]): {exc}") from exc
    model = onnx.load(str(fp32_path))
    # keep_io_types=False: float16 I/O, the contract ultralytics' own half export has (see module docstring).
    half = convert_float_to_float16(model, keep_io_types=False)
    onnx.save(half, str(out_path))
    return out_path


def _check_graph(path: Path, draft: ModelCardDraft) -> None:
    """The exported file must satisfy its own card and take a dynamic batch."""
    import onnxruntime as ort

    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime's own exception types (e.g. an op without a kernel for this dtype)
        raise ExportError(f"ONNX Runtime cannot load the exported {path}: {exc}") from exc
    problems = graph_mismatches(draft, session)
    batch = session.get_inputs()[0].shape[0]
    if isinstance(batch, int):
        problems.append(f"batch dimension is static ({batch}), expected dynamic")
    if problems:
        raise ExportError(f"exported {path} does not match its card: " + "; ".join(problems))


def export_model(
    checkpoint_pt: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    imgsz: int,
    *,
    taxonomy: Taxonomy,
    half_variant: bool = True,
    parity_frames: Sequence[np.ndarray] | None = None,
    parity_conf: float = 0.25,
    parity_iou: float = 0.6,
    tolerances: dict[str, ParityTolerances] | None = None,
    dataset: DatasetRef | None = None,
    metrics: dict[str, Any] | None = None,
    training: dict[str, Any] | None = None,
    parent_version: str | None = None,
    on_step: Callable[[str], None] | None = None,
) -> ExportResult:
    """Export ``checkpoint_pt`` to ONNX in ``out_dir`` (fp32, plus fp16 unless ``half_variant=False``), write a
    card draft per file and ``export_report.json``, and run the parity check on ``parity_frames`` (BGR uint8).

    ``tolerances`` overrides the per-dtype defaults (`ParityTolerances.for_dtype`). ``dataset``/``metrics``/
    ``training``/``parent_version`` go into the card drafts (``training`` is merged over what the checkpoint
    records). Raises ExportError for bad inputs or a failed export, and ParityError (after writing the report
    and leaving the files for inspection) when a variant's parity check fails.
    """
    start = time.monotonic()
    step = on_step or (lambda _msg: None)
    ckpt = Path(checkpoint_pt)
    out = Path(out_dir)
    imgsz = whole_number("imgsz", imgsz, error=ExportError)
    step("checking checkpoint")
    stride = _check_checkpoint(ckpt, taxonomy)
    if imgsz % stride:
        raise ExportError(f"imgsz {imgsz} is not a multiple of the model stride {stride}")
    if parity_frames is not None and len(parity_frames) == 0:
        raise InputError("parity_frames is empty; pass None to skip the parity check")
    out.mkdir(parents=True, exist_ok=True)

    step("exporting fp32 ONNX")
    paths: dict[Dtype, Path] = {"fp32": _export_fp32(ckpt, out, imgsz)}
    fp16_path = out / FILE_NAMES["fp16"]
    if half_variant:
        step("converting to fp16")
        paths["fp16"] = convert_fp16(paths["fp32"], fp16_path)
    else:
        # An fp16 file left from an earlier export would no longer match this fp32 model.
        fp16_path.unlink(missing_ok=True)
        fp16_path.with_suffix(".card.json").unlink(missing_ok=True)

    train_info = {**checkpoint_info(ckpt), **(training or {})}
    code_version = current_code_version()
    exported_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    models: list[ExportedModel] = []
    for dtype, path in paths.items():
        draft = ModelCardDraft(
            classes=list(taxonomy.class_names),
            taxonomy=taxonomy.to_dict(),
            input_size=(imgsz, imgsz),
            letterbox=LetterboxSpec(stride=stride, pad_value=114, center=True, dynamic_hw=True),
            dtype=dtype,
            dataset=dataset,
            metrics=metrics or {},
            training={**train_info, "export": {"dtype": dtype, "at": exported_at, "dynamic": True, "simplify": True}},
            parent_version=parent_version,
            code_version=code_version,
        )
        _check_graph(path, draft)
        card_path = draft.save(path.with_suffix(".card.json"))
        parity = None
        if parity_frames is not None:
            step(f"parity check {dtype} on {len(parity_frames)} frames")
            tol = (tolerances or {}).get(dtype) or ParityTolerances.for_dtype(dtype)
            try:
                parity = check_parity(
                    ckpt, path, parity_frames, taxonomy, imgsz, tol, dtype=dtype, conf=parity_conf, iou=parity_iou
                )
            except ModelLoadError as exc:
                raise ExportError(f"the exported {path} cannot be loaded by the detector: {exc}") from exc
        models.append(ExportedModel(dtype, path, card_path, sha256_file(path), path.stat().st_size, draft, parity))

    result = ExportResult(
        checkpoint=ckpt,
        out_dir=out,
        imgsz=imgsz,
        models=tuple(models),
        report_path=out / REPORT_NAME,
        seconds=time.monotonic() - start,
    )
    write_json_atomic(result.report_path, result.to_dict())
    failed = [m.parity for m in models if m.parity is not None and not m.parity.passed]
    if failed:
        raise ParityError(" | ".join(p.summary() for p in failed) + f" (report: {result.report_path})")
    return result


def load_parity_frames(folder: str | os.PathLike[str], limit: int) -> list[np.ndarray]:
    """The first ``limit`` images (sorted by path, searched recursively) of ``folder`` as BGR uint8 arrays,
    e.g. a `qc synth frames` data set. Raises InputError if the folder has none or an image cannot be read."""
    import cv2

    root = Path(folder)
    if not root.is_dir():
        raise InputError(f"parity data folder not found: {root}")
    if limit < 1:
        raise InputError(f"number of parity frames must be >= 1, got {limit}")
    paths = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())[:limit]
    if not paths:
        raise InputError(f"no images ({', '.join(IMAGE_SUFFIXES)}) under {root}")
    frames = []
    for p in paths:
        img = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if img is None:
            raise InputError(f"cannot read image {p}")
        frames.append(img)
    return frames


def synthetic_parity_frames(
    count: int, taxonomy: Taxonomy, *, width: int = 640, height: int = 360, seed: int = 20_240
) -> list[np.ndarray]:
    """``count`` conveyor frames rendered in memory by the synthetic generator (`qc synth frames`' renderer).

    The seed is fixed and kept apart from training seeds so every export is checked on the same frames.
    """
    from training.synth.frames import render_frame

    if count < 1:
        raise InputError(f"number of parity frames must be >= 1, got {count}")
    return [render_frame(i, seed, width, height, taxonomy, 0.5)[0] for i in range(count)]
