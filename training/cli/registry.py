"""`qc registry list|show|register|promote|rollback`: the model registry on a folder or an fsspec URL
(see `vision.registry`). `promote` and `rollback` run the golden-frame gate (`training.golden`) on the version that
will serve before changing any stage."""

from __future__ import annotations

import json
import os
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


def _origin(registry: str | None) -> str:
    """Where the registry in use came from, for the header a user reads: which registry did this command open?"""
    if registry is not None:
        return "given by --registry"
    if os.environ.get("QC_REGISTRY"):
        return "from $QC_REGISTRY"
    return "the per-user default; choose another with --registry or $QC_REGISTRY"


def _shipped_parents() -> dict[str, str]:
    """ONNX sha256 -> parent version, from the cards shipped in the package (the model and its history)."""
    from vision.registry import DEFAULT_MODEL_DIR
    from vision.registry.layout import CARD_NAME, SHIPPED_HISTORY

    cards = [DEFAULT_MODEL_DIR / CARD_NAME, *sorted((DEFAULT_MODEL_DIR / SHIPPED_HISTORY).glob(f"*/{CARD_NAME}"))]
    out: dict[str, str] = {}
    for path in cards:
        try:
            raw = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(raw, dict) and raw.get("onnx_sha256") and raw.get("parent_version"):
            out[str(raw["onnx_sha256"])] = str(raw["parent_version"])
    return out


def _parent(card: Any, shipped: dict[str, str]) -> str | None:
    """The version ``card``'s model was fine-tuned from. A version seeded from the shipped model is stored without
    the parent its shipped card names when this registry lacks that parent; the lineage is still that parent."""
    return card.parent_version or shipped.get(card.onnx_sha256)


def _parent_cell(parent: str | None, versions: set[str]) -> str:
    if parent is None:
        return "-"
    return parent if parent in versions else f"{parent} (not in this registry)"


def _headline(metrics: dict[str, Any]) -> str:
    value = metrics.get("map50_95")
    return f"{value:.3f}" if isinstance(value, (int, float)) else "-"


def _grader_cell(grader: Any) -> str:
    """A version's grader in one cell: input size / classes, and ``x4`` when it reads each crop in four turns."""
    if grader is None:
        return "-"
    return f"{grader.input_size}px/{len(grader.classes)}" + (f" x{grader.turns}" if grader.turns > 1 else "")


@app.command("list")
def list_cmd(registry: RegistryOpt = None, as_json: JsonOpt = False) -> None:
    """List the registered versions, oldest first."""
    reg = _open(registry)
    cards = reg.list()
    if as_json:
        typer.echo(json.dumps([c.model_dump(mode="json") for c in cards], indent=2))
        return
    typer.echo(f"model registry {reg.root} ({_origin(registry)})")
    if not cards:
        typer.echo("no versions")
        return
    shipped, versions = _shipped_parents(), {c.version for c in cards}
    header = ("version", "stage", "dtype", "input", "classes", "grader", "mAP50-95", "data set", "parent",
              "created (UTC)")
    rows = [
        (
            c.version,
            c.stage,
            c.dtype,
            "x".join(str(s) for s in c.input_size),
            str(len(c.classes)),
            _grader_cell(c.grader),
            _headline(c.metrics),
            c.dataset.hash[:12] if c.dataset else "-",
            _parent_cell(_parent(c, shipped), versions),
            c.created_at[:16].replace("T", " "),
        )
        for c in cards
    ]
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
        typer.Option("--verify", help="Also check the ONNX files (detector and grader: sha256, external data, graph) "
                                      "and the weights' sha256."),
    ] = False,
) -> None:
    """Print a version's model card (JSON) with where its ONNX files live (detector, and grader when it has one) and
    its lineage (parent, data set hash, code version, stored weights)."""
    reg = _open(registry)
    card = reg.production() if version == "production" else reg.get(version)
    if verify:
        reg.load_verified(card.version)  # the detector and, when the version has one, its grader
    eval_path = reg.eval_path(card)
    weights = reg.weights_path(card) if verify else None
    parent = _parent(card, _shipped_parents())
    out = {
        **card.model_dump(mode="json"),
        "path": reg.location_of(card),
        "grader_path": None if card.grader is None else reg.location_of(card, card.grader.file),
        "eval_report": None if eval_path is None else str(eval_path),
        # Lineage at a glance (the same fields are in the card above).
        "lineage": {
            "parent_version": parent,
            "parent_in_registry": None if parent is None else parent in {c.version for c in reg.list()},
            "dataset_hash": card.dataset.hash if card.dataset else None,
            "code_version": None if card.code_version is None else card.code_version.model_dump(mode="json"),
            "weights": card.weights_file is not None,
            "grader": None if card.grader is None else {
                "classes": len(card.grader.classes), "input_size": card.grader.input_size,
                "produce_weight": card.grader.produce_weight, "turns": card.grader.turns,
                "training": card.grader.training,
            },
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
    grader: Annotated[
        Path | None,
        typer.Option(
            "--grader", help="The second-stage freshness grader (a YOLO classify export to ONNX) registered with the "
            "detector as one version: required when the card has a grader section (its sha256 and the class names "
            "embedded in the graph must match it); without one, the section is read from the file (classes from "
            "its embedded names, square input size)."
        ),
    ] = None,
    grader_produce_weight: Annotated[
        float | None,
        typer.Option(
            "--grader-produce-weight", min=0.0,
            help="Override the grader section's produce_weight: its say in the produce beside the detector's vote.",
        ),
    ] = None,
    grader_turns: Annotated[
        int | None,
        typer.Option(
            "--grader-turns", min=1, max=4,
            help="Override the grader section's turns: 4 grades each crop in its four quarter turns and averages "
            "them (4 grader runs per crop), 1 grades the crop as cut.",
        ),
    ] = None,
) -> None:
    """Register an ONNX file with its card: copy, hash, check the graph against the card, assign the next version.
    With --grader, the grader is stored, hashed and checked with it, as one version."""
    from vision.model_card import ModelCardDraft

    _check_stage(stage)
    draft = ModelCardDraft.load(card)
    updates: dict[str, object] = {}
    spec = draft.grader
    if grader is not None and spec is None:
        from vision.grader import grader_spec_from_onnx

        spec = grader_spec_from_onnx(grader, training={"source": str(grader), "note": "section read from the file "
                                                       "by qc registry register"})
    if spec is not None and grader_produce_weight is not None:
        spec = spec.model_copy(update={"produce_weight": grader_produce_weight})
    if spec is not None and grader_turns is not None:
        spec = spec.model_copy(update={"turns": grader_turns})
    if spec is not draft.grader:
        updates["grader"] = None if spec is None else spec.model_dump()
    if parent is not None:
        updates["parent_version"] = parent
    if eval_report is not None and eval_report.is_file() and not draft.metrics:
        report = json.loads(eval_report.read_text())
        if not isinstance(report, dict):
            raise InputError(f"{eval_report}: expected the JSON object of `qc eval --json`")
        updates["metrics"] = {k: v for k, v in report.items() if k != "model"}  # as `qc export --eval` does
    if updates:
        from pydantic import ValidationError

        try:
            draft = ModelCardDraft.model_validate({**draft.model_dump(), **updates})
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'card'}: {e['msg']}" for e in exc.errors())
            raise InputError(f"{card} with the given options is not a valid card: {problems}") from None
    reg = _open(registry)
    registered = reg.register(onnx, draft, stage=cast(Stage, stage), eval_report=eval_report, weights=weights,
                              grader=grader)
    typer.echo(
        json.dumps({"version": registered.version, "stage": registered.stage, "path": reg.location_of(registered),
                    "grader": None if registered.grader is None
                    else reg.location_of(registered, registered.grader.file)})
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
