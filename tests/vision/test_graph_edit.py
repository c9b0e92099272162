"""`vision.graph_edit` on real graphs run by ONNX Runtime: the uint8-input graph computes bit for bit what the float
graph computes on the host-normalised pixels, the top-k graph keeps exactly the best anchors' columns, and graphs
that are not our layout are refused by name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from test_detector import lively_fp16, lively_onnx, lively_static, scene  # noqa: F401  (shared module fixtures)
from yolo_raw import constant_output_onnx, designed_raw

from vision.decode import DecodeOptions, decode, item_scores
from vision.errors import InputError, ModelLoadError
from vision.graph_edit import UINT8_INPUT, edited_model_bytes, with_topk, with_uint8_input
from vision.letterbox import letterbox, rect_shape
from vision.taxonomy import Taxonomy

CPU = ["CPUExecutionProvider"]


def load(path: Path):  # -> onnx.ModelProto
    import onnx

    return onnx.load(str(path))


def session(model: object) -> ort.InferenceSession:
    return ort.InferenceSession(model.SerializeToString(), providers=CPU)  # type: ignore[attr-defined]


def pixels(shapes: list[tuple[int, int]], canvas: tuple[int, int], fit: int = 320) -> np.ndarray:
    """Letterboxed BGR uint8 frames, (B, H, W, 3): what a uint8-input graph takes."""
    return np.stack([letterbox(scene(h, w, seed=i), fit, auto=False, canvas=canvas)[0] for i, (h, w) in
                     enumerate(shapes)])


def host_normalised(batch: np.ndarray, dtype: type) -> np.ndarray:
    """The host path ultralytics takes: BGR -> RGB, HWC -> CHW, cast, ``/ 255`` in the model's dtype."""
    out = np.ascontiguousarray(batch[..., ::-1].transpose(0, 3, 1, 2)).astype(dtype)
    out /= 255
    return out


MODELS = {
    # variant: (input canvas, frames; a static model takes its own batch of one)
    "dynamic": ((192, 320), [(360, 640), (720, 1280), (180, 320)]),
    "static": ((320, 320), [(500, 333)]),
    "fp16": ((192, 320), [(360, 640), (720, 1280)]),
}


@pytest.fixture
def model_path(request: pytest.FixtureRequest) -> Path:
    name = {"dynamic": "lively_onnx", "static": "lively_static", "fp16": "lively_fp16"}[request.param]
    return request.getfixturevalue(name)


@pytest.mark.parametrize(("model_path", "variant"), [(v, v) for v in MODELS], indirect=["model_path"])
def test_uint8_graph_equals_float_graph_on_the_same_pixels(model_path: Path, variant: str) -> None:
    import onnx

    original = load(model_path)
    edited = with_uint8_input(original)
    onnx.checker.check_model(edited, full_check=True)
    canvas, shapes = MODELS[variant]
    batch = pixels(shapes, canvas)
    dtype = np.float16 if variant == "fp16" else np.float32
    theirs = session(original).run(None, {"images": host_normalised(batch, dtype)})[0]
    ours_session = session(edited)
    (inp,) = ours_session.get_inputs()
    assert inp.name == UINT8_INPUT and inp.type == "tensor(uint8)"
    assert inp.shape == ([1, 320, 320, 3] if variant == "static" else ["batch", "height", "width", 3])
    ours = ours_session.run(None, {UINT8_INPUT: batch})[0]
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
    assert np.array_equal(ours, theirs)  # the in-graph normalising gives the host's tensor, bit for bit
    assert edited.metadata_props == original.metadata_props  # ultralytics' names, stride, imgsz
    assert original.graph.input[0].name == "images"  # the argument is not changed


SHIPPED_INT8 = Path(__file__).resolve().parents[2] / "vision" / "default_model" / "int8" / "model.onnx"


def test_uint8_input_feeds_an_int8_graph_its_quantized_pixels() -> None:
    """The shipped int8 graph quantizes ``x / 255`` with scale 1/255 and zero point 0: the edit feeds it the RGB
    planes of the uint8 pixels in place of its QuantizeLinear (no cast, no divide, no quantize) and computes bit for
    bit what the original computes on the host-normalised floats."""
    import onnx

    original = load(SHIPPED_INT8)
    edited = with_uint8_input(original)
    onnx.checker.check_model(edited, full_check=True)
    reads_input = [n.op_type for n in original.graph.node if "images" in n.input]
    assert reads_input == ["QuantizeLinear"]
    ops = [n.op_type for n in edited.graph.node]
    # Three nodes added (transpose, the channel order, gather), the quantizer gone; nothing reads the float input.
    assert ops[:3] == ["Transpose", "Constant", "Gather"] and len(ops) == len(original.graph.node) + 2
    assert ops.count("QuantizeLinear") == [n.op_type for n in original.graph.node].count("QuantizeLinear") - 1
    assert not any("images" in n.input for n in edited.graph.node)
    batch = pixels([(360, 640), (720, 1280), (180, 320)], (192, 320))
    theirs = session(original).run(None, {"images": host_normalised(batch, np.float32)})[0]
    ours = session(edited).run(None, {UINT8_INPUT: batch})[0]
    assert np.array_equal(ours, theirs)
    assert (theirs[:, 4:].max(axis=1) > 0.25).any()  # the shipped model finds things on these frames


def test_uint8_input_normalises_for_an_int8_graph_whose_quantizer_is_not_the_pixels() -> None:
    """An int8 graph whose input scale is not exactly 1/255 keeps its QuantizeLinear: the edit normalises in the
    graph as for a float graph, and still computes what the original computes on host-normalised floats."""
    from onnx import numpy_helper

    original = load(SHIPPED_INT8)
    scale = next(t for t in original.graph.initializer if t.name == "images_scale")
    scale.CopyFrom(numpy_helper.from_array(np.array(1 / 250, np.float32), scale.name))
    edited = with_uint8_input(original)
    assert [n.op_type for n in edited.graph.node][3:6] == ["Cast", "Constant", "Div"]  # normalised in the graph
    assert [n.op_type for n in edited.graph.node if "images" in n.input] == ["QuantizeLinear"]
    batch = pixels([(360, 640), (180, 320)], (192, 320))
    theirs = session(original).run(None, {"images": host_normalised(batch, np.float32)})[0]
    assert np.array_equal(session(edited).run(None, {UINT8_INPUT: batch})[0], theirs)


@pytest.mark.parametrize(("model_path", "variant"), [(v, v) for v in MODELS], indirect=["model_path"])
def test_topk_keeps_the_best_anchors_columns_in_anchor_order(model_path: Path, variant: str) -> None:
    import onnx

    original = load(model_path)
    edited = with_topk(original, 50)
    onnx.checker.check_model(edited, full_check=True)
    canvas, shapes = MODELS[variant]
    tensor = host_normalised(pixels(shapes, canvas), np.float16 if variant == "fp16" else np.float32)
    full = session(original).run(None, {"images": tensor})[0]
    top_session = session(edited)
    assert top_session.get_outputs()[0].name == "output0"
    assert top_session.get_outputs()[0].shape[1:] == [20, 50 if variant == "static" else "topk"]
    top = top_session.run(None, {"images": tensor})[0]
    assert top.shape == (*full.shape[:2], 50) and top.dtype == full.dtype
    for i in range(len(full)):
        best = item_scores(full[i : i + 1, 4:].astype(np.float32))[0]  # the decode's confidence
        kept = np.sort(np.argsort(-best, kind="stable")[:50])
        assert np.array_equal(top[i], full[i][:, kept])


def test_topk_larger_than_the_anchors_keeps_them_all(lively_onnx: Path) -> None:
    tensor = host_normalised(pixels([(64, 64)], (64, 64), fit=64), np.float32)  # 64 x 64: 84 anchors
    full = session(load(lively_onnx)).run(None, {"images": tensor})[0]
    top = session(with_topk(load(lively_onnx), 1000)).run(None, {"images": tensor})[0]
    assert full.shape[2] == 84 and np.array_equal(top, full)


def test_both_edits_combine_in_either_order(lively_onnx: Path) -> None:
    batch = pixels([(360, 640), (180, 320)], (192, 320))
    reference = session(with_topk(load(lively_onnx), 30)).run(None, {"images": host_normalised(batch, np.float32)})[0]
    for edited in (with_uint8_input(with_topk(load(lively_onnx), 30)),
                   with_topk(with_uint8_input(load(lively_onnx)), 30)):
        assert np.array_equal(session(edited).run(None, {UINT8_INPUT: batch})[0], reference)
    by_bytes = edited_model_bytes(lively_onnx, uint8_input=True, topk=30)
    out = ort.InferenceSession(by_bytes, providers=CPU).run(None, {UINT8_INPUT: batch})[0]
    assert np.array_equal(out, reference)


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_topk_of_the_designed_output_decodes_to_the_same_detections(
    tmp_path: Path, taxonomy: Taxonomy, dtype: type
) -> None:
    # Designed anchors' best scores: 0.9, 0.8, 0.7, 0.2, 0.6, 0, 0.25 (see yolo_raw): the best 5 are 0, 1, 2, 4, 6.
    path = constant_output_onnx(tmp_path / "m.onnx", designed_raw(taxonomy, dtype), input_shape=("b", 3, "h", "w"))
    image = np.zeros((2, 3, 64, 64), dtype)
    full = session(load(path)).run(None, {"images": image})[0]
    top = session(with_topk(load(path), 5)).run(None, {"images": image})[0]
    assert np.array_equal(top, full[:, :, [0, 1, 2, 4, 6]])
    box = letterbox(np.zeros((64, 64, 3), np.uint8), 64, auto=False, canvas=rect_shape([(64, 64)], 64))[1]
    for nms_by in ("produce", "class"):
        a = decode(full, [box, box], taxonomy, DecodeOptions(nms_by=nms_by))  # type: ignore[arg-type]
        b = decode(top, [box, box], taxonomy, DecodeOptions(nms_by=nms_by))  # type: ignore[arg-type]
        for x, y in zip(a, b, strict=True):
            assert len(x) > 0 and np.array_equal(x.xyxy, y.xyxy) and np.array_equal(x.class_id, y.class_id)


# --- refusals -------------------------------------------------------------------------------------------------------


def _external(tmp_path: Path, taxonomy: Taxonomy):  # -> onnx.ModelProto with its raw tensor in another file
    import onnx

    model = load(constant_output_onnx(tmp_path / "m.onnx", designed_raw(taxonomy)))
    onnx.save(model, str(tmp_path / "ext.onnx"), save_as_external_data=True, location="ext.bin", size_threshold=500)
    return onnx.load(str(tmp_path / "ext.onnx"), load_external_data=False)


def _two_inputs(tmp_path: Path, taxonomy: Taxonomy):
    from onnx import TensorProto, helper

    model = load(constant_output_onnx(tmp_path / "m.onnx", designed_raw(taxonomy)))
    model.graph.input.append(helper.make_tensor_value_info("extra", TensorProto.FLOAT, [1]))
    return model


def _hand_made(**kwargs: object):
    def make(tmp_path: Path, taxonomy: Taxonomy):
        raw = kwargs.pop("raw", None)
        return load(constant_output_onnx(tmp_path / "m.onnx", designed_raw(taxonomy) if raw is None else raw,
                                         **kwargs))  # type: ignore[arg-type]
    return make


def _old_opset(tmp_path: Path, taxonomy: Taxonomy):
    model = load(constant_output_onnx(tmp_path / "m.onnx", designed_raw(taxonomy)))
    model.opset_import[0].version = 12
    return model


@pytest.mark.parametrize(
    ("make", "edit", "message"),
    [
        (_external, "uint8", r"external data \(initializer 'raw' in 'ext.bin'\)"),
        (_external, "topk", "external data"),
        (_two_inputs, "uint8", r"one image input and one output, the graph has inputs \['images', 'extra'\]"),
        (_hand_made(input_type=2), "uint8", r"input 'images' is UINT8 \['batch', 3, 320, 320\]; expected a float"),
        (_hand_made(input_shape=("b", 1, 320, 320)), "topk", r"expected a float or float16 \(batch, 3, height"),
        (_hand_made(output_shape=["b", 20]), "topk", r"output 'output0' has shape \['b', 20\]; expected a float"),
        (_old_opset, "topk", "opset 12; top-k needs opset >= 13"),
        (lambda p, t: with_uint8_input(_hand_made()(p, t)), "uint8", "already takes uint8 pixels"),
        (lambda p, t: with_topk(_hand_made()(p, t), 3), "topk", "already ends in a top-k"),
        (lambda p, t: b"not a model", "uint8", "expected an onnx.ModelProto, got bytes"),
    ],
    ids=["external-uint8", "external-topk", "two-inputs", "uint8-input", "one-channel", "rank-2-output",
         "old-opset", "uint8-twice", "topk-twice", "bytes"],
)
def test_graphs_that_are_not_ours_are_refused(
    tmp_path: Path, taxonomy: Taxonomy, make: object, edit: str, message: str
) -> None:
    model = make(tmp_path, taxonomy)  # type: ignore[operator]
    with pytest.raises(ModelLoadError, match=message):
        with_uint8_input(model) if edit == "uint8" else with_topk(model, 10)


@pytest.mark.parametrize("k", [0, -1, True, 2.5, "10"])
def test_bad_k_is_named(tmp_path: Path, taxonomy: Taxonomy, k: object) -> None:
    with pytest.raises(InputError, match="topk must be an int >= 1"):
        with_topk(load(constant_output_onnx(tmp_path / "m.onnx", designed_raw(taxonomy))), k)  # type: ignore[arg-type]


def test_unreadable_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "junk.onnx"
    path.write_bytes(b"\x08\x99garbage" * 10)
    with pytest.raises(ModelLoadError, match=r"cannot load ONNX model .*junk.onnx"):
        edited_model_bytes(path, uint8_input=True, topk=None)
