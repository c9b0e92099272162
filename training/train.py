"""Training a detector with ultralytics, offline: YOLO11n built from its YAML (or from given weights), never downloaded."""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vision.errors import QCError

# Conveyor cameras look straight down from a fixed height and ripeness is judged by colour:
# flips are free, but scale and saturation jitter must stay small or they erase the very cue we learn.
CONVEYOR_AUGMENT: dict[str, float] = {
    "hsv_h": 0.01,
    "hsv_s": 0.3,
    "hsv_v": 0.3,
    "degrees": 0.0,
    "translate": 0.1,
    "scale": 0.25,
    "fliplr": 0.5,
    "flipud": 0.5,
    "mosaic": 1.0,
}


class TrainError(QCError):
    """Training cannot start or failed."""


@dataclass(frozen=True)
class TrainConfig:
    """What to train, on what, for how long."""

    data: Path  # an ultralytics data.yaml (or the folder holding it)
    out: Path  # run folder: weights/, results.csv, train_report.json
    epochs: int = 25  # defaults are the shipped model's recipe (README): a 2-core CPU, about an hour
    imgsz: int = 320
    batch: int = 16
    seed: int = 0
    device: str = "cpu"
    workers: int = 2
    weights: Path | None = None  # start from these weights (retraining); None = from yolo11n.yaml
    patience: int = 100
    cache: bool = True  # hold decoded images in RAM: the CPU is the bottleneck, not memory
    close_mosaic: int = 10
    augment: dict[str, float] = field(default_factory=lambda: dict(CONVEYOR_AUGMENT))


@dataclass(frozen=True)
class TrainResult:
    """Where the run left its weights and report."""

    best: Path
    last: Path
    report: Path
    metrics: dict[str, float]


def _data_yaml(data: Path) -> Path:
    path = data / "data.yaml" if data.is_dir() else data
    if not path.is_file():
        raise TrainError(f"data set not found: {path} (expected an ultralytics data.yaml or a folder holding one)")
    return path


def _first_weight(module: Any) -> Any:
    """A copy of the first convolution's weights: enough to tell a seeded model from a freshly initialised one."""
    return next(p for p in module.parameters() if p.ndim == 4).detach().float().clone()


def _check_started_from(trainer: Any, start: Any, weights: Path) -> None:
    """Refuse to go on when the model about to be trained is not the one loaded from ``weights``.

    A retraining run that silently starts from random weights looks like a normal run until its metrics collapse
    (it happened: ultralytics ignores the loaded .pt when ``pretrained=False``).
    """
    import torch

    model = trainer.model.module if hasattr(trainer.model, "module") else trainer.model
    now = _first_weight(model).to(start.device)
    if now.shape != start.shape or not torch.allclose(now, start, atol=1e-3):
        raise TrainError(f"training did not start from {weights}: its first layer differs from the loaded weights")


def _drop_ultralytics_mlflow(trainer: Any) -> None:
    """Remove ultralytics' own MLflow callbacks: with mlflow installed (the ``track`` extra) they would log every run
    a second time, through MLflow's global fluent state, into a default store in the working directory.
    `training.tracking` logs our runs instead."""
    for event, funcs in trainer.callbacks.items():
        trainer.callbacks[event] = [f for f in funcs if getattr(f, "__module__", "") != "ultralytics.utils.callbacks.mlflow"]


def add_progress_callbacks(model: Any, on_epoch: Callable[[int, int, dict[str, float]], None] | None) -> None:
    """Have ``model`` (an ultralytics YOLO) call ``on_epoch(epoch, epochs, metrics)`` once after each epoch and drop
    ultralytics' own MLflow logging; shared by the detector's and the grader's training."""
    reported: set[int] = set()

    def _epoch_end(trainer: Any) -> None:
        # ultralytics fires this hook once more after its final validation of best.pt; report each epoch once.
        epoch = min(trainer.epoch + 1, trainer.epochs)
        if on_epoch and epoch not in reported:
            reported.add(epoch)
            on_epoch(epoch, trainer.epochs, {k: float(v) for k, v in (trainer.metrics or {}).items()})

    model.add_callback("on_fit_epoch_end", _epoch_end)
    model.add_callback("on_pretrain_routine_start", _drop_ultralytics_mlflow)


def train(config: TrainConfig, on_epoch: Callable[[int, int, dict[str, float]], None] | None = None) -> TrainResult:
    """Train with ultralytics and write ``train_report.json``; ``on_epoch(epoch, epochs, metrics)`` after each epoch."""
    os.environ.setdefault("YOLO_OFFLINE", "1")
    data_yaml = _data_yaml(config.data)
    if config.weights is not None and not config.weights.is_file():
        raise TrainError(f"weights not found: {config.weights}")
    if config.epochs < 1 or config.imgsz < 32 or config.batch < 1:
        raise TrainError(f"epochs, imgsz and batch must be positive (got {config.epochs}, {config.imgsz}, {config.batch})")

    import torch
    import ultralytics
    from ultralytics import YOLO

    model = YOLO(str(config.weights) if config.weights else "yolo11n.yaml")
    started = time.time()

    add_progress_callbacks(model, on_epoch)
    if config.weights is not None:
        start = _first_weight(model.model)
        model.add_callback("on_train_start", lambda trainer: _check_started_from(trainer, start, config.weights))
    config.out.mkdir(parents=True, exist_ok=True)
    model.train(
        data=str(data_yaml),
        epochs=config.epochs,
        imgsz=config.imgsz,
        batch=config.batch,
        seed=config.seed,
        deterministic=True,
        device=config.device,
        workers=config.workers,
        patience=config.patience,
        cache="ram" if config.cache else False,
        close_mosaic=config.close_mosaic,
        project=str(config.out.resolve().parent),
        name=config.out.name,
        exist_ok=True,
        # ultralytics seeds the trained model from the loaded .pt only when pretrained is not False; without weights
        # there is nothing to seed from (and True would look for a downloadable yolo11n.pt).
        pretrained=config.weights is not None,
        amp=False,  # the AMP check downloads yolo11n.pt; CPU training has no AMP anyway
        plots=False,  # plotting fetches a font
        verbose=False,
        **config.augment,
    )
    weights = config.out / "weights"
    best, last = weights / "best.pt", weights / "last.pt"
    if not best.is_file():
        raise TrainError(f"training finished without {best}")
    trainer_metrics = {k: float(v) for k, v in (model.trainer.metrics or {}).items()} if model.trainer else {}
    report = {
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items()},
        "data_yaml": str(data_yaml),
        "metrics": trainer_metrics,
        "duration_s": round(time.time() - started, 1),
        "versions": {"ultralytics": ultralytics.__version__, "torch": torch.__version__, "python": platform.python_version()},
        "best": str(best),
        "last": str(last),
    }
    report_path = config.out / "train_report.json"
    report_path.write_text(json.dumps(report, indent=2))
    return TrainResult(best=best, last=last, report=report_path, metrics=trainer_metrics)
