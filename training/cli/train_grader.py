"""`qc train-grader`: train the second-stage freshness grader on a folder of item crops and export it to ONNX."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, cast

import typer


def train_grader(
    data: Annotated[Path, typer.Option(help="Classification folder of crops (qc dataset grader-crops).")],
    out: Annotated[Path, typer.Option(help="Run folder: weights/best.pt, grader.onnx, grader_report.json.")] = Path(
        "runs/grader"
    ),
    epochs: Annotated[int, typer.Option(min=1, help="Training epochs.")] = 12,
    imgsz: Annotated[int, typer.Option(min=32, max=640, help="Square input side, pixels.")] = 128,
    batch: Annotated[int, typer.Option(min=1, help="Crops per batch.")] = 64,
    seed: Annotated[int, typer.Option(help="Random seed (ultralytics deterministic mode).")] = 0,
    device: Annotated[str, typer.Option(help="'cpu' or a CUDA device index such as '0'.")] = "cpu",
    scale: Annotated[str, typer.Option(help="YOLO11-cls size: n, s (~3x n's time per batch) or m (more still).")] = "n",
    init_from: Annotated[Path | None, typer.Option(
        help="A detector's weights (.pt) of the same scale: the grader's first layers start from its backbone "
             "instead of random weights.")] = None,
) -> None:
    """Train a YOLO11-cls (from yolo11<scale>-cls.yaml, offline) on item crops, export grader.onnx for `qc registry
    register --grader`."""
    from training.grader_train import GraderScale, GraderTrainConfig
    from training.grader_train import train_grader as run

    def on_epoch(epoch: int, total: int, metrics: dict[str, float]) -> None:
        top1 = metrics.get("metrics/accuracy_top1", float("nan"))
        typer.echo(f"[qc train-grader] epoch {epoch}/{total}  val top-1 {top1:.3f}", err=True)

    result = run(GraderTrainConfig(data=data, out=out, epochs=epochs, imgsz=imgsz, batch=batch, seed=seed,
                                   device=device, scale=cast(GraderScale, scale),
                                   init_from=init_from), on_epoch=on_epoch)
    typer.echo(f"grader: {result.onnx}\nreport: {result.report}")
