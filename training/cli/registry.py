"""`qc registry list|show|register|promote`: the folder model registry (see `vision.registry`)."""

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
    Path | None,
    typer.Option(
        "--registry",
        help="Registry folder. Default: $QC_REGISTRY, else $XDG_DATA_HOME/conveyor-qc/registry (~/.local/share/...).",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON on stdout instead of a table.")]


def _open(root: Path | None) -> Any:
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
        bool, typer.Option("--verify", help="Also check the ONNX file's sha256 and graph against the card.")
    ] = False,
) -> None:
    """Print a version's model card (JSON) with the path of its ONNX file."""
    from vision.model_card import verify_against_graph

    reg = _open(registry)
    card = reg.production() if version == "production" else reg.get(version)
    path = reg.path_of(card)
    if verify:
        verify_against_graph(card, path)
    eval_path = reg.eval_path(card)
    out = {
        **card.model_dump(mode="json"),
        "path": str(path),
        "eval_report": None if eval_path is None else str(eval_path),
        **({"verified": True} if verify else {}),
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
    registered = reg.register(onnx, draft, stage=cast(Stage, stage), eval_report=eval_report)
    typer.echo(
        json.dumps({"version": registered.version, "stage": registered.stage, "path": str(reg.path_of(registered))})
    )


@app.command("promote")
def promote_cmd(
    version: Annotated[str, typer.Argument(help="Version id to move, e.g. v0003.")],
    stage: Annotated[str, typer.Option("--stage", help=f"Target stage: {', '.join(STAGES)}.")] = "production",
    registry: RegistryOpt = None,
) -> None:
    """Move a version to a stage. Promoting to production verifies the file and archives the previous production."""
    _check_stage(stage)
    reg = _open(registry)
    before = {c.version: c.stage for c in reg.list()}
    card = reg.set_stage(version, cast(Stage, stage))
    archived = [v for v, s in before.items() if s == "production" and v != version and reg.get(v).stage == "archived"]
    typer.echo(json.dumps({"version": card.version, "stage": card.stage, "archived": archived}))
