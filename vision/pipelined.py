"""JPEG bytes to `Detections` with the CPU work overlapped with the model: a two-stage pipeline around a `Detector`.

While ONNX Runtime runs batch k in the caller's thread, one worker thread decodes and pre-processes batch k+1
(``cv2.imdecode`` + `letterbox_into` into a recycled buffer) and turns batch k-1's raw output into `Detections`.
OpenCV and ONNX Runtime release the GIL, so on a CPU the worker fills the cores the session leaves idle between its
parallel sections, and on a GPU the host work hides behind the device. Results are exactly `Detector.detect`'s.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np

from vision.detections import Detections
from vision.detector import Detector, PreparedBatch
from vision.errors import InputError

Image = bytes | np.ndarray  # an encoded image (JPEG, PNG ...) or a decoded BGR uint8 array


def decode_image(data: Image, index: int = 0) -> np.ndarray:
    """The BGR uint8 image of encoded bytes (an array passes through); InputError naming ``index`` if it won't."""
    if isinstance(data, np.ndarray):
        return data
    if not isinstance(data, (bytes, bytearray, memoryview)) or len(data) == 0:
        raise InputError(f"image {index}: expected encoded image bytes or a BGR array, got {type(data).__name__}")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise InputError(f"image {index}: {len(data)} bytes do not decode as an image")
    return image


class BufferPool:
    """Pre-processing tensors recycled by shape: a pipeline holds at most a few batches at once, so after warm-up
    no batch allocates (and page-faults) a fresh tensor. Thread-safe."""

    def __init__(self, keep_per_shape: int = 3) -> None:
        self._free: dict[tuple[tuple[int, ...], str], list[np.ndarray]] = {}
        self._keep = keep_per_shape
        self._lock = threading.Lock()

    def take(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """A C-contiguous buffer of ``shape`` and ``dtype`` (contents undefined)."""
        with self._lock:
            free = self._free.get((shape, np.dtype(dtype).str))
            if free:
                return free.pop()
        return np.empty(shape, dtype=dtype)

    def give(self, buffer: np.ndarray) -> None:
        """Return a buffer nothing reads any more."""
        with self._lock:
            free = self._free.setdefault((buffer.shape, buffer.dtype.str), [])
            if len(free) < self._keep:
                free.append(buffer)


@dataclass(frozen=True)
class _Prepared:
    size: int
    groups: list[PreparedBatch]


class PipelinedDetector:
    """Runs a `Detector` over a stream of batches with decode + pre-processing and output decoding overlapped with
    the model. Use `run` (a generator) or, as a context manager, `detect` for one batch at a time."""

    def __init__(self, detector: Detector) -> None:
        self.detector = detector
        self.buffers = BufferPool()
        self._pool: ThreadPoolExecutor | None = None

    def __enter__(self) -> PipelinedDetector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the worker thread."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _worker(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="qc-prepare")
        return self._pool

    def prepare(self, batch: Sequence[Image]) -> _Prepared:
        """Decode and pre-process one batch (runs in the worker)."""
        images = [decode_image(data, i) for i, data in enumerate(batch)]
        return _Prepared(len(images), self.detector.prepare(images, allocate=self.buffers.take))

    def _finish(self, prepared: _Prepared, raws: list[np.ndarray]) -> list[Detections]:
        """Raw outputs to `Detections` in the batch's order (runs in the worker)."""
        results: list[Detections | None] = [None] * prepared.size
        for group, raw in zip(prepared.groups, raws):
            for i, d in zip(group.indices, self.detector.finish(group, raw)):
                results[i] = d
        return [d for d in results if d is not None]

    def _infer(self, prepared: _Prepared) -> list[np.ndarray]:
        raws = []
        for group in prepared.groups:
            raws.append(self.detector.infer(group.tensor))
            self.buffers.give(group.tensor)  # the session is done reading it
        return raws

    def run(self, batches: Iterable[Sequence[Image]]) -> Iterator[list[Detections]]:
        """One list of `Detections` per batch of ``batches`` (encoded bytes or BGR arrays), in order.

        Batch k+1 is decoded and pre-processed while the model runs batch k; batch k's `Detections` are made while
        the model runs batch k+1. Errors (a JPEG that won't decode, a bad image) raise from the batch they are in.
        """
        pool = self._worker()
        source = iter(batches)
        first = next(source, None)
        if first is None:
            return
        pending: Future[_Prepared] | None = pool.submit(self.prepare, first)
        finishing: Future[list[Detections]] | None = None
        while pending is not None:
            try:
                prepared = pending.result()
            except Exception:
                if finishing is not None:  # the batches before the bad one still get their answers
                    yield finishing.result()
                raise
            following = next(source, None)
            pending = pool.submit(self.prepare, following) if following is not None else None
            raws = self._infer(prepared)  # the worker decodes the next batch meanwhile
            if finishing is not None:
                yield finishing.result()
            finishing = pool.submit(self._finish, prepared, raws)
        if finishing is not None:
            yield finishing.result()

    def detect(self, batch: Sequence[Image]) -> list[Detections]:
        """One batch, not overlapped with anything (for callers that do not stream)."""
        prepared = self.prepare(batch)
        return self._finish(prepared, self._infer(prepared))
