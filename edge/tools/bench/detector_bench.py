"""Measurements (a) the limit, (b) our detector end to end, (c) the peer, on the same frames and batch size.

The limit is measured on the same tensors with our detector's own sessions (its CPU replicas splitting each batch,
and its replicas each running whole batches at once, as ours runs a stream), with one session on our options, and
with one session on ONNX Runtime's default options (intra-op threads spinning); the best of them is the limit. All
paths run in rounds, interleaved (limits, ours, ours without overlap, peer; repeat), so a slow spell of a shared
machine hits each of them; a figure is the median of its rounds. Every run covers all frames once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import onnxruntime as ort

from vision.detector import Detector
from vision.throughput.frame_decoding import DEFAULT_FRAME_DECODING, FrameDecoding
from vision.throughput.on_replicas import map_on_replicas
from vision.throughput.pipelined import PipelinedDetector, decode_image

PEER_UNAVAILABLE = "ultralytics is not installed (pip install 'conveyor-qc[train]' to measure the peer)"


@dataclass
class Measure:
    """One measured path: seconds of each round over all frames, and detections per frame (sanity)."""

    name: str
    frames: int
    seconds: list[float] = field(default_factory=list)
    detections_per_frame: float | None = None
    unavailable: str | None = None  # why it was not measured

    @property
    def fps(self) -> float | None:
        """Frames per second of the median round."""
        if not self.seconds:
            return None
        return self.frames / sorted(self.seconds)[len(self.seconds) // 2]

    def to_json(self) -> dict[str, Any]:
        """Its figures as a JSON object."""
        fps = self.fps
        return {"fps": fps, "ms_per_frame": 1000 / fps if fps else None, "rounds_s": self.seconds,
                "detections_per_frame": self.detections_per_frame, "unavailable": self.unavailable}


def batches_of(items: Sequence[Any], size: int) -> list[list[Any]]:
    """Consecutive batches of ``size`` (the last may be shorter)."""
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def decode(jpeg: bytes) -> np.ndarray:
    """A JPEG as a BGR image, the way every path here decodes it."""
    return cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)


class Peer:
    """ultralytics' own ``predict`` on the same ONNX model: JPEG bytes decoded with cv2, then ``predict(list)``."""

    def __init__(self, model: Path, imgsz: int, conf: float, iou: float) -> None:
        """Raises ImportError when ultralytics is not installed."""
        from ultralytics import YOLO  # the training extra; an edge node has no ultralytics

        self._yolo = YOLO(str(model), task="detect")
        self._args = {"imgsz": imgsz, "conf": conf, "iou": iou, "verbose": False}

    def run(self, batches: list[list[bytes]]) -> int:
        """Predict every batch; the number of boxes found."""
        found = 0
        for batch in batches:
            results = self._yolo.predict([decode(j) for j in batch], batch=len(batch), **self._args)
            found += sum(len(r.boxes) for r in results)
        return found


def open_peer(model: Path, imgsz: int, conf: float, iou: float) -> tuple[Peer | None, str | None]:
    """The peer, or None and why not."""
    try:
        return Peer(model, imgsz, conf, iou), None
    except ImportError:
        return None, PEER_UNAVAILABLE


def _timed(run: Callable[[], int]) -> tuple[float, int]:
    start = time.perf_counter()
    found = run()
    return time.perf_counter() - start, found


def measure_batch(
    detector: Detector,
    jpegs: list[bytes],
    batch: int,
    rounds: int,
    peer: Peer | None,
    peer_unavailable: str | None,
    on_round: Callable[[str], None] = lambda name: None,
    *,
    decoding: FrameDecoding = DEFAULT_FRAME_DECODING,
) -> dict[str, Measure]:
    """(a) ``limit``, ``limit_one_session`` and ``limit_parallel`` (with CPU replicas) and ``limit_default``,
    (b) ``detector`` (pipelined) and ``serial`` (ours without overlap), and (c) ``peer`` at ``batch``. Only ONNX
    models whose static batch (if any) fits ``batch`` are fair here. ``decoding``: how ours decodes the frames
    (`FrameDecoding`: at the DCT scale the model needs, on threads, in worker processes or on the model's device;
    the scale applies to both of ours); the limit's tensors and the peer's frames come from full decodes either
    way."""
    n = len(jpegs)
    jpeg_batches = batches_of(jpegs, batch)
    # The limit's input: exactly the tensors our detector feeds the session for these frames.
    tensors = [p.tensor for b in jpeg_batches for p in detector.prepare([decode(j) for j in b])]
    pipelined = PipelinedDetector(detector, decoding)
    fit = detector.imgsz if decoding.scaled else None
    # ONNX Runtime as anyone would open it: default session options, the provider our detector runs on.
    # (Its graph: the one our detector's sessions run, edited in memory for --uint8-input / --topk.)
    plain = ort.InferenceSession(detector.session_model, providers=list(detector.providers))
    output = plain.get_outputs()[0].name

    def limit() -> int:
        for t in tensors:
            detector.infer(t)
        return 0

    def limit_default() -> int:
        for t in tensors:
            plain.run([output], {detector.input_name: t})
        return 0

    def ours() -> int:
        return sum(len(d) for dets in pipelined.run(jpeg_batches) for d in dets)

    def serial() -> int:
        found = 0
        for b in jpeg_batches:
            decoded = [decode_image(j, fit) for j in b]
            dets = detector.detect([image.pixels for image in decoded], [image.original for image in decoded])
            found += sum(len(d) for d in dets)
        return found

    def predict() -> int:
        return peer.run(jpeg_batches) if peer is not None else 0

    paths: dict[str, Callable[[], int]] = {"limit": limit}
    if detector.cpu_replicas > 1:
        # One session with our options (no spinning): what the replicas are compared against. Opened only here:
        # without replicas our own session is exactly that.
        options = ort.SessionOptions()
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        single = ort.InferenceSession(detector.session_model, options, providers=list(detector.providers))

        def limit_one_session() -> int:
            for t in tensors:
                single.run([output], {detector.input_name: t})
            return 0

        paths["limit_one_session"] = limit_one_session
        # Whole batches at once on separate replicas, as ours runs a stream (`vision.throughput.on_replicas`).
        replica_pool = ThreadPoolExecutor(detector.cpu_replicas, thread_name_prefix="qc-bench-replica")

        def limit_parallel() -> int:
            for _ in map_on_replicas(lambda t, r: detector.infer(t, replica=r), tensors, detector.cpu_replicas,
                                     replica_pool):
                pass
            return 0

        paths["limit_parallel"] = limit_parallel
    paths |= {"limit_default": limit_default, "detector": ours, "serial": serial}
    if peer is not None:
        paths["peer"] = predict
    measures = {name: Measure(name, n) for name in (*paths, "peer")}
    measures["peer"].unavailable = peer_unavailable
    try:
        for name, run in list(paths.items()):  # warm-up: first-call allocations, ultralytics' set-up
            try:
                run()
            except Exception as exc:  # noqa: BLE001 - the peer is someone else's code; report why, measure ours
                if name != "peer":
                    raise
                measures["peer"].unavailable = f"ultralytics predict failed: {type(exc).__name__}: {exc}"[:500]
                del paths["peer"]
        for _ in range(rounds):
            for name, run in paths.items():
                seconds, found = _timed(run)
                measures[name].seconds.append(seconds)
                if not name.startswith("limit"):
                    measures[name].detections_per_frame = found / n
                on_round(name)
                time.sleep(0.05)  # let thread pools that spin after work (ORT, torch's OpenMP) go idle
    finally:
        pipelined.close()
        if detector.cpu_replicas > 1:
            replica_pool.shutdown()
    return measures
