"""`qc train`: train a detector on an ultralytics-format data set."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def train(
    data: Annotated[Path, typer.Option(help="Data set folder (with data.yaml) or the data.yaml itself.")],
    out: Annotated[Path, typer.Option(help="Run folder: weights/best.pt, weights/last.pt, train_report.json.")] = Path(
        "runs/train"
    ),
    epochs: Annotated[int, typer.Option(help="Training epochs.")] = 25,
    imgsz: Annotated[int, typer.Option(help="Square training image size (long side), a multiple of 32.")] = 320,
    batch: Annotated[int, typer.Option(help="Images per batch.")] = 16,
    seed: Annotated[int, typer.Option(help="Random seed (ultralytics deterministic mode).")] = 0,
    device: Annotated[str, typer.Option(help="'cpu' or a CUDA device index such as '0'.")] = "cpu",
    workers: Annotated[int, typer.Option(help="Data-loader worker processes.")] = 2,
    weights: Annotated[
        Path | None, typer.Option(help="Start from these .pt weights instead of a fresh yolo11n.yaml model.")
    ] = None,
    cache: Annotated[bool, typer.Option(help="Cache decoded images in RAM.")] = True,
    mlflow_uri: Annotated[
        str | None, typer.Option("--mlflow-uri", help="MLflow tracking URI. Default: file:./mlruns.")
    ] = None,
    mlflow: Annotated[bool, typer.Option("--mlflow/--no-mlflow", help="Log the run to MLflow (if installed).")] = True,
    augment: Annotated[
        list[str] | None,
        typer.Option("--augment", help="Override one augmentation of the conveyor defaults, KEY=VALUE (e.g. scale=0.5 "
                                       "for real photos whose produce is larger than the belt's); repeatable."),
    ] = None,
    close_mosaic: Annotated[int, typer.Option(min=0, help="Last epochs trained without mosaic.")] = 10,
) -> None:
    """Train YOLO11n (built from yolo11n.yaml, offline) and write weights and a run report."""
    from training.train import CONVEYOR_AUGMENT, TrainConfig
    from training.train import train as run_training

    hyp = dict(CONVEYOR_AUGMENT)
    for item in augment or []:
        key, sep, value = item.partition("=")
        if not sep or key not in hyp:
            raise typer.BadParameter(f"expected KEY=VALUE with KEY one of {sorted(hyp)}, got {item!r}",
                                     param_hint="--augment")
        try:
            hyp[key] = float(value)
        except ValueError:
            raise typer.BadParameter(f"{key} needs a number, got {value!r}", param_hint="--augment") from None
    config = TrainConfig(
        data=data, out=out, epochs=epochs, imgsz=imgsz, batch=batch, seed=seed, device=device,
        workers=workers, weights=weights, cache=cache, augment=hyp, close_mosaic=close_mosaic,
    )

    from training.tracking import tracking_run

    def info(msg: str) -> None:
        typer.echo(f"[qc train] {msg}", err=True)

    with tracking_run("qc-train", out.name, uri=mlflow_uri, enabled=mlflow, info=info) as run:

        def on_epoch(epoch: int, total: int, metrics: dict[str, float]) -> None:
            if epoch == 1:  # not before: input that fails the start of training leaves no MLflow run behind
                run.log_params({k: str(v) for k, v in config.__dict__.items()})
            run.log_metrics(metrics, step=epoch)
            m50 = metrics.get("metrics/mAP50(B)", float("nan"))
            m5095 = metrics.get("metrics/mAP50-95(B)", float("nan"))
            info(f"epoch {epoch}/{total}  val mAP50 {m50:.3f}  mAP50-95 {m5095:.3f}")

        result = run_training(config, on_epoch=on_epoch)
        run.log_metrics(result.metrics, step=config.epochs)  # best.pt's final validation
        run.log_artifact(result.report)
    typer.echo(f"best weights: {result.best}\nreport: {result.report}")
