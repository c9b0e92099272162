"""`qc quantize`: an fp32 ONNX detector -> int8 (static QDQ) for CPU edge nodes, judged by `qc eval` beside fp32."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Annotated, Any, cast

import typer

from vision.model_card import STAGES, Stage

EXIT_FAILED = 3  # the int8 model lost more mAP50 than allowed; files written, nothing registered

_MODEL_HELP = "fp32 ONNX model to quantize. Default: the shipped model (vision/default_model/model.onnx)."
_CALIBRATION_HELP = (
    "Data set of which --frames images, spread evenly over its sorted train split (else any split), calibrate the "
    "activation ranges: its folder (holding data.yaml) or the data.yaml file. A `qc dataset mix` is sampled across "
    "all its parts."
)
_EVAL_HELP = (
    "Labelled data set both models are evaluated on (evaluated whole unless --split says otherwise). "
    "Default: the calibration data set's test split (else val)."
)
_SPLIT_HELP = "Split of the evaluation data: train, val, test or all."
_OUT_HELP = "Output folder (created): model.onnx (int8), card.json, eval.json, eval_source.json, quantize_report.json."
_DROP_HELP = "Largest mAP50 loss against the source model that still passes (the int8 rule: 0.01)."
_KEEP_FLOAT_HELP = (
    "Keep the nodes whose names start with this prefix float (repeatable), e.g. '/model.0/' '/model.1/': the first "
    "two convolutions, which held most of what int8 lost on real photos. Recorded in the card."
)
_REGISTRY_HELP = (
    "Registry folder or fsspec URL for --register. Default: $QC_REGISTRY, else $XDG_DATA_HOME/conveyor-qc/registry."
)


def quantize(
    calibration: Annotated[Path, typer.Option("--calibration", help=_CALIBRATION_HELP)],
    out: Annotated[Path, typer.Option("--out", help=_OUT_HELP)],
    model: Annotated[Path | None, typer.Option("--model", help=_MODEL_HELP)] = None,
    frames: Annotated[int, typer.Option("--frames", min=1, help="Number of calibration frames.")] = 128,
    eval_data: Annotated[Path | None, typer.Option("--eval", help=_EVAL_HELP)] = None,
    split: Annotated[str | None, typer.Option("--split", help=_SPLIT_HELP)] = None,
    max_map50_drop: Annotated[
        float, typer.Option("--max-map50-drop", min=-1.0, max=1.0, help=_DROP_HELP)
    ] = 0.01,
    taxonomy: Annotated[
        Path | None, typer.Option("--taxonomy", help="Taxonomy YAML. Default: $QC_TAXONOMY or vision/taxonomy.yaml.")
    ] = None,
    register: Annotated[
        bool, typer.Option("--register", help="Register the int8 model as a new version when it passes.")
    ] = False,
    registry: Annotated[str | None, typer.Option("--registry", help=_REGISTRY_HELP)] = None,
    stage: Annotated[str, typer.Option("--stage", help=f"Stage to register at: {', '.join(STAGES)}.")] = "candidate",
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as one JSON object on stdout.")] = False,
    keep_float: Annotated[
        list[str] | None, typer.Option("--keep-float", help=_KEEP_FLOAT_HELP)
    ] = None,
) -> None:
    """Quantize an fp32 detector to int8 (ONNX Runtime static QDQ, calibrated on frames letterboxed by our
    detector), evaluate both models on the same labelled frames and compare. Exit 0 when the int8 mAP50 is within
    --max-map50-drop of the source's, 3 when it is not (the files are written, nothing is registered), 2 for bad
    input."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from training.quantize_check import quantize_and_check
    from vision.model_card import write_json_atomic
    from vision.registry import DEFAULT_MODEL_DIR, ONNX_NAME
    from vision.taxonomy import Taxonomy

    if stage not in STAGES:
        raise typer.BadParameter(f"unknown stage {stage!r}; stages: {', '.join(STAGES)}", param_hint="--stage")
    if (registry is not None or stage != "candidate") and not register:
        raise typer.BadParameter("--registry and --stage only apply with --register", param_hint="--register")
    tax = Taxonomy.load(taxonomy)
    source = model if model is not None else DEFAULT_MODEL_DIR / ONNX_NAME
    console = Console(stderr=True)
    with Progress(
        TextColumn("{task.description:<12}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar, contextlib.redirect_stdout(sys.stderr):  # onnxruntime.quantization prints; stdout is the report's
        tasks: dict[str, Any] = {}

        def progress(stage_name: str, done: int, total: int) -> None:
            if stage_name not in tasks:
                tasks[stage_name] = bar.add_task(stage_name, total=total)
            bar.update(tasks[stage_name], completed=done, total=total)

        outcome = quantize_and_check(
            source,
            out,
            calibration,
            taxonomy=tax,
            frames=frames,
            eval_data=eval_data,
            split=split,
            max_map50_drop=max_map50_drop,
            keep_float=tuple(keep_float or ()),
            on_step=lambda msg: console.print(msg),
            progress=progress,
        )
        registered: list[dict[str, str]] = []
        if register and outcome.passed:
            registered = [_register(outcome, registry, stage)]
    report = {**outcome.to_dict(), "registered": registered}
    if registered:
        write_json_atomic(outcome.report_path, report)  # the report on disk says where the model went too
    if register and not outcome.passed:
        typer.secho("not registered: the int8 model failed the mAP50 bar", err=True, fg=typer.colors.YELLOW)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        worst = min(tax.conditions, key=lambda c: c.freshness).name
        _print_table(report, worst, outcome.report_path)
    if not outcome.passed:
        raise typer.Exit(EXIT_FAILED)


def _register(outcome: Any, root: str | None, stage: str) -> dict[str, str]:
    """Register the int8 file with its card and eval report. Its parent is the registry version holding exactly the
    source's bytes (the card's parent_version if that one does, else any); none if the registry lacks the source."""
    from vision.registry import Registry

    reg = Registry.open(root)
    sha = outcome.model.source_sha256
    holders = [c.version for c in reg.list() if c.onnx_sha256 == sha]
    wanted = outcome.draft.parent_version
    parent = wanted if wanted in holders else (holders[-1] if holders else None)
    if parent is None:
        typer.secho(
            f"warning: the source model is not in registry {reg.root}; the int8 version is registered without a parent",
            err=True,
            fg=typer.colors.YELLOW,
        )
    draft = outcome.draft.model_copy(update={"parent_version": parent})
    # The int8 detector keeps its source's grader (same version unit): the parent's stored file, when it is that one.
    grader = None
    if draft.grader is not None:
        source = reg.get(parent) if parent is not None else None
        if source is not None and source.grader is not None and source.grader.sha256 == draft.grader.sha256:
            grader = reg.grader_path(source)
        else:
            typer.secho("warning: the source's grader is not in this registry; the int8 version is registered "
                        "without it (its items are graded by the detector alone)", err=True, fg=typer.colors.YELLOW)
            draft = draft.model_copy(update={"grader": None})
    card = reg.register(
        outcome.model.onnx_path, draft, stage=cast(Stage, stage), eval_report=outcome.eval_path, grader=grader,
        reason="qc quantize",
    )
    return {"dtype": "int8", "version": card.version, "stage": card.stage, "registry": str(reg.root)}


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _print_table(r: dict[str, Any], worst: str, report_path: Path) -> None:
    """fp32 vs int8 side by side; ``worst`` is the condition whose recall is shown (the lowest freshness: rotten,
    the one a missed detection costs most)."""
    src, q = r["metrics"]["source"], r["metrics"]["int8"]
    ev = r["eval"]
    typer.echo(f"source {r['source']['path']}  ->  int8 {r['int8']['path']}")
    typer.echo(f"eval   {ev['data']} [{ev['split']}]: {ev['images']} images, {ev['gt_boxes']} boxes")
    typer.echo(f"{'':<18}{'fp32':>13}{'int8':>13}")
    rows = [
        ("mAP50", _fmt(src["map50"], 4), _fmt(q["map50"], 4)),
        ("mAP50-95", _fmt(src["map50_95"], 4), _fmt(q["map50_95"], 4)),
        (f"{worst} recall", _fmt(src["condition_recall"][worst]), _fmt(q["condition_recall"][worst])),
        (
            "flags P / R",
            f"{_fmt(src['flags']['precision'], 2)} / {_fmt(src['flags']['recall'], 2)}",
            f"{_fmt(q['flags']['precision'], 2)} / {_fmt(q['flags']['recall'], 2)}",
        ),
        ("size MB", f"{src['size_bytes'] / 1e6:.1f}", f"{q['size_bytes'] / 1e6:.1f}"),
    ]
    for name, a, b in rows:
        typer.echo(f"{name:<18}{a:>13}{b:>13}")
    verdict = "passed" if r["passed"] else "FAILED"
    typer.echo(f"mAP50 drop {r['map50_drop']:.4f} (allowed {r['max_map50_drop']}): {verdict}")
    typer.echo(f"report: {report_path}")
    for reg in r["registered"]:
        typer.echo(f"registered int8 as {reg['version']} ({reg['stage']}) in {reg['registry']}")
