"""`qc export`: checkpoint -> ONNX (fp32 + fp16), parity-checked against the torch model, optionally registered."""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, cast

import typer

from vision.model_card import STAGES, Stage


@contextlib.contextmanager
def _library_output_to_stderr() -> Iterator[None]:
    """ultralytics logs (and onnxslim prints) to stdout; our stdout is for the summary or JSON only."""
    logger = logging.getLogger("ultralytics")
    moved = [h for h in logger.handlers if isinstance(h, logging.StreamHandler) and h.stream is sys.stdout]
    for h in moved:
        h.setStream(sys.stderr)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        for h in moved:
            h.setStream(sys.stdout)


def _read_json(path: Path, what: str) -> Any:
    from vision.errors import InputError

    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"cannot read {what} {path}: {exc}") from exc


def export(
    weights: Annotated[
        Path, typer.Option("--weights", help="ultralytics .pt checkpoint to export (e.g. runs/.../best.pt).")
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out", help="Output folder (created): model.onnx, model_fp16.onnx, card drafts, export_report.json."
        ),
    ],
    imgsz: Annotated[
        int, typer.Option("--imgsz", min=32, help="Input size the model is exported and checked at (a multiple of 32).")
    ] = 640,
    fp16: Annotated[
        bool, typer.Option("--fp16/--no-fp16", help="Also write an fp16 variant (float16 weights and I/O).")
    ] = True,
    parity_data: Annotated[
        Path | None,
        typer.Option(
            "--parity-data",
            help="Folder of images for the parity check (e.g. a `qc synth frames` data set). "
            "Default: frames rendered in memory by the synthetic generator.",
        ),
    ] = None,
    parity_frames: Annotated[
        int, typer.Option("--parity-frames", min=1, help="Number of frames the parity check runs on.")
    ] = 50,
    parity_conf: Annotated[
        float,
        typer.Option(
            "--parity-conf", min=0.0, max=1.0, help="Confidence threshold both sides use in the parity check."
        ),
    ] = 0.25,
    parity_iou: Annotated[
        float,
        typer.Option("--parity-iou", min=0.0, max=1.0, help="NMS IoU threshold both sides use in the parity check."),
    ] = 0.6,
    taxonomy: Annotated[
        Path | None, typer.Option("--taxonomy", help="Taxonomy YAML. Default: $QC_TAXONOMY or vision/taxonomy.yaml.")
    ] = None,
    dataset: Annotated[
        Path | None,
        typer.Option(
            "--dataset",
            help="Data set folder the model was trained on; "
            "its manifest.json gives the card's data set hash and counts.",
        ),
    ] = None,
    eval_report: Annotated[
        Path | None,
        typer.Option(
            "--eval",
            help="`qc eval --json` output for this model: goes into the card's metrics (and the registry keeps it).",
        ),
    ] = None,
    parent: Annotated[
        str | None, typer.Option("--parent", help="Registry version this model was fine-tuned from or replaces.")
    ] = None,
    register: Annotated[
        bool, typer.Option("--register", help="Register the exported files in the model registry when parity passes.")
    ] = False,
    registry: Annotated[
        str | None,
        typer.Option(
            "--registry",
            help="Registry folder or fsspec URL for --register. Default: $QC_REGISTRY, else "
            "$XDG_DATA_HOME/conveyor-qc/registry.",
        ),
    ] = None,
    stage: Annotated[str, typer.Option("--stage", help=f"Stage to register at: {', '.join(STAGES)}.")] = "candidate",
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the export report as one JSON object on stdout.")
    ] = False,
) -> None:
    """Export a checkpoint to ONNX with dynamic batch (fp32 and fp16), run both through the `vision` detector and
    the torch model through ultralytics on the same frames, and fail if boxes, classes or scores disagree beyond
    the stated tolerances. Writes export_report.json either way."""
    from rich.console import Console

    from training.export import export_model, load_parity_frames, synthetic_parity_frames
    from vision.errors import InputError
    from vision.model_card import DatasetRef
    from vision.taxonomy import Taxonomy

    if stage not in STAGES:
        raise typer.BadParameter(f"unknown stage {stage!r}; stages: {', '.join(STAGES)}", param_hint="--stage")
    tax = Taxonomy.load(taxonomy)
    dataset_ref = None
    if dataset is not None:
        from training.manifest import read_manifest

        manifest = read_manifest(dataset)
        counts = {"images": manifest.images, **{f"{k}_images": v.images for k, v in manifest.splits.items()}}
        dataset_ref = DatasetRef(hash=manifest.content_hash, path=str(dataset), counts=counts)
    eval_data = _read_json(eval_report, "evaluation report") if eval_report is not None else None
    if eval_data is not None and not isinstance(eval_data, dict):
        raise InputError(f"{eval_report}: expected the JSON object of `qc eval --json`")
    metrics = {k: v for k, v in (eval_data or {}).items() if k != "model"}

    console = Console(stderr=True)
    with console.status("loading parity frames") as status, _library_output_to_stderr():
        if parity_data is not None:
            frames = load_parity_frames(parity_data, parity_frames)
        else:
            frames = synthetic_parity_frames(parity_frames, tax)
        result = export_model(
            weights,
            out,
            imgsz,
            taxonomy=tax,
            half_variant=fp16,
            parity_frames=frames,
            parity_conf=parity_conf,
            parity_iou=parity_iou,
            dataset=dataset_ref,
            metrics=metrics,
            parent_version=parent,
            on_step=lambda msg: status.update(msg),
        )
        registered: list[dict[str, str]] = []
        if register:
            status.update("registering")
            registered = _register(result, registry, stage, eval_report)

    report = {**result.to_dict(), "registered": registered}
    if registered:
        # The report on disk says where the files went too.
        from vision.model_card import write_json_atomic

        write_json_atomic(result.report_path, report)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    _print_summary(result, registered)


def _register(result: Any, root: str | None, stage: str, eval_report: Path | None) -> list[dict[str, str]]:
    """fp32 first; the fp16 variant is registered as derived from it (its parent)."""
    from vision.registry import Registry

    reg = Registry.open(root)
    done: list[dict[str, str]] = []
    # The checkpoint goes with each version: the golden-frame gate compares it with the ONNX file before promotion.
    fp32 = reg.register(
        result.model("fp32").onnx_path,
        result.model("fp32").draft,
        stage=cast(Stage, stage),
        eval_report=eval_report,
        weights=result.checkpoint,
    )
    done.append({"dtype": "fp32", "version": fp32.version, "stage": fp32.stage, "registry": str(reg.root)})
    if any(m.dtype == "fp16" for m in result.models):
        m16 = result.model("fp16")
        draft = m16.draft.model_copy(update={"parent_version": fp32.version})
        # Registered as a candidate even when fp32 goes to production: one production model at a time.
        card = reg.register(
            m16.onnx_path,
            draft,
            stage="candidate" if stage == "production" else cast(Stage, stage),
            weights=result.checkpoint,
        )
        done.append({"dtype": "fp16", "version": card.version, "stage": card.stage, "registry": str(reg.root)})
    return done


def _print_summary(result: Any, registered: list[dict[str, str]]) -> None:
    def fmt(v: float | None) -> str:
        return "-" if v is None else f"{v:.4f}"

    typer.echo(f"exported {result.checkpoint} at imgsz {result.imgsz} in {result.seconds:.1f} s")
    for m in result.models:
        typer.echo(
            f"  {m.dtype}: {m.onnx_path} ({m.size_bytes / 1e6:.1f} MB, sha256 {m.sha256[:12]}), card {m.card_path.name}"
        )
        p = m.parity
        if p is None:
            typer.echo("        parity: not checked")
            continue
        t = p.tolerances
        typer.echo(
            f"        parity {'passed' if p.passed else 'FAILED'} on {len(p.frames)} frames: "
            f"boxes torch {p.torch_boxes} / onnx {p.onnx_boxes}, paired {p.matched}, "
            f"min IoU {fmt(p.min_iou)} (>= {t.min_iou}), max |Δscore| {fmt(p.max_score_diff)} (<= {t.max_score_diff}), "
            f"class mismatches {p.class_mismatches}, NMS order flips {p.nms_flips}, "
            f"unpaired {p.unmatched} ({p.borderline_unmatched} borderline), "
            f"violations {p.violating_boxes} (allowed {p.allowed_violations})"
        )
    typer.echo(f"report: {result.report_path}")
    for r in registered:
        typer.echo(f"registered {r['dtype']} as {r['version']} ({r['stage']}) in {r['registry']}")
