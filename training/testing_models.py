"""Small real models for tests and benchmarks: a randomly initialised YOLO11n, saved and exported by ultralytics."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

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


def register_untrained_production(registry: Any, taxonomy: Taxonomy, work: Path, imgsz: int = 64, seed: int = 0) -> Any:
    """Register a randomly initialised YOLO11n (ONNX at ``imgsz`` + its .pt weights) as ``registry``'s production.

    A like-for-like parent for tiny retraining runs in tests: its card, graph and weights are real, its detections
    meaningless. Returns the production `ModelCard`.
    """
    from vision.model_card import ModelCardDraft

    checkpoint = build_untrained_checkpoint(work / "production.pt", taxonomy, seed=seed)
    onnx = export_onnx_plain(checkpoint, work / "production_onnx", imgsz=imgsz)
    draft = ModelCardDraft(classes=list(taxonomy.class_names), taxonomy=taxonomy.to_dict(), input_size=(imgsz, imgsz))
    return registry.register(onnx, draft, stage="production", weights=checkpoint, reason="test production model")
