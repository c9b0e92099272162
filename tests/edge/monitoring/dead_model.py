"""A "dead model": a real, runnable ONNX graph with the detector's I/O contract whose every output is zero, so it
never detects anything; registered as production in a fresh registry (imported by sibling test modules)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vision.model_card import ModelCard, ModelCardDraft
from vision.registry import Registry
from vision.taxonomy import Taxonomy


def dead_detector_onnx(path: Path, rows: int) -> Path:
    """(B, 3, H, W) -> Conv stride 32 with all-zero weights -> (B, rows, anchors): boxes and scores all 0."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.zeros((rows, 3, 32, 32), np.float32), "w")
    shape = numpy_helper.from_array(np.array([0, rows, -1], np.int64), "shape")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["images", "w"], ["feat"], strides=[32, 32]),
         helper.make_node("Reshape", ["feat", "shape"], ["output0"])],
        "dead",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 3, "height", "width"])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, ["batch", rows, "anchors"])],
        initializer=[weight, shape],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def dead_model_registry(root: Path, taxonomy: Taxonomy) -> ModelCard:
    """A registry at ``root`` whose production model is the dead one; its card."""
    onnx_path = dead_detector_onnx(root.parent / f"{root.name}-dead.onnx", rows=4 + taxonomy.num_classes)
    draft = ModelCardDraft(
        classes=list(taxonomy.class_names), taxonomy=taxonomy.to_dict(), input_size=(320, 320),
        training={"note": "dead model: every output is zero, it never detects anything"},
    )
    return Registry.open(root, seed_from=None).register(onnx_path, draft, stage="production")
