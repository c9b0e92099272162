"""Builders of tiny, real, runnable ONNX graphs with the detector's I/O contract, for card and registry tests.

Imported by sibling test modules (pytest puts this folder on sys.path); needs the `onnx` package (train extra).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def tiny_detector_onnx(
    path: Path,
    *,
    rows: int,
    h: int | str = 64,
    w: int | str = 64,
    channels: int = 3,
    fp16: bool = False,
    names: list[str] | None = None,
) -> Path:
    """A real, runnable graph with the detector's I/O contract: (B,C,H,W) -> Conv stride 32 -> (B, rows, anchors)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    elem = TensorProto.FLOAT16 if fp16 else TensorProto.FLOAT
    np_dtype = np.float16 if fp16 else np.float32
    weight = numpy_helper.from_array(np.full((rows, channels, 32, 32), 1e-3, np_dtype), "w")
    shape_const = numpy_helper.from_array(np.array([0, rows, -1], np.int64), "shape")
    nodes = [
        helper.make_node("Conv", ["images", "w"], ["feat"], strides=[32, 32]),
        helper.make_node("Reshape", ["feat", "shape"], ["output0"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("images", elem, ["batch", channels, h, w])],
        [helper.make_tensor_value_info("output0", elem, ["batch", rows, "anchors"])],
        initializer=[weight, shape_const],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if names is not None:
        helper.set_model_props(model, {"names": str(dict(enumerate(names)))})
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path
