"""A designed raw YOLO output with known answers, and a real ONNX graph that emits it, for decode/detector tests.

Imported by sibling test modules (pytest puts this folder on sys.path). The graph builder needs the `onnx` package.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from vision.taxonomy import Taxonomy

# Anchors, in network-input pixels (cx, cy, w, h), with the scores that make each one interesting.
#   0: apple fresh 0.9 (+ bruised 0.3)           -> always kept
#   1: apple rotten 0.8, nearly the same box      -> same produce as 0: gone with nms_by="produce", kept by "class"
#   2: banana fresh 0.7, the same box as 0         -> another produce kind: kept by "produce" and "class", gone with
#                                                     nms_by="item" (one box per object whatever its kind)
#   3: orange bruised 0.2                          -> under conf 0.25
#   4: tomato overripe 0.6, reaching into the bottom padding -> kept, clipped to the image
#   5: nothing                                     -> never
#   6: apple fresh exactly 0.25 (== threshold)     -> dropped: the filter is strictly greater, as in ultralytics
CXCYWH = [
    (100.0, 120.0, 40.0, 40.0),
    (102.0, 121.0, 40.0, 40.0),
    (100.0, 120.0, 40.0, 40.0),
    (200.0, 150.0, 30.0, 30.0),
    (250.0, 245.0, 20.0, 30.0),
    (10.0, 10.0, 5.0, 5.0),
    (300.0, 100.0, 10.0, 10.0),
]
KEPT = {"produce": [0, 2, 4], "class": [0, 1, 2, 4], "item": [0, 4]}


def designed_raw(taxonomy: Taxonomy, dtype: type = np.float32) -> np.ndarray:
    """One image's raw output (4 + nc, A) following the table above."""
    nc = taxonomy.num_classes
    raw = np.zeros((4 + nc, len(CXCYWH)), np.float32)
    raw[:4] = np.array(CXCYWH, np.float32).T
    scores = {
        0: {("apple", "fresh"): 0.9, ("apple", "bruised"): 0.3},
        1: {("apple", "rotten"): 0.8},
        2: {("banana", "fresh"): 0.7},
        3: {("orange", "bruised"): 0.2},
        4: {("tomato", "overripe"): 0.6, ("tomato", "rotten"): 0.2},
        6: {("apple", "fresh"): 0.25},
    }
    for anchor, per_class in scores.items():
        for (produce, condition), score in per_class.items():
            raw[4 + taxonomy.class_id(produce, condition), anchor] = score
    return raw.astype(dtype)


def expected_input_xyxy(anchors: Sequence[int]) -> np.ndarray:
    """The designed boxes as xyxy in network-input pixels."""
    c = np.array([CXCYWH[a] for a in anchors], np.float32).reshape(-1, 4)
    return np.concatenate([c[:, :2] - c[:, 2:] / 2, c[:, :2] + c[:, 2:] / 2], axis=1)


def constant_output_onnx(
    path: Path,
    raw: np.ndarray,
    *,
    input_shape: Sequence[int | str] = ("batch", 3, 320, 320),
    input_type: int | None = None,
    output_shape: Sequence[int | str] | None = None,
    metadata: Mapping[str, str] | None = None,
    hide_channels: bool = False,
) -> Path:
    """A runnable graph: image input (any batch) -> ``raw`` (C, A) broadcast to (batch, C, A), whatever the pixels.

    ``raw``'s dtype sets the output type; ``input_type`` (an onnx TensorProto type) defaults to the same.
    ``hide_channels`` slices the channels up to the input height (a dynamic one), so ONNX Runtime cannot know
    the channel count before a run; feed images whose letterboxed height is at least ``C``.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    out_type = TensorProto.FLOAT16 if raw.dtype == np.float16 else TensorProto.FLOAT
    channels, anchors = raw.shape
    inits = [
        numpy_helper.from_array(raw[None], "raw"),
        numpy_helper.from_array(np.array([0], np.int64), "zero"),
        numpy_helper.from_array(np.array([1], np.int64), "one"),
        numpy_helper.from_array(np.array([channels, anchors], np.int64), "tail"),
        numpy_helper.from_array(np.array([2], np.int64), "two"),
        numpy_helper.from_array(np.array([3], np.int64), "three"),
    ]
    nodes = [
        helper.make_node("Shape", ["images"], ["shape"]),
        helper.make_node("Slice", ["shape", "zero", "one"], ["batch"]),
        helper.make_node("Concat", ["batch", "tail"], ["target"], axis=0),
        helper.make_node("Expand", ["raw", "target"], ["expanded" if hide_channels else "output0"]),
    ]
    if hide_channels:
        nodes += [
            helper.make_node("Slice", ["shape", "two", "three"], ["height"]),
            helper.make_node("Slice", ["expanded", "zero", "height", "one"], ["output0"]),
        ]
    graph = helper.make_graph(
        nodes,
        "constant_yolo",
        [helper.make_tensor_value_info("images", input_type or out_type, list(input_shape))],
        [helper.make_tensor_value_info("output0", out_type, list(output_shape or ["batch", channels, anchors]))],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if metadata:
        helper.set_model_props(model, dict(metadata))
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path
