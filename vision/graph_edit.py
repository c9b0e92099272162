"""Edits of our YOLO ONNX graph that move host work onto the device the model runs on.

Both take an ``onnx.ModelProto`` of our layout (one float input ``(B, 3, H, W)`` RGB in [0, 1], one output
``(B, 4 + nc, A)``) and return a new one; the argument is not changed. Metadata (ultralytics' names, stride,
imgsz) and symbolic dimensions are kept, so a `Detector` reads the edited graph as it reads the original.

- `with_uint8_input`: the input becomes the letterboxed BGR pixels themselves, ``(B, H, W, 3)`` uint8, and the graph
  does BGR->RGB, HWC->CHW and ``/ 255``: a host uploads a quarter of the bytes and normalising runs where
  the model runs. On an int8 graph (`qc quantize`) whose input quantization is exactly ``/ 255`` the pixels are
  already its quantized input, and the edit drops the normalising and the quantizing both.
- `with_topk`: the output keeps the ``k`` anchors with the best item score, ``(B, 4 + nc, K)`` in the same layout,
  so a device copies K columns back instead of A (8,400 at 640) and `vision.decode.decode` takes it unchanged.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from vision.errors import ModelLoadError
from vision.external_data import model_external_data
from vision.letterbox import normalise_table
from vision.options import whole_number

UINT8_INPUT = "images_u8"
_U8 = "qc_u8/"  # prefix of every name `with_uint8_input` adds
_TOPK = "qc_topk/"  # ... and `with_topk`
MIN_TOPK_OPSET = 13  # Min on int64 (12), Unsqueeze's axes as an input (13)
_INT64_MAX = np.iinfo(np.int64).max


def _onnx() -> Any:
    import onnx  # a base dependency, but slow to import: only loaders of edited graphs pay for it

    return onnx


def _opset(model: Any) -> int:
    return max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)


def _dims(value_info: Any) -> list[int | str | None]:
    """A tensor's dims as ints (static), strings (symbolic) or None (unknown)."""
    dims: list[int | str | None] = []
    for d in value_info.type.tensor_type.shape.dim:
        kind = d.WhichOneof("value")
        dims.append(d.dim_value if kind == "dim_value" else d.dim_param if kind == "dim_param" else None)
    return dims


def _layout(model: Any, what: str) -> tuple[Any, Any]:
    """The graph's image input and raw output; ModelLoadError when the graph is not our layout or not editable."""
    onnx = _onnx()
    if not isinstance(model, onnx.ModelProto):
        raise ModelLoadError(f"{what}: expected an onnx.ModelProto, got {type(model).__name__}")
    external = model_external_data(model)
    if external:
        raise ModelLoadError(
            f"{what}: the graph keeps tensors in external data ({external[0][0]} in {external[0][1]!r}); "
            "edited graphs are built in memory, so only a self-contained .onnx can be edited"
        )
    graph = model.graph
    initialized = {t.name for t in graph.initializer}
    inputs = [i for i in graph.input if i.name not in initialized]
    if len(inputs) != 1 or len(graph.output) != 1:
        raise ModelLoadError(
            f"{what}: expected one image input and one output, the graph has inputs {[i.name for i in inputs]} "
            f"and outputs {[o.name for o in graph.output]}"
        )
    inp, out = inputs[0], graph.output[0]
    float_types = (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16)
    in_type, in_dims = inp.type.tensor_type.elem_type, _dims(inp)
    ours_u8 = inp.name == UINT8_INPUT and in_type == onnx.TensorProto.UINT8 and len(in_dims) == 4 and in_dims[3] == 3
    float_nchw = (
        in_type in float_types and len(in_dims) == 4 and (in_dims[1] == 3 or not isinstance(in_dims[1], int))
    )
    if not (ours_u8 or float_nchw):
        raise ModelLoadError(
            f"{what}: input '{inp.name}' is {onnx.TensorProto.DataType.Name(in_type)} {in_dims}; expected a float "
            "or float16 (batch, 3, height, width) image input"
        )
    out_dims = _dims(out)
    if out.type.tensor_type.elem_type not in float_types or len(out_dims) != 3:
        raise ModelLoadError(
            f"{what}: output '{out.name}' has shape {out_dims}; expected a float (batch, 4 + classes, anchors) output"
        )
    if isinstance(out_dims[1], int) and out_dims[1] < 5:
        raise ModelLoadError(f"{what}: output '{out.name}' has {out_dims[1]} channels; expected 4 box rows + classes")
    return inp, out


def _copy(model: Any) -> Any:
    edited = _onnx().ModelProto()
    edited.CopyFrom(model)
    return edited


def _const(name: str, value: np.ndarray) -> Any:
    onnx = _onnx()
    return onnx.helper.make_node("Constant", [], [name], value=onnx.numpy_helper.from_array(value, name))


def with_uint8_input(model: Any) -> Any:
    """``model`` taking ``images_u8`` (B, H, W, 3) uint8 BGR, the letterboxed pixels, instead of its float input.

    The graph transposes to NCHW and reverses the channels (BGR->RGB) on the uint8 pixels (a quarter of the bytes
    of floats), then casts to float32 and divides by 255 (a divide, as ultralytics and
    `vision.letterbox.normalise_table` do: the same bits as the host path); a float16 graph looks the values up in
    `normalise_table`'s float16 table instead (see below why). The result is named like the old input, so the
    original nodes read it unchanged. An int8 graph whose one reader of the input is a QuantizeLinear that maps
    ``x / 255`` back to ``x`` for every pixel value (`qc quantize`'s graphs) gets the RGB planes in place of that
    quantizer's output: the same quantized values, bit for bit, with no float pass at all. Raises ModelLoadError
    for a graph that is not our layout, has external data or already takes uint8.
    """
    onnx = _onnx()
    inp, _ = _layout(model, "with_uint8_input")
    if inp.name == UINT8_INPUT:
        raise ModelLoadError("with_uint8_input: the graph already takes uint8 pixels")
    edited = _copy(model)
    graph = edited.graph
    old = next(i for i in graph.input if i.name == inp.name)
    elem = old.type.tensor_type.elem_type
    batch, _, height, width = _dims(old)
    make = onnx.helper.make_node
    quantizer = _pixel_quantizer(graph, inp.name)
    # Transpose first: reversing the channels of NCHW copies whole planes; on NHWC's last axis it copied single
    # bytes (5x as slow on ONNX Runtime's CPU provider).
    nodes = [
        make("Transpose", [UINT8_INPUT], [f"{_U8}bgr_planes"], perm=[0, 3, 1, 2]),
        _const(f"{_U8}bgr_to_rgb", np.array([2, 1, 0], np.int64)),
        make("Gather", [f"{_U8}bgr_planes", f"{_U8}bgr_to_rgb"],
             [quantizer.output[0] if quantizer is not None else f"{_U8}nchw"], axis=1),
    ]
    if quantizer is not None:
        # An int8 graph quantizing x / 255 with scale 1/255, zero point 0: the uint8 pixels are its quantized
        # input already. The RGB planes replace the quantizer's output; no float pass, on the host or in the graph.
        graph.node.remove(quantizer)
    elif elem == onnx.TensorProto.FLOAT:
        nodes += [
            make("Cast", [f"{_U8}nchw"], [f"{_U8}float"], to=elem),
            _const(f"{_U8}255", np.array(255, np.float32)),
            make("Div", [f"{_U8}float", f"{_U8}255"], [inp.name]),
        ]
    else:
        # float16: look the 256 values up instead of dividing. ONNX Runtime's CPU provider has no float16 Div: it
        # runs the float16 region in float32 and drops the rounding of the divide's result, so the first conv
        # would see other inputs than the host path gives it (boxes off by up to 3 px on a test model). A table
        # of float16 values is exact on every provider; it is the host's own table.
        nodes += [
            make("Cast", [f"{_U8}nchw"], [f"{_U8}index"], to=onnx.TensorProto.INT32),
            _const(f"{_U8}table", normalise_table(np.float16)),
            make("Gather", [f"{_U8}table", f"{_U8}index"], [inp.name], axis=0),
        ]
    for node in reversed(nodes):
        graph.node.insert(0, node)
    position = list(graph.input).index(old)
    if quantizer is None:
        graph.value_info.append(old)  # the old input, now an intermediate value: keeps its shape for inference
    del graph.input[position]
    graph.input.insert(
        position, onnx.helper.make_tensor_value_info(UINT8_INPUT, onnx.TensorProto.UINT8, [batch, height, width, 3])
    )
    return edited


def _pixel_quantizer(graph: Any, name: str) -> Any:
    """The QuantizeLinear node that alone reads the float input ``name`` when it maps every normalised pixel
    ``x / 255`` (x = 0..255) back to the uint8 ``x`` itself (a ``qc quantize`` graph: MinMax calibration on [0, 1]
    gives scale 1/255, zero point 0); None for any other graph. Checked value by value, in float32 as ONNX Runtime
    computes it, so feeding the pixels instead is exact."""
    onnx = _onnx()
    readers = [n for n in graph.node if name in n.input]
    if len(readers) != 1 or readers[0].op_type != "QuantizeLinear" or readers[0].domain not in ("", "ai.onnx"):
        return None
    node = readers[0]
    if len(node.input) < 3 or any(o.name == name for o in graph.output):
        return None
    constants = {t.name: t for t in graph.initializer}
    constants |= {n.output[0]: n.attribute[0].t for n in graph.node
                  if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value"}
    if node.input[1] not in constants or node.input[2] not in constants:
        return None
    scale = onnx.numpy_helper.to_array(constants[node.input[1]])
    zero_point = onnx.numpy_helper.to_array(constants[node.input[2]])
    if scale.size != 1 or zero_point.size != 1 or zero_point.dtype != np.uint8 or scale.dtype != np.float32:
        return None
    pixels = np.arange(256, dtype=np.float32)
    quantized = np.clip(np.rint(normalise_table(np.float32) / scale.reshape(())) + float(zero_point), 0, 255)
    return node if np.array_equal(quantized, pixels) else None


def with_topk(model: Any, k: int) -> Any:
    """``model`` whose output keeps only the ``k`` anchors with the highest item score (`vision.decode.item_scores`:
    the chance the anchor holds an item of any class): (B, 4 + nc, K).

    K = min(k, anchors): a constant when the graph's anchor count is static (TensorRT wants TopK's K fixed at build
    time), else ``Min(k, Shape(raw)[2])`` computed per run, so dynamic-H/W models work at any input size. The kept
    columns come in anchor order, as in the full output, so `vision.decode.decode` gives the same `Detections`
    whenever ``k`` is at least the number of anchors over the confidence threshold (ties in NMS break the same way);
    with fewer, the lowest-scoring candidates are dropped first (ultralytics' ``max_nms`` does the same). The output
    keeps its name. Raises InputError for a bad ``k``, ModelLoadError for a graph that is not our layout, has
    external data, is below opset 13 or was edited already.
    """
    k = whole_number("topk", k)
    onnx = _onnx()
    _, out = _layout(model, "with_topk")
    opset = _opset(model)
    if opset < MIN_TOPK_OPSET:
        raise ModelLoadError(f"with_topk: the graph is opset {opset}; top-k needs opset >= {MIN_TOPK_OPSET}")
    if any(o.startswith(_TOPK) for n in model.graph.node for o in n.output):
        raise ModelLoadError("with_topk: the graph already ends in a top-k")
    edited = _copy(model)
    graph = edited.graph
    name = out.name
    raw = f"{_TOPK}raw"
    for node in graph.node:  # the full output becomes an intermediate value
        node.output[:] = [raw if o == name else o for o in node.output]
        node.input[:] = [raw if i == name else i for i in node.input]
    elem = out.type.tensor_type.elem_type
    batch, channels, anchors = _dims(out)
    p = _TOPK
    make = onnx.helper.make_node
    nodes = [make("Shape", [raw], [f"{p}shape"])]
    if isinstance(anchors, int):
        nodes.append(_const(f"{p}k", np.array([min(int(k), anchors)], np.int64)))
    else:
        nodes += [
            _const(f"{p}two", np.array([2], np.int64)),
            make("Gather", [f"{p}shape", f"{p}two"], [f"{p}anchors"], axis=0),
            _const(f"{p}k_max", np.array([int(k)], np.int64)),
            make("Min", [f"{p}k_max", f"{p}anchors"], [f"{p}k"]),
        ]
    nodes += [
        _const(f"{p}class_start", np.array([4], np.int64)),
        _const(f"{p}end", np.array([_INT64_MAX], np.int64)),
        _const(f"{p}axis1", np.array([1], np.int64)),
        make("Slice", [raw, f"{p}class_start", f"{p}end", f"{p}axis1"], [f"{p}scores"]),
    ]
    # Ranked by the item score `vision.decode.item_scores` uses, 1 - prod(1 - s): never below the best class score,
    # so every anchor the decode keeps (either confidence) is among the top k when k covers the item scores over the
    # threshold. In float32: exact for float16 scores, and ONNX Runtime's CPU TopK has no float16 kernel.
    nodes += [
        make("Cast", [f"{p}scores"], [f"{p}scores_f"], to=onnx.TensorProto.FLOAT),
        _const(f"{p}one", np.array([1.0], np.float32)),
        make("Sub", [f"{p}one", f"{p}scores_f"], [f"{p}misses"]),
    ]
    if opset >= 18:  # ReduceProd took its axes as an attribute before opset 18
        nodes.append(make("ReduceProd", [f"{p}misses", f"{p}axis1"], [f"{p}none"], keepdims=0))
    else:
        nodes.append(make("ReduceProd", [f"{p}misses"], [f"{p}none"], axes=[1], keepdims=0))
    nodes += [
        make("Sub", [f"{p}one", f"{p}none"], [f"{p}best"]),
        make("TopK", [f"{p}best", f"{p}k"], [f"{p}top_scores", f"{p}top"], axis=-1, largest=1, sorted=1),
        # Back to anchor order: decode then sees its candidates in the order the full output has them.
        make("TopK", [f"{p}top", f"{p}k"], [f"{p}columns", f"{p}order"], axis=-1, largest=0, sorted=1),
        make("Unsqueeze", [f"{p}columns", f"{p}axis1"], [f"{p}columns_1"]),
        _const(f"{p}batch_channels", np.array([0, 1], np.int64)),
        make("Gather", [f"{p}shape", f"{p}batch_channels"], [f"{p}bc"], axis=0),
        make("Concat", [f"{p}bc", f"{p}k"], [f"{p}gather_shape"], axis=0),
        make("Expand", [f"{p}columns_1", f"{p}gather_shape"], [f"{p}index"]),
        make("GatherElements", [raw, f"{p}index"], [name], axis=2),
    ]
    graph.node.extend(nodes)
    kept = min(int(k), anchors) if isinstance(anchors, int) else "topk"
    graph.value_info.append(onnx.helper.make_tensor_value_info(raw, elem, [batch, channels, anchors]))
    del graph.output[0]
    graph.output.append(onnx.helper.make_tensor_value_info(name, elem, [batch, channels, kept]))
    return edited


def edited_model_bytes(path: str | os.PathLike[str], *, uint8_input: bool, topk: int | None) -> bytes:
    """The serialized graph of ``path`` with the requested edits (top-k first, then the uint8 input), for an ONNX
    Runtime session built in memory; the file itself is not changed. ModelLoadError when it cannot be read."""
    onnx = _onnx()
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf's DecodeError and onnx's own errors for a file that is not a graph
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelLoadError(f"cannot load ONNX model {path}: {reason}") from exc
    if topk is not None:
        model = with_topk(model, topk)
    if uint8_input:
        model = with_uint8_input(model)
    return model.SerializeToString()
