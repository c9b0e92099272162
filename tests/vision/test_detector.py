"""Detector on real ONNX Runtime sessions: a real YOLO11n graph (parity with ultralytics, batching, fp16, static
shapes) and designed constant-output graphs (exact box mapping), plus every error a user can cause."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import pytest
from yolo_raw import KEPT, constant_output_onnx, designed_raw, expected_input_xyxy

from vision.detections import Detections
from vision.decode import DecodeOptions, item_scores
from vision.detector import DEFAULT_PROVIDERS, Detector, choose_providers
from vision.detector_options import GraphEdits, InputOptions, RuntimeOptions
from vision.errors import InputError, ModelLoadError
from vision.frame import Frame
from vision.nms import box_iou
from vision.taxonomy import Taxonomy

FRAME_SHAPES = [(360, 640), (720, 1280), (500, 333), (320, 320), (100, 1000)]
LOW_CONF = DecodeOptions(conf_threshold=0.05)
ONE_REPLICA = RuntimeOptions(cpu_replicas=1)
UINT8 = GraphEdits(uint8_input=True)


# --- models ------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lively_onnx(untrained_onnx: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The untrained YOLO11n with every conv weight scaled by 2.5 and class biases at -3.

    Freshly initialised YOLO weights shrink activations to ~1e-7 by the head, so every anchor gets the same score
    and box whatever the image. Rescaled, the outputs depend on the pixels (scores ~0.05-0.8, varied boxes), so
    parity, batching and fp16 comparisons mean something. Same graph, same ops; only initializers change.
    """
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(untrained_onnx))
    inits = {i.name: i for i in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type != "Conv" or node.input[1] not in inits:
            continue
        weight = inits[node.input[1]]
        weight.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(weight) * np.float32(2.5), weight.name))
        if re.search(r"cv3\.\d\.2/Conv$", node.name):  # the class-score convs of the detect head
            bias = inits[node.input[2]]
            bias.CopyFrom(numpy_helper.from_array(np.full(bias.dims, -3.0, np.float32), bias.name))
    path = tmp_path_factory.mktemp("lively") / "lively.onnx"
    onnx.save(model, str(path))
    raw = ort.InferenceSession(str(path)).run(None, {"images": preprocessed(scene(320, 320))})[0]
    best = raw[0, 4:].max(axis=0)
    if len(np.unique(best)) < 100 or best.max() < 0.3:
        pytest.fail(f"rescaled model outputs barely vary (max {best.max():.3g}); ultralytics' init changed?")
    return path


@pytest.fixture(scope="module")
def lively_fp16(lively_onnx: Path) -> Path:
    """The lively model converted to float16 weights and float16 I/O."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    path = lively_onnx.with_name("lively_fp16.onnx")
    onnx.save(convert_float_to_float16(onnx.load(str(lively_onnx)), keep_io_types=False), str(path))
    return path


@pytest.fixture(scope="module")
def lively_static(lively_onnx: Path) -> Path:
    """The lively model with a fully static input (1, 3, 320, 320), as ultralytics exports with dynamic=False."""
    import onnx

    model = onnx.load(str(lively_onnx))
    for dim, value in zip(model.graph.input[0].type.tensor_type.shape.dim, (1, 3, 320, 320)):
        dim.Clear()
        dim.dim_value = value
    path = lively_onnx.with_name("lively_static.onnx")
    onnx.save(model, str(path))
    return path


def scene(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A BGR frame with a few coloured discs on gray."""
    rng = np.random.default_rng(seed)
    img = np.full((h, w, 3), 114, np.uint8)
    for _ in range(6):
        colour = tuple(int(v) for v in rng.integers(0, 255, 3))
        centre = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        cv2.circle(img, centre, int(rng.integers(10, max(11, min(h, w) // 4))), colour, -1)
    return img


def preprocessed(image: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(image[..., ::-1].transpose(2, 0, 1)[None], dtype=np.float32) / 255


def same(a: Detections, b: Detections, atol: float) -> bool:
    return (
        len(a) == len(b)
        and np.array_equal(a.class_id, b.class_id)
        and np.allclose(a.xyxy, b.xyxy, atol=atol)
        and np.allclose(a.confidence, b.confidence, atol=atol)
        and np.allclose(a.freshness, b.freshness, atol=atol)
    )


# --- loading and providers ---------------------------------------------------------------------------------------


def test_untrained_model_loads_with_its_signature(untrained_onnx: Path, taxonomy: Taxonomy) -> None:
    det = Detector(untrained_onnx, taxonomy)
    expected = next(p for p in DEFAULT_PROVIDERS if p in ort.get_available_providers())
    assert (det.provider, det.requested_provider, det.fell_back) == (expected, expected, False)
    assert det.providers[0] == det.provider
    assert det.input_name == "images" and det.input_dtype == np.float32
    assert det.dynamic_hw and det.dynamic_batch and det.input_hw is None
    assert det.imgsz == (320, 320) and det.stride == 32  # from the export's ultralytics metadata
    assert Detector(untrained_onnx, taxonomy, inputs=InputOptions(imgsz=640)).imgsz == (640, 640)
    dets = det.detect([scene(360, 640), scene(200, 300), scene(640, 360)])
    assert len(dets) == 3 and all(isinstance(d, Detections) for d in dets)


def test_unavailable_provider_falls_back_visibly(
    untrained_onnx: Path, taxonomy: Taxonomy, caplog: pytest.LogCaptureFixture
) -> None:
    missing = next(p for p in ort.get_all_providers() if p not in ort.get_available_providers())
    with caplog.at_level(logging.WARNING, logger="vision.detector"):
        det = Detector(untrained_onnx, taxonomy, runtime=RuntimeOptions(providers=[missing, "CPUExecutionProvider"]))
    assert det.requested_provider == missing
    assert det.provider == "CPUExecutionProvider"
    assert det.fell_back
    assert any(missing in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)


CPU, CUDA, TRT = "CPUExecutionProvider", "CUDAExecutionProvider", "TensorrtExecutionProvider"
AZURE = "AzureExecutionProvider"


@pytest.mark.parametrize(
    ("preference", "available", "chosen", "requested"),
    [
        (None, [AZURE, CPU], [CPU], CPU),
        (None, [TRT, CUDA, CPU], [TRT, CUDA, CPU], TRT),
        (None, [CUDA, CPU], [CUDA, CPU], CUDA),
        ([CUDA, CPU], [AZURE, CPU], [CPU], CUDA),  # asked for CUDA, this build has none: a fallback
        ([CUDA], [AZURE, CPU], [CPU], CUDA),
        ([CPU], [CUDA, CPU], [CPU], CPU),
    ],
)
def test_choose_providers(
    preference: list[str] | None, available: list[str], chosen: list[str], requested: str
) -> None:
    assert choose_providers(preference, available) == (chosen, requested)


@pytest.mark.parametrize("preference", [["CudaExecutionProvider"], [], "CPUExecutionProvider"])
def test_choose_providers_rejects_bad_names(preference: list[str] | str) -> None:
    with pytest.raises(ModelLoadError, match="provider"):
        choose_providers(preference, [CPU])


# --- real model: parity, batching, fp16, static shapes -----------------------------------------------------------


@pytest.mark.parametrize("variant", ["dynamic", "static"])
def test_matches_ultralytics_predict(
    lively_onnx: Path, lively_static: Path, taxonomy: Taxonomy, variant: str
) -> None:
    from ultralytics import YOLO

    path = lively_onnx if variant == "dynamic" else lively_static
    det = Detector(path, taxonomy, decoding=DecodeOptions(conf_threshold=0.05, iou_threshold=0.6, nms_by="class"),
                   inputs=InputOptions(imgsz=320))
    assert det.dynamic_hw == (variant == "dynamic")
    theirs = YOLO(str(path), task="detect")
    for i, shape in enumerate(FRAME_SHAPES):
        image = scene(*shape, seed=i)
        ours = det(image)
        boxes = theirs.predict(image, imgsz=320, conf=0.05, iou=0.6, verbose=False)[0].boxes
        assert len(ours) == len(boxes) > 0, shape
        assert np.array_equal(ours.class_id, boxes.cls.numpy().astype(np.int64)), shape
        assert np.allclose(ours.xyxy, boxes.xyxy.numpy(), atol=1e-4), shape
        assert np.allclose(ours.confidence, boxes.conf.numpy(), atol=1e-6), shape


@pytest.mark.parametrize("variant", ["dynamic", "static"])
def test_batch_equals_single_calls(lively_onnx: Path, lively_static: Path, taxonomy: Taxonomy, variant: str) -> None:
    det = Detector(lively_onnx if variant == "dynamic" else lively_static, taxonomy, decoding=LOW_CONF)
    images = [scene(360, 640, 1), scene(500, 333, 2), scene(720, 1280, 3), scene(360, 640, 4)]
    batch = det.detect(images)
    singles = [det(im) for im in images]
    assert [len(d) for d in batch] == [len(d) for d in singles]
    assert sum(len(d) for d in batch) > 0
    for b, s in zip(batch, singles):
        assert same(b, s, atol=1e-3)
        assert np.allclose(b.data["class_scores"], s.data["class_scores"], atol=1e-3)


@pytest.mark.parametrize("variant", ["dynamic", "static"])
def test_cpu_replicas_split_a_batch_and_give_the_same_output(
    lively_onnx: Path, lively_static: Path, taxonomy: Taxonomy, variant: str
) -> None:
    path = lively_onnx if variant == "dynamic" else lively_static
    one = Detector(path, taxonomy, runtime=ONE_REPLICA)
    three = Detector(path, taxonomy, runtime=RuntimeOptions(cpu_replicas=3))
    assert (one.cpu_replicas, three.cpu_replicas) == (1, 3)
    images = [scene(120, 160, seed=i) for i in range(7)]
    tensor, _ = one.preprocess(images)
    for n in (1, 2, 3, 7):  # fewer frames than replicas, a share of one frame each, uneven shares
        single, split = one.infer(tensor[:n]), three.infer(tensor[:n])
        assert split.shape == single.shape
        np.testing.assert_allclose(split, single, rtol=1e-5, atol=1e-4)
    assert all(same(a, b, atol=1e-3) for a, b in zip(one.detect(images), three.detect(images), strict=True))
    three.close()


def test_cpu_replicas_default_to_one_with_explicit_threads(lively_onnx: Path, taxonomy: Taxonomy) -> None:
    assert Detector(lively_onnx, taxonomy, runtime=RuntimeOptions(intra_op_threads=1)).cpu_replicas == 1
    assert Detector(lively_onnx, taxonomy, runtime=RuntimeOptions(intra_op_threads=1, cpu_replicas=2)).cpu_replicas == 2


def test_produce_nms_merges_conditions_of_one_item(lively_onnx: Path, taxonomy: Taxonomy) -> None:
    # Exact semantics are pinned by the designed graphs below; on a real output, grouping by produce kind
    # must remove the boxes that differ from a better one only in the condition.
    by_class = Detector(lively_onnx, taxonomy, decoding=DecodeOptions(conf_threshold=0.05, nms_by="class"))
    by_produce = Detector(lively_onnx, taxonomy, decoding=DecodeOptions(conf_threshold=0.05, nms_by="produce"))
    by_class, by_produce = by_class(scene(360, 640)), by_produce(scene(360, 640))
    assert 0 < len(by_produce) < len(by_class)
    assert len(np.unique(taxonomy.condition_index(by_class.class_id))) > 1


def test_fp16_model_runs_and_roughly_matches_fp32(lively_onnx: Path, lively_fp16: Path, taxonomy: Taxonomy) -> None:
    det16 = Detector(lively_fp16, taxonomy, decoding=LOW_CONF)
    det32 = Detector(lively_onnx, taxonomy, decoding=LOW_CONF)
    assert det16.input_dtype == np.float16
    batch, _ = det16.preprocess([scene(360, 640)])
    assert batch.dtype == np.float16
    for i, shape in enumerate(FRAME_SHAPES[:3]):
        a, b = det32(scene(*shape, seed=i)), det16(scene(*shape, seed=i))
        assert b.xyxy.dtype == np.float32 and b.data["class_scores"].dtype == np.float32
        strong = a[a.confidence > 0.055][:5]  # best first; clear of the 0.05 threshold that fp16 may cross
        assert len(strong) > 0
        iou = box_iou(strong.xyxy, b.xyxy)
        match = iou.argmax(axis=1)
        assert (iou.max(axis=1) > 0.9).all(), shape
        assert np.allclose(strong.confidence, b.confidence[match], atol=0.02), shape


def test_preprocess_tensor(lively_onnx: Path, lively_static: Path, taxonomy: Taxonomy) -> None:
    blue = np.zeros((360, 640, 3), np.uint8)
    blue[..., 0] = 255  # BGR blue
    batch, boxes = Detector(lively_onnx, taxonomy).preprocess([blue, blue])
    assert batch.shape == (2, 3, 192, 320) and batch.dtype == np.float32 and batch.flags.c_contiguous
    assert boxes[0].pad_top == 6 and boxes[0].resized == (180, 320)
    assert np.allclose(batch[0, :, 100, 100], [0, 0, 1])  # RGB order
    assert np.allclose(batch[0, :, 0, 0], 114 / 255)  # padding
    static, boxes = Detector(lively_static, taxonomy).preprocess([blue])
    assert static.shape == (1, 3, 320, 320) and boxes[0].pad_top == 70


def test_detect_frames(lively_onnx: Path, taxonomy: Taxonomy) -> None:
    det = Detector(lively_onnx, taxonomy, decoding=LOW_CONF)
    frames = [Frame("cam-a", i, 0.0, scene(360, 640, seed=i)) for i in range(2)]
    assert all(same(a, b, 0) for a, b in zip(det.detect_frames(frames), det.detect([f.image for f in frames])))


# --- the GPU path, on the CPU: uint8 input, top-k output, IO binding ---------------------------------------------------


@pytest.mark.parametrize("variant", ["dynamic", "static", "fp16"])
def test_uint8_input_detector_equals_the_float_detector(
    lively_onnx: Path, lively_static: Path, lively_fp16: Path, taxonomy: Taxonomy, variant: str
) -> None:
    path = {"dynamic": lively_onnx, "static": lively_static, "fp16": lively_fp16}[variant]
    plain = Detector(path, taxonomy, decoding=LOW_CONF, runtime=ONE_REPLICA)
    u8 = Detector(path, taxonomy, decoding=LOW_CONF, edits=UINT8, runtime=ONE_REPLICA)
    assert u8.input_dtype == np.uint8 and u8.input_name == "images_u8" and u8.session_model != str(path)
    assert (u8.dynamic_hw, u8.dynamic_batch, u8.input_hw, u8.imgsz) == (
        plain.dynamic_hw, plain.dynamic_batch, plain.input_hw, plain.imgsz
    )
    images = [scene(360, 640, 1), scene(500, 333, 2), scene(360, 640, 3)]
    tensor, boxes = u8.preprocess(images[::2])
    float_tensor, float_boxes = plain.preprocess(images[::2])
    assert tensor.shape == (2, *float_tensor.shape[2:], 3) and tensor.dtype == np.uint8 and boxes == float_boxes
    assert np.array_equal(u8.infer(tensor), plain.infer(float_tensor))  # bit for bit, fp16 included
    ours, theirs = u8.detect(images), plain.detect(images)
    assert sum(len(d) for d in theirs) > 0
    assert all(same(a, b, atol=0) for a, b in zip(ours, theirs, strict=True))
    assert Path(path).read_bytes() == Path(plain.session_model).read_bytes()  # the file is never changed


def most_candidates(detector: Detector, images: list[np.ndarray]) -> int:
    """The most anchors whose item score is over the detector's confidence threshold in any of ``images``."""
    raws = [detector.infer(detector.preprocess([image])[0]) for image in images]
    return max(int((item_scores(raw[:, 4:])[0] > detector.decoding.conf_threshold).sum()) for raw in raws)


# The lively model's item scores (16 classes of ~0.05-0.8 each) are high nearly everywhere; over this threshold
# only some anchors are, so a top-k really cuts.
TOPK_CONF = 0.7
# Frames of `FRAME_SHAPES` whose anchors are not nearly all over TOPK_CONF for the lively model.
TOPK_FRAMES = [(i, FRAME_SHAPES[i]) for i in (0, 1, 3, 4)]


def test_topk_detections_equal_the_full_output(lively_onnx: Path, taxonomy: Taxonomy) -> None:
    full = Detector(lively_onnx, taxonomy, decoding=DecodeOptions(conf_threshold=TOPK_CONF))
    images = [scene(*shape, seed=i) for i, shape in TOPK_FRAMES]
    k = most_candidates(full, images)
    assert 0 < k < 210  # 210: the fewest anchors of these frames (100 x 1000)
    top = Detector(lively_onnx, taxonomy, decoding=DecodeOptions(conf_threshold=TOPK_CONF), edits=GraphEdits(topk=k))
    tensor, _ = top.preprocess(images[:1])
    assert top.infer(tensor).shape == (1, 4 + taxonomy.num_classes, k)
    ours, theirs = top.detect(images), full.detect(images)
    assert sum(len(d) for d in theirs) > 0
    assert all(same(a, b, atol=0) for a, b in zip(ours, theirs, strict=True))
    fewer = Detector(lively_onnx, taxonomy, decoding=DecodeOptions(conf_threshold=TOPK_CONF), edits=GraphEdits(topk=3))
    fewer = fewer(images[0])
    assert len(fewer) <= 3 and np.isin(fewer.confidence, theirs[0].confidence).all()


@pytest.mark.parametrize(("variant", "replicas"), [("dynamic", 1), ("dynamic", 3), ("static", 2)])
def test_io_binding_on_the_cpu_gives_the_same_raw_output(
    lively_onnx: Path, lively_static: Path, taxonomy: Taxonomy, variant: str, replicas: int
) -> None:
    path = lively_onnx if variant == "dynamic" else lively_static
    plain = Detector(path, taxonomy, runtime=RuntimeOptions(cpu_replicas=replicas))
    bound = Detector(path, taxonomy, runtime=RuntimeOptions(cpu_replicas=replicas, io_binding=True))
    assert (plain.io_binding, bound.io_binding, bound.cpu_replicas) == (False, True, replicas)
    tensor, _ = plain.preprocess([scene(360, 640, seed=i) for i in range(5)])
    for n in (1, 2, 5):  # one frame on the main session, shares per replica, static-batch chunks of one
        assert np.array_equal(bound.infer(tensor[:n]), plain.infer(tensor[:n]))
    bound.close()


def test_uint8_topk_and_io_binding_together_detect_what_the_plain_detector_does(
    lively_onnx: Path, taxonomy: Taxonomy
) -> None:
    plain = Detector(lively_onnx, taxonomy, decoding=DecodeOptions(conf_threshold=0.2))
    images = [scene(*shape, seed=i) for i, shape in TOPK_FRAMES]
    k = most_candidates(plain, images)
    gpu_path = Detector(lively_onnx, taxonomy, decoding=DecodeOptions(conf_threshold=0.2),
                        edits=GraphEdits(uint8_input=True, topk=k), runtime=RuntimeOptions(io_binding=True))
    assert "input=uint8" in repr(gpu_path) and f"topk={k}, io_binding=True" in repr(gpu_path)
    ours, theirs = gpu_path.detect(images), plain.detect(images)
    assert sum(len(d) for d in theirs) > 0
    assert all(same(a, b, atol=0) for a, b in zip(ours, theirs, strict=True))
    assert all(np.array_equal(a.data["class_scores"], b.data["class_scores"]) for a, b in zip(ours, theirs))


def test_an_edited_graph_needs_a_self_contained_file(tmp_path: Path, taxonomy: Taxonomy) -> None:
    import onnx

    model = onnx.load(str(constant_output_onnx(tmp_path / "m.onnx", designed_raw(taxonomy))))
    onnx.save(model, str(tmp_path / "ext.onnx"), save_as_external_data=True, location="ext.bin", size_threshold=500)
    assert Detector(tmp_path / "ext.onnx", taxonomy).input_dtype == np.float32  # unedited: ONNX Runtime reads it
    with pytest.raises(ModelLoadError, match="with_uint8_input: the graph keeps tensors in external data"):
        Detector(tmp_path / "ext.onnx", taxonomy, edits=UINT8)


# --- designed constant-output graphs: exact mapping -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("input_shape", "pad_top"),
    [(("batch", 3, 320, 320), 70), (("batch", 3, "height", "width"), 6), ((1, 3, 320, 320), 70)],
    ids=["static-hw", "dynamic-hw", "static-batch"],
)
@pytest.mark.parametrize("nms_by", ["produce", "class"])
@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_designed_output_maps_to_frame_pixels(
    tmp_path: Path, taxonomy: Taxonomy, input_shape: tuple, pad_top: int, nms_by: str, dtype: type
) -> None:
    path = constant_output_onnx(tmp_path / "const.onnx", designed_raw(taxonomy, dtype), input_shape=input_shape)
    det = Detector(path, taxonomy, decoding=DecodeOptions(nms_by=nms_by), inputs=InputOptions(imgsz=320))
    assert det.input_dtype == dtype
    frame, square = det.detect([np.zeros((360, 640, 3), np.uint8), np.zeros((320, 320, 3), np.uint8)])
    kept = KEPT[nms_by]
    in_pixels = expected_input_xyxy(kept)
    expected = (in_pixels - np.array([0, pad_top, 0, pad_top], np.float32)) / 0.5
    expected[:, [0, 2]] = expected[:, [0, 2]].clip(0, 640)
    expected[:, [1, 3]] = expected[:, [1, 3]].clip(0, 360)
    atol = 1e-4 if dtype == np.float32 else 0.5
    assert np.allclose(frame.xyxy, expected, atol=atol)
    assert np.allclose(square.xyxy, in_pixels.clip(0, 320), atol=atol)
    assert frame.class_id.tolist() == square.class_id.tolist()
    assert np.allclose(frame.freshness[0], (0.9 + 0.3 * 0.6) / 1.2, atol=1e-3)


# --- errors a user can cause ----------------------------------------------------------------------------------------


def _write_random(path: Path) -> None:
    path.write_bytes(np.random.default_rng(0).bytes(4096))


def _write_empty(path: Path) -> None:
    path.write_bytes(b"")


def _write_truncated(path: Path) -> None:
    path.write_bytes(path.with_name("good.onnx").read_bytes()[:300])


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (None, "model file not found: .*model.onnx"),
        ("dir", "is a directory"),
        (_write_random, "cannot load ONNX model .*model.onnx: "),
        (_write_empty, "cannot load ONNX model .*model.onnx"),
        (_write_truncated, "cannot load ONNX model .*model.onnx"),
        ({"rows": 19}, r"19 channels = 4 \+ 15 classes, but the taxonomy has 16"),
        ({"input_type": 2}, r"tensor\(uint8\)"),  # TensorProto.UINT8
        ({"input_shape": ("batch", 1, 320, 320)}, r"expected \(batch, 3, height, width\)"),
        ({"input_shape": ("batch", 3, 320, "w")}, "one static and one dynamic"),
        ({"metadata": {"names": str(dict(enumerate(["a"] * 16)))}}, "class names"),
        ({"metadata": {"end2end": "True"}}, "NMS in the graph"),
    ],
)
def test_bad_models_are_named(tmp_path: Path, taxonomy: Taxonomy, make: object, message: str) -> None:
    path = tmp_path / "model.onnx"
    constant_output_onnx(tmp_path / "good.onnx", designed_raw(taxonomy))
    if make == "dir":
        path.mkdir()
    elif callable(make):
        make(path)
    elif isinstance(make, dict):
        rows = make.pop("rows", 4 + taxonomy.num_classes)
        constant_output_onnx(path, np.zeros((rows, 8), np.float32), **make)
    with pytest.raises(ModelLoadError, match=message):
        Detector(path, taxonomy)


def test_symbolic_class_count_is_checked_on_first_run(tmp_path: Path, taxonomy: Taxonomy) -> None:
    path = constant_output_onnx(
        tmp_path / "m.onnx",
        np.zeros((19, 8), np.float32),
        input_shape=("batch", 3, "height", "width"),
        output_shape=["batch", "channels", "anchors"],
        hide_channels=True,
    )
    det = Detector(path, taxonomy, inputs=InputOptions(imgsz=64))
    with pytest.raises(ModelLoadError, match=r"19 channels .* taxonomy has 16"):
        det(np.zeros((32, 32, 3), np.uint8))


IMG = np.zeros((48, 64, 3), np.uint8)


@pytest.mark.parametrize(
    ("images", "message"),
    [
        ([], "empty batch"),
        (IMG, "sequence of images, got one array of shape"),
        ([IMG.astype(np.float32)], r"image 0: dtype float32 with shape \(48, 64, 3\)"),
        ([IMG[..., 0]], r"image 0: shape \(48, 64\)"),
        ([np.zeros((48, 64, 4), np.uint8)], r"image 0: shape \(48, 64, 4\)"),
        ([IMG, np.zeros((0, 64, 3), np.uint8)], r"image 1 is empty: shape \(0, 64, 3\)"),
        ([IMG, IMG.tolist()], "image 1: expected a numpy array"),
        ([np.zeros((100, 101, 3), np.uint8)], "101x100 = 10100 pixels exceeds max_pixels=10000"),
    ],
)
def test_bad_inputs_are_named(tmp_path: Path, taxonomy: Taxonomy, images: object, message: str) -> None:
    path = constant_output_onnx(tmp_path / "m.onnx", designed_raw(taxonomy))
    det = Detector(path, taxonomy, inputs=InputOptions(max_pixels=10_000))
    with pytest.raises(InputError, match=message):
        det.detect(images)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("options", "settings", "message"),
    [
        (InputOptions, {"max_pixels": 0}, "max_pixels: input should be greater than or equal to 1, got 0"),
        (InputOptions, {"imgsz": True}, "imgsz: input should be a valid integer, got True"),
        (RuntimeOptions, {"intra_op_threads": -1}, "intra_op_threads: input should be greater than or equal to 0"),
        (RuntimeOptions, {"cpu_replicas": 0}, "cpu_replicas: input should be greater than or equal to 1, got 0"),
        (RuntimeOptions, {"cpu_replicas": True}, "cpu_replicas: input should be a valid integer, got True"),
        (RuntimeOptions, {"io_binding": 1}, "io_binding: input should be a valid boolean, got 1"),
        (RuntimeOptions, {"providers": "CPUExecutionProvider"}, "providers: input should be a valid tuple"),
        (RuntimeOptions, {"providers": []}, "providers: tuple should have at least 1 item"),
        (RuntimeOptions, {"cpu_mem_arena": "no"}, "cpu_mem_arena: input should be a valid boolean, got 'no'"),
        (GraphEdits, {"topk": 0}, "topk: input should be greater than or equal to 1, got 0"),
        (GraphEdits, {"topk": True}, "topk: input should be a valid integer, got True"),
        (GraphEdits, {"topk": 2.5}, "topk: input should be a valid integer, got 2.5"),
        (GraphEdits, {"uint8_input": "yes"}, "uint8_input: input should be a valid boolean, got 'yes'"),
        (GraphEdits, {"uint8": True}, "GraphEdits has no setting 'uint8'"),
    ],
)
def test_bad_settings_are_named_when_the_value_is_made(options: type, settings: dict, message: str) -> None:
    with pytest.raises(InputError, match=re.escape(message)):
        options(**settings)


def test_imgsz_off_the_model_stride_is_named_at_load(tmp_path: Path, taxonomy: Taxonomy) -> None:
    """The one setting only the model can check: its stride."""
    path = constant_output_onnx(tmp_path / "m.onnx", designed_raw(taxonomy), input_shape=("b", 3, "h", "w"))
    with pytest.raises(InputError, match="imgsz must be a positive multiple of the model stride 32, got 300"):
        Detector(path, taxonomy, inputs=InputOptions(imgsz=300))
