"""`PipelinedDetector`: decode + pre-processing overlapped with the model gives exactly `Detector.detect`'s answers
(full decode), and a scaled JPEG decode places every frame exactly as its full-size decode would be placed."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from vision.decode import DecodeOptions
from vision.detections import Detections
from vision.detector import Detector
from vision.detector_options import GraphEdits, InputOptions, RuntimeOptions
from vision.errors import InputError
from vision.taxonomy import Taxonomy
from vision.throughput.buffer_pool import BufferPool
from vision.throughput.frame_decoding import FrameDecoding
from vision.throughput.pipelined import PipelinedDetector, decode_image

LOW_CONF = DecodeOptions(conf_threshold=0.05)
ONE_REPLICA = RuntimeOptions(cpu_replicas=1)
UINT8 = GraphEdits(uint8_input=True)


@pytest.fixture(scope="module")
def varied_onnx(untrained_onnx: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The untrained YOLO11n with conv weights x2.5 and class biases at -3, so its answers depend on the image
    (a mix-up of frames between batches shows)."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(untrained_onnx))
    inits = {i.name: i for i in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type != "Conv" or node.input[1] not in inits:
            continue
        weight = inits[node.input[1]]
        weight.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(weight) * np.float32(2.5), weight.name))
        if re.search(r"cv3\.\d\.2/Conv$", node.name):
            bias = inits[node.input[2]]
            bias.CopyFrom(numpy_helper.from_array(np.full(bias.dims, -3.0, np.float32), bias.name))
    path = tmp_path_factory.mktemp("varied") / "varied.onnx"
    onnx.save(model, str(path))
    return path


def scene(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = np.full((h, w, 3), 90, np.uint8)
    for _ in range(6):
        colour = tuple(int(v) for v in rng.integers(0, 255, 3))
        centre = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        cv2.circle(img, centre, int(rng.integers(10, max(11, min(h, w) // 4))), colour, -1)
    return img


def jpeg(image: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()


def identical(a: Detections, b: Detections) -> bool:
    return (np.array_equal(a.xyxy, b.xyxy) and np.array_equal(a.class_id, b.class_id)
            and np.array_equal(a.confidence, b.confidence) and np.array_equal(a.freshness, b.freshness))


@pytest.mark.parametrize("replicas", [1, 2], ids=["overlapped", "sharded"])
@pytest.mark.parametrize("batch", [1, 3])
def test_stream_equals_detect_frame_by_frame(
    varied_onnx: Path, taxonomy: Taxonomy, batch: int, replicas: int
) -> None:
    det = Detector(varied_onnx, taxonomy, decoding=LOW_CONF, runtime=RuntimeOptions(cpu_replicas=replicas))
    assert det.cpu_replicas == replicas
    # Mixed sizes in one batch (two input shapes), JPEG bytes and decoded arrays mixed.
    shapes = [(360, 640), (360, 640), (500, 333), (720, 1280), (360, 640), (320, 320), (360, 640)]
    payloads: list[bytes | np.ndarray] = [jpeg(scene(h, w, i)) if i % 2 == 0 else scene(h, w, i)
                                          for i, (h, w) in enumerate(shapes)]
    batches = [payloads[i : i + batch] for i in range(0, len(payloads), batch)]
    with PipelinedDetector(det, FrameDecoding(scaled=False)) as pipe:
        streamed = [d for out in pipe.run(batches) for d in out]
        single = pipe.detect(payloads)
    expected = det.detect([decode_image(p).pixels for p in payloads])
    assert len(streamed) == len(expected) == len(single) == len(payloads)
    assert sum(len(d) for d in expected) > 0
    assert len({len(d) for d in expected}) > 1  # frames differ, so a mix-up would show
    assert all(identical(a, b) for a, b in zip(streamed, expected))
    assert all(identical(a, b) for a, b in zip(single, expected))


def test_uint8_input_stream_equals_the_float_detector(varied_onnx: Path, taxonomy: Taxonomy) -> None:
    u8 = Detector(varied_onnx, taxonomy, decoding=LOW_CONF, edits=UINT8, runtime=ONE_REPLICA)
    shapes = [(360, 640), (500, 333), (360, 640), (360, 640), (720, 1280)]
    payloads: list[bytes | np.ndarray] = [jpeg(scene(h, w, i)) if i % 2 == 0 else scene(h, w, i)
                                          for i, (h, w) in enumerate(shapes)]
    with PipelinedDetector(u8, FrameDecoding(scaled=False)) as pipe:
        streamed = [d for out in pipe.run([payloads[:2], payloads[2:4], payloads[4:]]) for d in out]
        # The pool recycles the uint8 pixel batches the uint8 graph takes: this one still holds a frame's top pad.
        recycled = pipe.buffers.take((2, 192, 320, 3), np.dtype(np.uint8))
        assert (recycled[:, 0, 0] == 114).all()
    expected = Detector(varied_onnx, taxonomy, decoding=LOW_CONF).detect([decode_image(p).pixels for p in payloads])
    assert sum(len(d) for d in expected) > 0
    assert all(identical(a, b) for a, b in zip(streamed, expected, strict=True))


def test_empty_stream_yields_nothing(untrained_onnx: Path, taxonomy: Taxonomy) -> None:
    with PipelinedDetector(Detector(untrained_onnx, taxonomy)) as pipe:
        assert list(pipe.run([])) == []


@pytest.mark.parametrize("replicas", [1, 2], ids=["overlapped", "sharded"])
def test_bad_jpeg_raises_from_its_batch(untrained_onnx: Path, taxonomy: Taxonomy, replicas: int) -> None:
    good = jpeg(scene(360, 640, 0))
    with PipelinedDetector(Detector(untrained_onnx, taxonomy, runtime=RuntimeOptions(cpu_replicas=replicas))) as pipe:
        results = pipe.run([[good, good], [good, good, b"not a jpeg"], [good, good]])
        assert len(next(results)) == 2
        with pytest.raises(InputError, match="image 2: 10 bytes do not decode"):  # its index in its own batch
            next(results)


def test_decode_threads_give_the_same_answers_and_name_the_bad_image(varied_onnx: Path, taxonomy: Taxonomy) -> None:
    """A batch's JPEGs decoded on 3 threads (a GPU node's decode pool) give exactly what one thread gives; the
    first bad image of the batch is the one named."""
    det = Detector(varied_onnx, taxonomy, decoding=LOW_CONF, runtime=ONE_REPLICA)
    payloads = [jpeg(scene(360, 640, i)) for i in range(7)]
    with (PipelinedDetector(det, FrameDecoding(threads=1)) as one,
          PipelinedDetector(det, FrameDecoding(threads=3)) as three):
        assert (one.decode_threads, three.decode_threads) == (1, 3)
        expected = [d for out in one.run([payloads[:4], payloads[4:]]) for d in out]
        got = [d for out in three.run([payloads[:4], payloads[4:]]) for d in out]
        assert sum(len(d) for d in expected) > 0
        assert all(identical(a, b) for a, b in zip(got, expected, strict=True))
        with pytest.raises(InputError, match="image 2: 3 bytes"):
            three.detect([payloads[0], payloads[1], b"bad", b"also bad"])


def test_decode_threads_default_to_one_on_the_cpu(untrained_onnx: Path, taxonomy: Taxonomy) -> None:
    det = Detector(untrained_onnx, taxonomy)
    assert PipelinedDetector(det).decode_threads == 1  # the model already keeps every core busy


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"threads": 0}, "threads: input should be greater than or equal to 1, got 0"),
        ({"threads": True}, "threads: input should be a valid integer, got True"),
        ({"threads": 65}, "threads: input should be less than or equal to 64, got 65"),
        ({"processes": -1}, "processes: input should be greater than or equal to 0, got -1"),
        ({"scaled": "no"}, "scaled: input should be a valid boolean, got 'no'"),
        ({"on_device": True, "processes": 2}, "decode on the device or in decode processes, not both"),
    ],
)
def test_frame_decoding_refuses_nonsense_when_made(settings: dict, message: str) -> None:
    with pytest.raises(InputError, match=re.escape(message)):
        FrameDecoding(**settings)


def test_replica_out_of_range_is_refused(untrained_onnx: Path, taxonomy: Taxonomy) -> None:
    det = Detector(untrained_onnx, taxonomy, runtime=RuntimeOptions(cpu_replicas=2))
    with pytest.raises(InputError, match="replica 2 does not exist: this detector has 2"):
        det.infer(np.zeros((1, 3, 64, 64), np.float32), replica=2)


@pytest.mark.parametrize(
    ("data", "message"),
    [(b"", "expected encoded image bytes"), ("a string", "expected encoded image bytes"),
     (b"GIF89a....", "do not decode")],
    ids=["empty", "str", "not-an-image"],
)
def test_decode_image_names_the_problem(data: object, message: str) -> None:
    with pytest.raises(InputError, match=message):
        decode_image(data)  # type: ignore[arg-type]


@pytest.mark.parametrize("uint8_input", [False, True], ids=["float", "uint8"])
def test_scaled_decode_places_frames_as_their_full_decode(
    varied_onnx: Path, taxonomy: Taxonomy, uint8_input: bool
) -> None:
    """A 640x360 JPEG for a 320 model decodes at half size; a 1280x720 one at a quarter; a 500x333 one (odd side)
    in full. Each is placed exactly where its full decode is placed, boxes come back in full-size pixels, and the
    pixels the model sees differ only by the scaled IDCT's rounding."""
    det = Detector(varied_onnx, taxonomy, decoding=LOW_CONF, inputs=InputOptions(imgsz=320),
                   edits=GraphEdits(uint8_input=uint8_input))
    shapes = [(360, 640), (720, 1280), (333, 500)]
    payloads = [jpeg(scene(h, w, i)) for i, (h, w) in enumerate(shapes)]
    with PipelinedDetector(det) as pipe:
        prepared = pipe.prepare(payloads)
        streamed = [d for out in pipe.run([payloads]) for d in out]
    decoded = [decode_image(p, det.imgsz) for p in payloads]
    assert [d.scale for d in decoded] == [2, 4, 1]
    assert [d.original for d in decoded] == shapes
    full = det.prepare([decode_image(p).pixels for p in payloads])
    boxes = {i: lb for g in prepared.groups for i, lb in zip(g.indices, g.letterboxes)}
    full_boxes = {i: lb for g in full for i, lb in zip(g.indices, g.letterboxes)}
    assert boxes == full_boxes  # same scale, padding, input shape, original size: boxes map back identically
    for ours, theirs in zip(prepared.groups, full):
        a, b = ours.tensor.astype(np.float32), theirs.tensor.astype(np.float32)
        shifted = np.roll(b, 1, axis=2 if uint8_input else 3)  # the full decode one pixel to the right
        # Rounding of the scaled IDCT, far below what a one-pixel misplacement would change.
        assert np.abs(a - b).mean() < np.abs(shifted - b).mean() / 3
    for dets, (h, w) in zip(streamed, shapes):
        assert len(dets) == 0 or (dets.xyxy[:, 2].max() <= w and dets.xyxy[:, 3].max() <= h)
    assert sum(len(d) for d in streamed) > 0


@pytest.mark.parametrize("dtype", ["|u1", "<f4"], ids=["uint8", "float"])
@pytest.mark.parametrize(("shape", "canvas"), [
    ((360, 640), (192, 320)),  # decoded at half size straight into the slot: pad rows above and below
    ((720, 1280), (192, 320)),  # at a quarter
    ((180, 320), (192, 320)),  # in full, no resize
    ((360, 640), (320, 320)),  # a static square input: 70 pad rows each side
    ((333, 500), (224, 320)),  # an odd side: full decode and resize (the letterbox path)
    ((480, 360), (320, 256)),  # portrait: pad columns (the letterbox path)
])
def test_fill_jpeg_equals_decode_then_letterbox(shape: tuple[int, int], canvas: tuple[int, int], dtype: str) -> None:
    """`LetterboxPlan.fill_jpeg` (a uint8 slot straight from the decoder where the frame's rows span it) fills a slot
    exactly as a decode at the DCT scale and `LetterboxPlan.fill` do, pad included, over a slot holding garbage."""
    from vision.letterbox_plan import LetterboxPlan
    from vision.jpeg import decode_for_fit, read_jpeg_header

    plan = LetterboxPlan((320, 320), 32, dtype == "|u1", dtype)
    data = jpeg(scene(*shape, seed=5))
    header = read_jpeg_header(data, plan.imgsz)
    assert header is not None
    slot_shape = (*canvas, 3) if plan.uint8_input else (3, *canvas)
    ours = np.full(slot_shape, 255, np.dtype(dtype))
    theirs = np.zeros(slot_shape, np.dtype(dtype))
    box = plan.fill_jpeg(data, header, ours, index=3)
    decoded = decode_for_fit(data, plan.imgsz)
    assert plan.fill(decoded.pixels, theirs, decoded.original) == box
    assert np.array_equal(ours, theirs)


@pytest.mark.parametrize("broken", ["zeroed", "cut"])
def test_fill_jpeg_names_the_frame_that_does_not_decode(broken: str) -> None:
    """A JPEG whose header reads but whose data does not decode (zeroed, or cut short) is named by its index, in
    the words of `decode_for_fit`."""
    from vision.letterbox_plan import LetterboxPlan
    from vision.jpeg import read_jpeg_header

    plan = LetterboxPlan((320, 320), 32, True, "|u1")
    good = jpeg(scene(360, 640, 0))
    data = good[:400] + bytes(600) if broken == "zeroed" else good[: len(good) * 2 // 3]
    header = read_jpeg_header(data, plan.imgsz)
    assert header is not None
    with pytest.raises(InputError, match=f"^image 7: {len(data)} bytes do not decode"):
        plan.fill_jpeg(data, header, np.zeros((192, 320, 3), np.uint8), index=7)


def test_uint8_stream_of_jpegs_equals_the_float_detector_on_the_same_decodes(
    varied_onnx: Path, taxonomy: Taxonomy
) -> None:
    """All-JPEG batches for a uint8-input detector: each frame decoded at the DCT scale straight into its slot, then
    the graph normalises; the float detector on the same scaled decodes answers the same, bit for bit."""
    u8 = Detector(varied_onnx, taxonomy, decoding=LOW_CONF, edits=UINT8, runtime=RuntimeOptions(cpu_replicas=2))
    shapes = [(360, 640), (720, 1280), (360, 640), (333, 500), (360, 640), (180, 320)]
    payloads = [jpeg(scene(h, w, i)) for i, (h, w) in enumerate(shapes)]
    with PipelinedDetector(u8) as pipe:
        streamed = [d for out in pipe.run([payloads[:3], payloads[3:], payloads[:1]]) for d in out]
    decoded = [decode_image(p, u8.imgsz) for p in payloads + payloads[:1]]
    expected = Detector(varied_onnx, taxonomy, decoding=LOW_CONF).detect(
        [d.pixels for d in decoded], [d.original for d in decoded])
    assert sum(len(d) for d in expected) > 0 and len({len(d) for d in expected}) > 1
    assert all(identical(a, b) for a, b in zip(streamed, expected, strict=True))


def test_buffer_pool_recycles_by_shape_and_dtype() -> None:
    pool = BufferPool(keep_per_shape=1)
    a = pool.take((2, 3, 8, 8), np.dtype(np.float32))
    pool.give(a)
    assert pool.take((2, 3, 8, 8), np.dtype(np.float32)) is a
    pool.give(a)
    assert pool.take((2, 3, 8, 8), np.dtype(np.float16)) is not a
    assert pool.take((1, 3, 8, 8), np.dtype(np.float32)).shape == (1, 3, 8, 8)


@pytest.mark.parametrize("uint8_input", [False, True], ids=["float", "uint8"])
@pytest.mark.parametrize("scaled", [False, True], ids=["full", "scaled"])
def test_decode_processes_give_exactly_the_threads_answers(
    varied_onnx: Path, taxonomy: Taxonomy, uint8_input: bool, scaled: bool
) -> None:
    """Frames decoded and letterboxed by worker processes into a shared tensor (a GPU node's path) get exactly the
    detections of the in-process path: mixed sizes (two input shapes in a batch), scaled and full decodes."""
    det = Detector(varied_onnx, taxonomy, decoding=LOW_CONF, edits=GraphEdits(uint8_input=uint8_input),
                   runtime=ONE_REPLICA)
    shapes = [(360, 640), (500, 333), (720, 1280), (360, 640), (360, 640), (720, 1280)]
    payloads = [jpeg(scene(h, w, i)) for i, (h, w) in enumerate(shapes)]
    batches = [payloads[:3], payloads[3:5], payloads[5:]]
    with (PipelinedDetector(det, FrameDecoding(scaled=scaled)) as threads,
          PipelinedDetector(det, FrameDecoding(scaled=scaled, processes=2)) as procs):
        expected = [d for out in threads.run(batches) for d in out]
        got = [d for out in procs.run(batches) for d in out]
        again = procs.detect(payloads)  # recycled shared tensors: nothing of the last batch leaks in
    assert sum(len(d) for d in expected) > 0
    assert len({len(d) for d in expected}) > 1  # frames differ, so a mix-up would show
    assert all(identical(a, b) for a, b in zip(got, expected, strict=True))
    assert all(identical(a, b) for a, b in zip(again, expected, strict=True))


def test_decode_processes_name_the_bad_frame_and_take_arrays_and_pngs_in_process(
    untrained_onnx: Path, taxonomy: Taxonomy
) -> None:
    det = Detector(untrained_onnx, taxonomy, runtime=ONE_REPLICA)
    good = jpeg(scene(360, 640, 0))
    broken = good[:400] + bytes(600)  # a JPEG header, then no decodable image data
    png = cv2.imencode(".png", scene(360, 640, 1))[1].tobytes()
    with PipelinedDetector(det) as threads, PipelinedDetector(det, FrameDecoding(processes=2)) as procs:
        with pytest.raises(InputError) as in_threads:
            threads.detect([good, broken, good])
        with pytest.raises(InputError, match=re.escape(str(in_threads.value))):
            procs.detect([good, broken, good])
        assert str(in_threads.value).startswith("image 1: ")
        mixed = [good, png, scene(360, 640, 2)]
        assert all(identical(a, b) for a, b in zip(procs.detect(mixed), threads.detect(mixed), strict=True))


def test_shared_tensors_recycle_and_delete_their_files() -> None:
    from vision.throughput.decode_processes import SharedTensors

    tensors = SharedTensors(keep_per_shape=1)
    a = tensors.take((2, 4, 4, 3), np.dtype(np.uint8))
    b = tensors.take((2, 4, 4, 3), np.dtype(np.uint8))
    paths = [Path(tensors.path(a)), Path(tensors.path(b))]
    assert paths[0] != paths[1] and all(p.is_file() for p in paths)
    tensors.give(a)
    tensors.give(b)  # over keep_per_shape: its file goes
    assert paths[0].is_file() and not paths[1].exists()
    assert tensors.take((2, 4, 4, 3), np.dtype(np.uint8)) is a
    tensors.close()
    assert not paths[0].exists()


@pytest.mark.parametrize("uint8_input", [True, False], ids=["uint8", "float"])
@pytest.mark.parametrize("replicas", [1, 2], ids=["overlapped", "sharded"])
def test_device_decode_places_frames_exactly_as_the_host_does(
    varied_onnx: Path, taxonomy: Taxonomy, uint8_input: bool, replicas: int
) -> None:
    """Frames decoded and letterboxed by torch (`vision.throughput.device_decode`, here on torch's CPU device, whose
    decoder is libjpeg like OpenCV's) and read by the session by pointer get exactly the host path's detections,
    when no frame needs a resize: two input shapes in a batch, a PNG and an array decoded on the host."""
    det = Detector(varied_onnx, taxonomy, decoding=LOW_CONF, edits=GraphEdits(uint8_input=uint8_input),
                   runtime=RuntimeOptions(cpu_replicas=replicas, io_binding=True))
    shapes = [(180, 320), (240, 320), (180, 320), (180, 320), (320, 200), (180, 320)]
    payloads: list[bytes | np.ndarray] = [jpeg(scene(h, w, i)) for i, (h, w) in enumerate(shapes)]
    mixed = [payloads[0], cv2.imencode(".png", scene(180, 320, 9))[1].tobytes(), scene(180, 320, 10)]
    batches = [payloads[:3], payloads[3:5], payloads[5:], mixed]
    with (PipelinedDetector(det, FrameDecoding(scaled=False)) as host,
          PipelinedDetector(det, FrameDecoding(on_device=True)) as device):
        expected = [d for out in host.run(batches) for d in out]
        got = [d for out in device.run(batches) for d in out]
        again = device.detect(payloads)  # recycled device batches: nothing of the last batch leaks in
    assert sum(len(d) for d in expected) > 0
    assert len({len(d) for d in expected}) > 1  # frames differ, so a mix-up would show
    assert all(identical(a, b) for a, b in zip(got, expected, strict=True))
    assert all(identical(a, b) for a, b in zip(again, expected[: len(payloads)], strict=True))


def test_device_decode_resizes_close_to_the_host_and_names_the_bad_frame(
    varied_onnx: Path, taxonomy: Taxonomy
) -> None:
    """A frame bigger than the model's input is resized on the device by torch's bilinear filter, not OpenCV's:
    the same boxes within a pixel, not bit for bit. A frame that will not decode is named by its index."""
    from vision.nms import box_iou

    det = Detector(varied_onnx, taxonomy, decoding=LOW_CONF, edits=UINT8, runtime=ONE_REPLICA)
    payloads = [jpeg(scene(360, 640, i)) for i in range(4)]
    with (PipelinedDetector(det, FrameDecoding(scaled=False)) as host,
          PipelinedDetector(det, FrameDecoding(on_device=True)) as device):
        expected = host.detect(payloads)
        got = device.detect(payloads)
        good = payloads[0]
        with pytest.raises(InputError, match=r"^image 2: 1000 bytes do not decode as a JPEG on cpu"):
            device.detect([good, good, good[:400] + bytes(600), good])
    assert sum(len(d) for d in expected) > 20
    for a, b in zip(got, expected, strict=True):
        # An untrained model's dozens of overlapping boxes: NMS may keep a different one of two near-equal boxes,
        # so each box is matched to its best counterpart rather than by position.
        assert abs(len(a) - len(b)) <= max(1, len(b) // 10)
        best = box_iou(a.xyxy, b.xyxy).max(axis=1)
        assert (best > 0.9).mean() >= 0.9


def test_device_batches_recycle_and_copy_to_the_host() -> None:
    from vision.letterbox_plan import LetterboxPlan
    from vision.throughput.device_decode import DeviceJpegDecoder

    decoder = DeviceJpegDecoder("cpu", keep_per_shape=1)
    plan = LetterboxPlan((320, 320), 32, True, "|u1")
    batch, boxes = decoder.fill([jpeg(scene(180, 320, 0))] * 2, (2, 192, 320, 3), plan)
    assert (batch.shape, batch.dtype, len(batch)) == ((2, 192, 320, 3), np.dtype(np.uint8), 2)
    assert boxes[0].pad_top == 6 and boxes[0].resized == (180, 320)
    host = batch.host()
    assert (host[:, :6] == 114).all() and (host[:, 186:] == 114).all() and host[:, 6:186].std() > 0
    decoder.give(batch)
    again, _ = decoder.fill([jpeg(scene(180, 320, 1))] * 2, (2, 192, 320, 3), plan)
    assert again is batch  # recycled, not allocated
    with pytest.raises(InputError, match="cannot have shape"):
        decoder.fill([jpeg(scene(180, 320, 0))], (2, 192, 320, 3), plan)
    with pytest.raises(InputError, match="decode device must be cuda or cpu"):
        DeviceJpegDecoder("meta")
