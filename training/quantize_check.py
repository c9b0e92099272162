"""Does an int8 model count? Quantize (`training.quantize`), evaluate source and int8 on the same frames, decide.

The int8 rule: an int8 deployment path counts only with its `qc eval` mAP50 within `DEFAULT_MAX_MAP50_DROP` (0.01) of
the fp32 model's, reported beside it. `quantize_and_check` writes, in ``out_dir``::

    model.onnx             the int8 QDQ graph (float32 input and output)
    card.json              its ModelCardDraft: the source's card with dtype int8, parent_version = the source's
                           version, metrics = the int8 evaluation, training.quantization = how it was made
    eval.json              the int8 model's `qc eval --json` report (the registry keeps it as the version's eval.json)
    eval_source.json       the source model's, on the same frames
    quantize_report.json   both models' headline metrics and sizes, the mAP50 drop, ``passed``, the settings
    grader.onnx            the source's grader (same bytes), when its card names one: the int8 detector and that
                           grader are one version, so the folder serves and inspects as it is

The files are written whether or not the int8 model passes; registering it is the caller's decision.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from training.evaluate import EvalReport, evaluate_model
from training.quantize import DEFAULT_FRAMES, ONE_CPU_SESSION, Int8Model, QuantizeError, quantize_int8
from training.yolo_dataset import ALL_SPLITS, image_paths, load_dataset
from vision.code_version import current_code_version
from vision.errors import InputError, ModelLoadError
from vision.model_card import (
    GraderSpec,
    LetterboxSpec,
    ModelCard,
    ModelCardDraft,
    graph_mismatches,
    sha256_file,
    write_json_atomic,
)
from vision.registry import CARD_NAME, EVAL_NAME, grader_file_for
from vision.taxonomy import Taxonomy

DEFAULT_MAX_MAP50_DROP = 0.01
REPORT_NAME = "quantize_report.json"
SOURCE_EVAL_NAME = "eval_source.json"
# mAP50 values are differences of floats rounded to 6 decimals; 0.9085 - 0.8985 must not fail a 0.01 bar.
_DROP_SLACK = 1e-9


def judge(source_map50: float | None, int8_map50: float | None, max_drop: float) -> tuple[float, bool]:
    """(mAP50 drop = source - int8, passed = drop <= ``max_drop``). InputError when either mAP50 is missing (an
    evaluation split without labelled boxes cannot decide)."""
    if source_map50 is None or int8_map50 is None:
        raise InputError("the evaluation data has no labelled boxes, so mAP50 is undefined; pass labelled --eval data")
    drop = float(source_map50) - float(int8_map50)
    return drop, drop <= max_drop + _DROP_SLACK


def headline(report: dict[str, Any], size_bytes: int) -> dict[str, Any]:
    """The figures the quantize report compares, from a `qc eval --json` report: mAP50, mAP50-95, recall per
    condition, item-flag precision/recall, and the model file's size."""
    flags = report.get("flags") or {}
    return {
        "map50": report["map50"],
        "map50_95": report["map50_95"],
        "condition_recall": {name: m["recall"] for name, m in report["conditions"].items()},
        "flags": {"precision": flags.get("precision"), "recall": flags.get("recall")},
        "size_bytes": size_bytes,
    }


def source_card(model: Path, taxonomy: Taxonomy) -> tuple[ModelCardDraft, str | None, Path | None]:
    """(card draft, registry version or None, card file or None) of the source model.

    The card beside the model (``card.json``, as in a registry version or `vision/default_model`, else
    ``<stem>.card.json`` as `qc export` writes) must describe it: a full card's sha256 must be the file's, and the
    graph must match either card. Without a card, one is built from the taxonomy and the graph, as `qc export` does.
    """
    import onnxruntime as ort

    try:
        session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime's own exception types
        raise ModelLoadError(f"ONNX Runtime cannot load {model}: {exc}") from exc
    for candidate in (model.parent / CARD_NAME, model.with_suffix(".card.json")):
        if candidate.is_file():
            break
    else:
        draft = _draft_from_graph(model, taxonomy)
        return draft, None, None
    draft = ModelCardDraft.load(candidate)
    version = None
    try:
        full = ModelCard.load(candidate)
    except ModelLoadError:
        full = None  # a draft: no identity to check
    if full is not None:
        digest = sha256_file(model)
        if digest != full.onnx_sha256:
            raise InputError(
                f"{candidate} describes another file (sha256 {full.onnx_sha256[:12]}…, {model.name} has "
                f"{digest[:12]}…); move the stale card away or quantize the model it describes"
            )
        version = full.version
    problems = graph_mismatches(draft, session)
    if list(draft.classes) != list(taxonomy.class_names):
        problems.append(f"card classes {list(draft.classes)} differ from the taxonomy's {list(taxonomy.class_names)}")
    if problems:
        raise InputError(f"{model} does not match its card {candidate}: " + "; ".join(problems))
    return draft, version, candidate


def _draft_from_graph(model: Path, taxonomy: Taxonomy) -> ModelCardDraft:
    from vision.detector import Detector

    detector = Detector(model, taxonomy, runtime=ONE_CPU_SESSION)
    detector.close()
    return ModelCardDraft(
        classes=list(taxonomy.class_names),
        taxonomy=taxonomy.to_dict(),
        input_size=detector.imgsz,
        letterbox=LetterboxSpec(stride=detector.stride, pad_value=114, center=True, dynamic_hw=detector.dynamic_hw),
    )


@dataclass(frozen=True)
class QuantizeOutcome:
    """Everything `quantize_and_check` produced; ``passed``: the int8 mAP50 is within the allowed drop."""

    model: Int8Model
    source_version: str | None
    source_card: Path | None
    source_eval: EvalReport
    int8_eval: EvalReport
    map50_drop: float
    max_map50_drop: float
    passed: bool
    draft: ModelCardDraft
    out_dir: Path
    calibration_in_eval: int = 0  # calibration frames that are evaluation frames too: they flatter the int8 model
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def report_path(self) -> Path:
        return self.out_dir / REPORT_NAME

    @property
    def card_path(self) -> Path:
        return self.out_dir / CARD_NAME

    @property
    def eval_path(self) -> Path:
        return self.out_dir / EVAL_NAME

    def to_dict(self) -> dict[str, Any]:
        """The JSON of ``quantize_report.json`` and ``qc quantize --json``."""
        built = self.model.to_dict()
        source, int8 = self.source_eval.to_dict(), self.int8_eval.to_dict()
        return {
            "passed": self.passed,
            "map50_drop": round(self.map50_drop, 6),
            "max_map50_drop": self.max_map50_drop,
            "source": {
                **built["source"],
                "version": self.source_version,
                "card": None if self.source_card is None else str(self.source_card),
                "eval": str(self.out_dir / SOURCE_EVAL_NAME),
            },
            "int8": {**built["int8"], "card": str(self.card_path), "eval": str(self.eval_path)},
            "eval": {
                "data": source["data"]["path"],
                "split": source["data"]["split"],
                "images": source["counts"]["images"],
                "gt_boxes": source["counts"]["gt_boxes"],
                "provider": {"source": source["provider"], "int8": int8["provider"]},
                "conf": source["conf"],
                "calibration_frames_in_eval": self.calibration_in_eval,
            },
            "metrics": {
                "source": headline(source, self.model.source_size_bytes),
                "int8": headline(int8, self.model.size_bytes),
            },
            "calibration": built["calibration"],
            "settings": {**built["settings"], "max_map50_drop": self.max_map50_drop},
            "seconds": {k: round(v, 2) for k, v in self.seconds.items()},
            "registered": [],  # filled by `qc quantize --register` when the model passed and went into a registry
        }


def quantize_and_check(
    model: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    calibration_dataset: str | os.PathLike[str],
    *,
    taxonomy: Taxonomy,
    frames: int = DEFAULT_FRAMES,
    eval_data: str | os.PathLike[str] | None = None,
    split: str | None = None,
    max_map50_drop: float = DEFAULT_MAX_MAP50_DROP,
    batch: int = 8,
    keep_float: Sequence[str] = (),
    on_step: Callable[[str], None] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> QuantizeOutcome:
    """Quantize ``model`` to int8 in ``out_dir``, evaluate both on ``eval_data`` and write the files listed in the
    module docstring.

    ``eval_data`` defaults to the calibration data set, on its default evaluation split (test, else val); a data
    set given as ``eval_data`` is evaluated whole (``"all"``), as `qc eval` does, unless ``split`` says otherwise.
    ``keep_float`` names node prefixes left float (see `quantize_int8`). ``progress(stage, done, total)`` reports
    "calibration", "eval fp32" and "eval int8"; ``on_step(message)`` names each step. Bad inputs raise QCError
    subclasses; a missing or bad model, data set, split or setting does so before anything is written (an
    evaluation split without labelled boxes only after quantizing).
    """
    step = on_step or (lambda _msg: None)
    source, out = Path(model), Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"output folder {out} is a file")
    if not source.is_file():
        what = "is a directory, not a model file" if source.is_dir() else "not found"
        raise ModelLoadError(f"model file {what}: {source}")
    if not -1.0 <= max_map50_drop <= 1.0:
        raise InputError(f"--max-map50-drop must be within [-1, 1], got {max_map50_drop}")
    draft, version, card_file = source_card(source, taxonomy)
    eval_root = Path(eval_data) if eval_data is not None else Path(calibration_dataset)
    # A missing or malformed evaluation data set (or split) fails here, before the quantization runs.
    eval_set = load_dataset(eval_root)
    eval_split = split or (ALL_SPLITS if eval_data is not None else eval_set.default_eval_split)
    evaluated = {p.resolve() for p in image_paths(eval_set, eval_split)}

    def reporter(stage: str) -> Callable[[int, int], None] | None:
        return None if progress is None else (lambda done, total: progress(stage, done, total))

    seconds: dict[str, float] = {}
    step(f"quantizing {source.name}")
    built = quantize_int8(source, out, calibration_dataset, frames, taxonomy=taxonomy, keep_float=keep_float,
                          progress=reporter("calibration"))
    seconds["quantize"] = built.seconds
    overlap = sum(p.resolve() in evaluated for p in built.calibration.images)
    evals: dict[str, EvalReport] = {}
    for name, path in (("fp32", source), ("int8", built.onnx_path)):
        step(f"evaluating {name}")
        start = time.monotonic()
        evals[name] = evaluate_model(
            eval_root,
            model_path=path,
            taxonomy=taxonomy,
            split=eval_split,
            batch=batch,
            progress=reporter(f"eval {name}"),
        )
        seconds[f"eval_{name}"] = time.monotonic() - start
    drop, passed = judge(evals["fp32"].coco.map50, evals["int8"].coco.map50, max_map50_drop)
    int8_eval, source_eval = evals["int8"].to_dict(), evals["fp32"].to_dict()
    write_json_atomic(out / EVAL_NAME, int8_eval)
    write_json_atomic(out / SOURCE_EVAL_NAME, source_eval)

    note = {
        **built.to_dict()["settings"],
        "method": "onnxruntime static post-training quantization (`qc quantize`)",
        "source": {"path": str(source), "sha256": built.source_sha256, "version": version},
        "calibration": built.calibration.to_dict(),
        "eval": {"data": int8_eval["data"], "map50_source": source_eval["map50"], "map50_int8": int8_eval["map50"]},
        "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    int8_draft = ModelCardDraft.model_validate(
        {
            **draft.model_dump(),
            "dtype": "int8",
            "parent_version": version,
            "metrics": {k: v for k, v in int8_eval.items() if k != "model"},
            "training": {**draft.training, "quantization": note},
            "code_version": current_code_version().model_dump(),
        }
    )
    _check_card(int8_draft, built.onnx_path)
    int8_draft.save(out / CARD_NAME)
    if int8_draft.grader is not None:
        step(_copy_grader(source, int8_draft.grader, out))
    outcome = QuantizeOutcome(
        model=built,
        source_version=version,
        source_card=card_file,
        source_eval=evals["fp32"],
        int8_eval=evals["int8"],
        map50_drop=drop,
        max_map50_drop=max_map50_drop,
        passed=passed,
        draft=int8_draft,
        out_dir=out,
        calibration_in_eval=overlap,
        seconds=seconds,
    )
    write_json_atomic(outcome.report_path, outcome.to_dict())
    return outcome


def _copy_grader(source: Path, grader: GraderSpec, out: Path) -> str:
    """Copy the source's grader (found as `grader_file_for` finds it, with the card's sha256) into ``out``; the
    message says what was done, or that the grader must be given by hand (``--grader``) where none was found."""
    found = grader_file_for(source, grader)
    target = out / grader.file
    if not found.is_file() or sha256_file(found) != grader.sha256:
        return (f"the source's grader {grader.file} (sha256 {grader.sha256[:12]}…) was not found beside {source}: "
                f"give it as --grader where this folder's model is used")
    if found.resolve() != target.resolve():
        shutil.copyfile(found, target)
    return f"grader {found} copied to {target}"


def _check_card(draft: ModelCardDraft, path: Path) -> None:
    """The int8 file must satisfy its own card (the registry checks the same before accepting it)."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    problems = graph_mismatches(draft, session)
    if problems:
        raise QuantizeError(f"the quantized {path} does not match its card: " + "; ".join(problems))
