"""Small real models for tests and benchmarks: a randomly initialised YOLO11n, saved and exported by ultralytics."""

from __future__ import annotations

import shutil
from pathlib import Path

from vision.taxonomy import Taxonomy


def build_untrained_checkpoint(path: Path, taxonomy: Taxonomy, seed: int = 0) -> Path:
    """Build YOLO11n from ``yolo11n.yaml`` with the taxonomy's classes and random weights; save as an ultralytics .pt."""
    import torch
    from ultralytics import YOLO
    from ultralytics.nn.tasks import DetectionModel

    torch.manual_seed(seed)
    model = DetectionModel("yolo11n.yaml", nc=taxonomy.num_classes, verbose=False)
    model.names = dict(enumerate(taxonomy.class_names))
    yolo = YOLO("yolo11n.yaml")
    yolo.model = model
    path.parent.mkdir(parents=True, exist_ok=True)
    yolo.save(str(path))
    return path


def export_onnx_plain(checkpoint: Path, out_dir: Path, imgsz: int = 320, half: bool = False) -> Path:
    """Export a checkpoint with ultralytics to ONNX (dynamic batch/H/W, no NMS); returns the .onnx path in ``out_dir``."""
    from ultralytics import YOLO

    out_dir.mkdir(parents=True, exist_ok=True)
    local = out_dir / checkpoint.name
    if local != checkpoint:
        shutil.copy2(checkpoint, local)
    exported = YOLO(str(local)).export(format="onnx", dynamic=True, imgsz=imgsz, half=half, simplify=True, verbose=False)
    return Path(exported)
