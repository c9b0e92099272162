"""Small real models for the tests: a randomly initialised YOLO11n, saved and exported by ultralytics, and a colour
grader (a tiny classifier built with onnx.helper) whose answers are known. Imported as `tests.training.testing_models`
by the tests of every package (test code, so it ships in no package)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np

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


def register_untrained_production(
    registry: Any, taxonomy: Taxonomy, work: Path, imgsz: int = 64, seed: int = 0, grader: bool = False
) -> Any:
    """Register a randomly initialised YOLO11n (ONNX at ``imgsz`` + its .pt weights) as ``registry``'s production,
    with a `colour_grader_onnx` grader when ``grader``.

    A like-for-like parent for tiny retraining runs in tests: its card, graph and weights are real, its detections
    meaningless. Returns the production `ModelCard`.
    """
    from vision.model_card import ModelCardDraft

    checkpoint = build_untrained_checkpoint(work / "production.pt", taxonomy, seed=seed)
    onnx = export_onnx_plain(checkpoint, work / "production_onnx", imgsz=imgsz)
    grader_file = colour_grader_onnx(work / "grader.onnx") if grader else None
    draft = ModelCardDraft(classes=list(taxonomy.class_names), taxonomy=taxonomy.to_dict(), input_size=(imgsz, imgsz),
                           grader=colour_grader_spec(grader_file) if grader_file else None)
    return registry.register(onnx, draft, stage="production", weights=checkpoint, grader=grader_file,
                             reason="test production model")


# A colour grader with known answers (tests): mean R, G, B of the crop (RGB in [0, 1]) times a fixed matrix.
# A red crop reads apple_fresh, a yellow one banana_fresh, a dark one rotten (apple's rotten the surest); it has
# no orange or tomato class, so an item of those kinds falls back to the detector's freshness.
COLOUR_GRADER_CLASSES = ("apple_fresh", "apple_rotten", "banana_fresh", "banana_rotten")
_COLOUR_LOGITS = np.array(
    # apple_fresh  apple_rotten  banana_fresh  banana_rotten
    [[30.0, -20.0, 10.0, -20.0],   # R
     [-30.0, -20.0, 20.0, -20.0],  # G
     [-30.0, -20.0, -40.0, -20.0]],  # B
    dtype=np.float32,
)
_COLOUR_BIAS = np.array([0.0, 10.0, 0.0, 8.0], dtype=np.float32)


def colour_logits() -> np.ndarray:
    """A copy of the colour grader's (3, C) weights, to build a grader with one more class."""
    return _COLOUR_LOGITS.copy()


def colour_bias() -> np.ndarray:
    """A copy of the colour grader's (C,) bias."""
    return _COLOUR_BIAS.copy()


def colour_grader_onnx(
    path: Path,
    *,
    size: int = 64,
    softmax: bool = True,
    batch: int | str = "batch",
    names: tuple[str, ...] | None = COLOUR_GRADER_CLASSES,
    weights: np.ndarray | None = None,
    bias: np.ndarray | None = None,
    top_half: bool = False,
) -> Path:
    """A real, runnable classifier with ultralytics' classify I/O contract: images (B, 3, size, size) float32 RGB in
    [0, 1] -> GlobalAveragePool -> Flatten -> Gemm (a fixed 3 x C matrix) [-> Softmax] -> (B, C), with the class
    ``names`` in its metadata as ultralytics writes them. Defaults: the colour grader above (`COLOUR_GRADER_CLASSES`).
    ``softmax=False`` outputs logits; ``batch`` an int makes the batch dimension static, as a plain export does;
    ``top_half`` pools the crop's top half only, so the grader's reading depends on the crop's orientation."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = _COLOUR_LOGITS if weights is None else np.asarray(weights, np.float32)
    b = _COLOUR_BIAS if bias is None else np.asarray(bias, np.float32)
    n_classes = w.shape[1]
    nodes = []
    pooled_from = "images"
    if top_half:
        nodes.append(helper.make_node("Slice", ["images", "h0", "h1", "h_axis"], ["top"]))
        pooled_from = "top"
    nodes += [
        helper.make_node("GlobalAveragePool", [pooled_from], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["feat"], axis=1),
        helper.make_node("Gemm", ["feat", "w", "b"], ["logits" if softmax else "output0"]),
    ]
    if softmax:
        nodes.append(helper.make_node("Softmax", ["logits"], ["output0"], axis=1))
    graph = helper.make_graph(
        nodes,
        "colour_grader",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [batch, 3, size, size])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [batch, n_classes])],
        initializer=[numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")]
        + ([numpy_helper.from_array(np.array([v], np.int64), name)
            for name, v in (("h0", 0), ("h1", size // 2), ("h_axis", 2))] if top_half else []),
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    meta = {"task": "classify", "imgsz": str([size, size])}
    if names is not None:
        meta["names"] = str(dict(enumerate(names)))
    helper.set_model_props(model, meta)
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, path)
    return path


def colour_grader_spec(path: Path, *, produce_weight: float = 1.0, classes: tuple[str, ...] = COLOUR_GRADER_CLASSES,
                       size: int = 64) -> Any:
    """The card section (`vision.model_card.GraderSpec`) of a `colour_grader_onnx` file."""
    from vision.model_card import GraderSpec, sha256_file

    return GraderSpec(sha256=sha256_file(path), classes=list(classes), input_size=size, produce_weight=produce_weight,
                      training={"note": "colour grader for tests: fixed weights, trained on nothing"})
