"""`qc registry list|show|register|promote|rollback`: the model registry on a folder or an fsspec URL
(see `vision.registry`). `promote` and `rollback` run the golden-frame gate (`training.golden`) on the version that
will serve before changing any stage."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, cast

import typer

from vision.errors import InputError
from vision.model_card import STAGES, Stage

app = typer.Typer(
    help="Model registry: versions of ONNX models with their model cards and stages.", no_args_is_help=True
)

RegistryOpt = Annotated[
    str | None,
    typer.Option(
        "--registry",
        help="Registry folder or fsspec URL (s3://bucket/models, file:///srv/qc). "
        "Default: $QC_REGISTRY, else $XDG_DATA_HOME/conveyor-qc/registry (~/.local/share/...).",
    ),
]
ReasonOpt = Annotated[str, typer.Option("--reason", help="Why; recorded in the stage history of each version moved.")]
SkipGoldenOpt = Annotated[
    bool,
    typer.Option(
        "--skip-golden",
        help="Change stages without the golden-frame gate (torch vs ONNX on fixed frames); recorded in the history.",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON on stdout instead of a table.")]
# Stages in which a version scores real frames: entering one runs the golden-frame gate first.
SERVING_STAGES = ("shadow", "canary", "production")


def _open(root: str | None) -> Any:
    from vision.registry import Registry

    return Registry.open(root)


def _check_stage(stage: str) -> None:
    if stage not in STAGES:
        raise typer.BadParameter(f"unknown stage {stage!r}; stages: {', '.join(STAGES)}", param_hint="--stage")


def _headline(metrics: dict[str, Any]) -> str:
    value = metrics.get("map50_95")
    return f"{value:.3f}" if isinstance(value, (int, float)) else "-"


@app.command("list")
def list_cmd(registry: RegistryOpt = None, as_json: JsonOpt = False) -> None:
    """List the registered versions, oldest first."""
    reg = _open(registry)
    cards = reg.list()
    if as_json:
        typer.echo(json.dumps([c.model_dump(mode="json") for c in cards], indent=2))
        return
    if not cards:
        typer.echo(f"no versions in {reg.root}")
        return
    header = ("version", "stage", "dtype", "input", "classes", "mAP50-95", "data set", "parent", "created (UTC)")
    rows = [
        (
            c.version,
            c.stage,
            c.dtype,
            "x".join(str(s) for s in c.input_size),
            str(len(c.classes)),
            _headline(c.metrics),
            c.dataset.hash[:12] if c.dataset else "-",
            c.parent_version or "-",
            c.created_at[:16].replace("T", " "),
        )
        for c in cards
    ]
    typer.echo(f"model registry {reg.root}")
    # Plain aligned columns: readable in a terminal and still one line per version when piped to grep.
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    for r in (header, *rows):
        typer.echo("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip())


@app.command("show")
def show_cmd(
    version: Annotated[str, typer.Argument(help="Version id, e.g. v0003, or 'production'.")],
    registry: RegistryOpt = None,
    verify: Annotated[
        bool,
        typer.Option("--verify", help="Also check the ONNX file (sha256, external data, graph) and weights' sha256."),
    ] = False,
) -> None:
    """Print a version's model card (JSON) with where its ONNX file lives and its lineage (parent, data set hash,
    code version, stored weights)."""
    from vision.model_card import verify_against_graph

    reg = _open(registry)
    card = reg.production() if version == "production" else reg.get(version)
    if verify:
        verify_against_graph(card, reg.path_of(card))
    eval_path = reg.eval_path(card)
    weights = reg.weights_path(card) if verify else None
    out = {
        **card.model_dump(mode="json"),
        "path": reg.location_of(card),
        "eval_report": None if eval_path is None else str(eval_path),
        # Lineage at a glance (the same fields are in the card above).
        "lineage": {
            "parent_version": card.parent_version,
            "dataset_hash": card.dataset.hash if card.dataset else None,
            "code_version": None if card.code_version is None else card.code_version.model_dump(mode="json"),
            "weights": card.weights_file is not None,
        },
        **({"verified": True, "weights_path": None if weights is None else str(weights)} if verify else {}),
    }
    typer.echo(json.dumps(out, indent=2))


@app.command("register")
def register_cmd(
    onnx: Annotated[Path, typer.Argument(help="ONNX file to register (copied into the registry).")],
    card: Annotated[
        Path, typer.Option("--card", help="Model card draft JSON (written by `qc export` next to the file).")
    ],
    registry: RegistryOpt = None,
    stage: Annotated[str, typer.Option("--stage", help=f"Initial stage: {', '.join(STAGES)}.")] = "candidate",
    eval_report: Annotated[
        Path | None,
        typer.Option(
            "--eval",
            help="`qc eval --json` report to keep with the version; fills the card's metrics when the draft has none.",
        ),
    ] = None,
    parent: Annotated[str | None, typer.Option("--parent", help="Override the card's parent version.")] = None,
    weights: Annotated[
        Path | None,
        typer.Option(
            "--weights", help="The torch checkpoint (.pt) the ONNX was exported from; stored with the version for the "
            "golden-frame gate."
        ),
    ] = None,
) -> None:
    """Register an ONNX file with its card: copy, hash, check the graph against the card, assign the next version."""
    from vision.model_card import ModelCardDraft

    _check_stage(stage)
    draft = ModelCardDraft.load(card)
    updates: dict[str, object] = {}
    if parent is not None:
        updates["parent_version"] = parent
    if eval_report is not None and eval_report.is_file() and not draft.metrics:
        report = json.loads(eval_report.read_text())
        if not isinstance(report, dict):
            raise InputError(f"{eval_report}: expected the JSON object of `qc eval --json`")
        updates["metrics"] = {k: v for k, v in report.items() if k != "model"}  # as `qc export --eval` does
    if updates:
        draft = ModelCardDraft.model_validate({**draft.model_dump(), **updates})
    reg = _open(registry)
    registered = reg.register(onnx, draft, stage=cast(Stage, stage), eval_report=eval_report, weights=weights)
    typer.echo(
        json.dumps({"version": registered.version, "stage": registered.stage, "path": reg.location_of(registered)})
    )


def _golden_or_exit(reg: Any, version: str, skip: bool, reason: str) -> str:
    """Run the golden-frame gate on the version about to serve; exit 1 (nothing changed) when it fails.

    Returns the reason to record: with ``--skip-golden`` it says the gate was skipped.
    """
    if skip:
        typer.secho(f"warning: golden-frame gate skipped for {version} (--skip-golden)", err=True, fg="yellow")
        return f"{reason} [golden-frame gate skipped]" if reason else "golden-frame gate skipped"
    from training.golden import GoldenGateError, run_golden_gate

    try:
        result = run_golden_gate(reg, version)
    except GoldenGateError as exc:
        typer.secho(f"error: {exc}; no stage changed", err=True, fg="red")
        raise typer.Exit(1) from None
    except ImportError as exc:  # an edge node: no torch/ultralytics to run the torch side
        typer.secho(
            f"error: the golden-frame gate needs the train extra (torch, ultralytics): {exc}; no stage changed "
            "(pass --skip-golden to change stages without it)",
            err=True,
            fg="red",
        )
        raise typer.Exit(1) from None
    if not result.passed:
        typer.secho(f"error: {result.summary()}\nno stage changed", err=True, fg="red")
        raise typer.Exit(1)
    typer.echo(result.summary().splitlines()[0], err=True)
    return reason


@app.command("promote")
def promote_cmd(
    version: Annotated[str, typer.Argument(help="Version id to move, e.g. v0003.")],
    stage: Annotated[str, typer.Option("--stage", help=f"Target stage: {', '.join(STAGES)}.")] = "production",
    registry: RegistryOpt = None,
    reason: ReasonOpt = "",
    skip_golden: SkipGoldenOpt = False,
) -> None:
    """Move a version to a stage, recording why. Moving to shadow, canary or production first runs the
    golden-frame gate (the version will score frames); promoting to production verifies the file and archives
    the previous production."""
    _check_stage(stage)
    reg = _open(registry)
    card = reg.get(version)
    if stage in SERVING_STAGES and card.stage != stage:
        reason = _golden_or_exit(reg, version, skip_golden, reason)
    before = {c.version: c.stage for c in reg.list()}
    card = reg.set_stage(version, cast(Stage, stage), reason=reason)
    archived = [v for v, s in before.items() if s == "production" and v != version and reg.get(v).stage == "archived"]
    typer.echo(json.dumps({"version": card.version, "stage": card.stage, "archived": archived}))


@app.command("rollback")
def rollback_cmd(
    registry: RegistryOpt = None,
    reason: ReasonOpt = "",
    skip_golden: SkipGoldenOpt = False,
) -> None:
    """Put the previous production version back in production (read from the stage history) and archive the
    current one, after the golden-frame gate passes on the version that will serve."""
    reg = _open(registry)
    current = reg.production()
    target = reg.rollback_target()
    reason = _golden_or_exit(reg, target.version, skip_golden, reason)
    restored = reg.rollback(reason=reason)
    typer.echo(json.dumps({"version": restored.version, "rolled_back": current.version}))
