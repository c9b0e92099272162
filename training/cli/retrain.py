"""`qc retrain`: reviews + data -> fine-tuned candidate -> promotion gate -> registry (exit 0 passed, 3 failed)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vision.taxonomy import DEFAULT_FLAG_BELOW

_TOL_HELP = "How much worse than production {what} may be (absolute, 0..1; negative: must improve by that much)."


def retrain(
    base: Annotated[Path, typer.Option("--base", help="Base data set folder (e.g. `qc synth frames` output).")],
    holdout: Annotated[
        Path, typer.Option("--holdout", help="Frozen hold-out data set: never trained on, every split evaluated.")
    ],
    out: Annotated[Path, typer.Option("--out", help="Run folder (new or empty): data, weights, ONNX, reports.")],
    imports: Annotated[
        list[Path] | None, typer.Option("--import", help="An imported data set folder (`qc dataset import-*`); repeat.")
    ] = None,
    reviews: Annotated[
        Path | None, typer.Option("--reviews", help="Reviewed frames: the output of `qc dataset from-reviews`.")
    ] = None,
    registry: Annotated[
        str | None, typer.Option("--registry", help="Registry folder or fsspec URL. Default: $QC_REGISTRY, else XDG.")
    ] = None,
    weights: Annotated[
        Path | None,
        typer.Option("--weights", help="Fine-tune these .pt weights instead of those stored with the production model."),
    ] = None,
    epochs: Annotated[int, typer.Option("--epochs", min=1, help="Training epochs.")] = 10,
    imgsz: Annotated[int, typer.Option("--imgsz", min=32, help="Training and export image size (multiple of 32).")] = 320,
    batch: Annotated[int, typer.Option("--batch", min=1, help="Images per batch.")] = 16,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    device: Annotated[str, typer.Option("--device", help="'cpu' or a CUDA device index such as '0'.")] = "cpu",
    workers: Annotated[int, typer.Option("--workers", min=0, help="Data-loader worker processes.")] = 2,
    cache: Annotated[bool, typer.Option("--cache/--no-cache", help="Cache decoded images in RAM.")] = True,
    review_weight: Annotated[
        int, typer.Option("--review-weight", min=1, help="Each reviewed training frame is used this many times.")
    ] = 3,
    review_holdout: Annotated[
        float,
        typer.Option("--review-holdout", min=0.0, max=0.99,
                     help="Share of reviewed frames held back for evaluation (chosen by image hash: stable)."),
    ] = 0.2,
    conf: Annotated[float, typer.Option("--conf", min=0.0, max=1.0, help="Operating confidence threshold.")] = 0.25,
    flag_below: Annotated[
        float, typer.Option("--flag-below", min=0.0, max=1.0, help="Freshness below which an item is flagged.")
    ] = DEFAULT_FLAG_BELOW,
    tol_map50: Annotated[float, typer.Option("--tol-map50", help=_TOL_HELP.format(what="mAP50"))] = 0.02,
    tol_flag_precision: Annotated[
        float, typer.Option("--tol-flag-precision", help=_TOL_HELP.format(what="flag precision"))
    ] = 0.03,
    tol_flag_recall: Annotated[
        float, typer.Option("--tol-flag-recall", help=_TOL_HELP.format(what="flag recall"))
    ] = 0.03,
    parity_frames: Annotated[
        int, typer.Option("--parity-frames", min=1, help="Hold-out frames for the torch/ONNX parity check.")
    ] = 16,
    parity_conf: Annotated[
        float,
        typer.Option("--parity-conf", min=0.0, max=1.0,
                     help="Confidence threshold of the parity check (lower it for barely trained models)."),
    ] = 0.25,
    taxonomy: Annotated[
        Path | None, typer.Option("--taxonomy", help="Taxonomy YAML. Default: $QC_TAXONOMY or vision/taxonomy.yaml.")
    ] = None,
    mlflow_uri: Annotated[
        str | None, typer.Option("--mlflow-uri", help="MLflow tracking URI. Default: file:./mlruns.")
    ] = None,
    mlflow: Annotated[bool, typer.Option("--mlflow/--no-mlflow", help="Log the run to MLflow (if installed).")] = True,
) -> None:
    """Fine-tune the production model on base + imported + reviewed data, evaluate it and production on the frozen
    hold-out and the held-back reviewed frames, and register it as `candidate` only if the promotion gate passes.
    Writes OUT/retrain_report.json either way. Exit code: 0 gate passed, 3 gate failed, 2 bad input."""
    from training.gate import GateTolerances
    from training.retrain import FineTune, RetrainChecks, RetrainConfig, RetrainData, check_inputs, run_retrain
    from training.tracking import tracking_run
    from vision.registry import Registry
    from vision.taxonomy import Taxonomy

    config = RetrainConfig(
        out=out,
        data=RetrainData(base=base, holdout=holdout, imports=tuple(imports or ()), reviews=reviews,
                         review_weight=review_weight, review_holdout=review_holdout),
        fine_tune=FineTune(weights=weights, epochs=epochs, imgsz=imgsz, batch=batch, seed=seed, device=device,
                           workers=workers, cache=cache),
        checks=RetrainChecks(conf=conf, flag_below=flag_below, parity_frames=parity_frames, parity_conf=parity_conf),
        tolerances=GateTolerances(map50=tol_map50, flag_precision=tol_flag_precision, flag_recall=tol_flag_recall),
    )
    check_inputs(config)  # before opening (and maybe seeding) a registry
    tax = Taxonomy.load(taxonomy)
    reg = Registry.open(registry)

    def echo(msg: str) -> None:
        typer.echo(f"[qc retrain] {msg}", err=True)

    def on_step(number: int, name: str, detail: str) -> None:
        echo(f"{number}/6 {name}: {detail}")

    def on_epoch(epoch: int, total: int, metrics: dict[str, float]) -> None:
        echo(f"2/6 train: epoch {epoch}/{total}  val mAP50 {metrics.get('metrics/mAP50(B)', float('nan')):.3f}")

    with tracking_run("qc-retrain", out.name, uri=mlflow_uri, enabled=mlflow, info=echo) as run:
        result = run_retrain(config, reg, tax, on_step=on_step, on_epoch=on_epoch, tracker=run)
    typer.echo(result.gate.reason)
    if result.candidate is not None:
        typer.echo(f"candidate: {result.candidate.version} (parent {result.production.version})")
    typer.echo(f"report: {result.report_path}")
    if result.exit_code:
        raise typer.Exit(result.exit_code)
