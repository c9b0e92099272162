"""Training the freshness grader: a YOLO11-cls (n by default) built from its YAML (offline), exported to ONNX with its
card section.

The grader scores an item's condition from a square crop (`vision.grader_crop`); its data set is a classification
folder of such crops (``qc dataset grader-crops``). Augmentation keeps colour honest (ripeness and decay are colour
cues) and never erases part of the crop (random erasing can remove the very rotten patch that makes the label).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from training.grader_init import build_init_checkpoint
from training.train import TrainError, add_progress_callbacks
from vision.model_card import GRADER_FILE

GRADER_AUGMENT: dict[str, Any] = {
    "hsv_h": 0.01,
    "hsv_s": 0.3,
    "hsv_v": 0.3,
    "fliplr": 0.5,
    "flipud": 0.5,  # a top-down camera sees an item in any orientation
    "scale": 0.3,  # random crops keep at least 70 % of the item's square
    "erasing": 0.0,
    "auto_augment": None,  # randaugment's posterize/solarize/colour ops would fake or hide decay
}


GraderScale = Literal["n", "s", "m"]
GRADER_SCALES: tuple[str, ...] = ("n", "s", "m")


@dataclass(frozen=True)
class GraderTrainConfig:
    """What to train the grader on and how."""

    data: Path  # a classification folder: train/<class>/*.jpg, val/<class>/*.jpg
    out: Path
    epochs: int = 12
    imgsz: int = 128
    batch: int = 64
    seed: int = 0
    device: str = "cpu"
    workers: int = 2
    scale: GraderScale = "n"  # YOLO11's width/depth: s takes ~3x n's time per batch on a CPU, m more still
    augment: dict[str, Any] = field(default_factory=lambda: dict(GRADER_AUGMENT))
    init_from: Path | None = None  # a detector's weights whose shared leading layers start the grader (grader_init)


@dataclass(frozen=True)
class GraderTrainResult:
    """The trained grader: torch weights, the ONNX file and the report (with top-1 on the val crops)."""

    best: Path
    onnx: Path
    report: Path
    metrics: dict[str, float]


def _check_data(data: Path) -> list[str]:
    """The class folder names under ``data/train``; TrainError when the layout is not a classification folder."""
    train_dir, val_dir = data / "train", data / "val"
    if not train_dir.is_dir() or not val_dir.is_dir():
        raise TrainError(f"{data} is not a classification folder (train/<class>/ and val/<class>/); "
                         "write one with `qc dataset grader-crops`")
    classes = sorted(p.name for p in train_dir.iterdir() if p.is_dir() and any(p.iterdir()))
    if len(classes) < 2:
        raise TrainError(f"{train_dir} has {len(classes)} non-empty class folders; a grader needs at least 2")
    return classes


def train_grader(
    config: GraderTrainConfig, on_epoch: Callable[[int, int, dict[str, float]], None] | None = None
) -> GraderTrainResult:
    """Train YOLO11<scale>-cls on the crops, export ``<out>/grader.onnx`` (dynamic batch, fixed square size) and
    write ``<out>/grader_report.json``; ``on_epoch(epoch, epochs, metrics)`` after each epoch."""
    os.environ.setdefault("YOLO_OFFLINE", "1")
    classes = _check_data(config.data)
    if config.scale not in GRADER_SCALES:
        raise TrainError(f"grader scale must be one of {', '.join(GRADER_SCALES)} (got {config.scale!r})")
    if config.epochs < 1 or config.imgsz < 32 or config.batch < 1:
        raise TrainError(f"epochs, imgsz and batch must be positive (got {config.epochs}, {config.imgsz}, {config.batch})")

    import torch
    import ultralytics
    from ultralytics import YOLO

    started = time.time()
    config.out.mkdir(parents=True, exist_ok=True)
    init: dict[str, Any] | None = None
    pretrained: str | bool = False  # True would look for downloadable ImageNet weights
    if config.init_from is not None:
        init_ckpt = config.out / "init.pt"
        transfer = build_init_checkpoint(config.init_from, config.scale, init_ckpt)
        init = {"from": str(config.init_from), **asdict(transfer)}
        pretrained = str(init_ckpt.resolve())
    model = YOLO(f"yolo11{config.scale}-cls.yaml")
    add_progress_callbacks(model, on_epoch)
    model.train(
        data=str(config.data.resolve()),
        epochs=config.epochs,
        imgsz=config.imgsz,
        batch=config.batch,
        seed=config.seed,
        deterministic=True,
        device=config.device,
        workers=config.workers,
        project=str(config.out.resolve().parent),
        name=config.out.name,
        exist_ok=True,
        pretrained=pretrained,
        amp=False,
        plots=False,
        verbose=False,
        **config.augment,
    )
    best = config.out / "weights" / "best.pt"
    if not best.is_file():
        raise TrainError(f"grader training finished without {best}")
    metrics = {k: float(v) for k, v in (model.trainer.metrics or {}).items()} if model.trainer else {}
    exported = Path(YOLO(str(best)).export(format="onnx", imgsz=config.imgsz, dynamic=True, simplify=True, opset=17))
    onnx_path = config.out / GRADER_FILE
    shutil.move(str(exported), onnx_path)
    report = {
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items()},
        "classes": classes,
        "metrics": metrics,
        "duration_s": round(time.time() - started, 1),
        "init": init,  # None: random weights
        "versions": {"ultralytics": ultralytics.__version__, "torch": torch.__version__, "python": platform.python_version()},
        "best": str(best),
        "onnx": str(onnx_path),
    }
    crops = config.data / "crops.json"
    if crops.is_file():
        report["data"] = json.loads(crops.read_text())
    report_path = config.out / "grader_report.json"
    report_path.write_text(json.dumps(report, indent=2))
    return GraderTrainResult(best=best, onnx=onnx_path, report=report_path, metrics=metrics)
