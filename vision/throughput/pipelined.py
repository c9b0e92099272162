"""JPEG bytes to `Detections` with the CPU work overlapped with the model, or run beside it on CPU replicas.

While ONNX Runtime runs batch k in the caller's thread, one worker thread decodes and pre-processes batch k+1
(a JPEG decoded at the DCT scale the model needs, `vision.jpeg`, then letterboxed into a recycled buffer: for a
uint8-input graph straight from the decoder) and turns batch k-1's raw output into `Detections`. libjpeg-turbo,
OpenCV and ONNX Runtime release the GIL, so on a CPU the worker fills the cores the session leaves idle between its
parallel sections, and on a GPU the host work hides behind the device. With CPU replicas every core already runs
the model, so each replica's thread does all the work of its own batches instead (see `PipelinedDetector`). With
``FrameDecoding(scaled=False)`` results are exactly `Detector.detect`'s on fully decoded frames.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from vision.detections import Detections
from vision.detector import Detector, PreparedBatch, usable_cores
from vision.errors import InputError
from vision.io_binding import DeviceBatch
from vision.jpeg import DecodedImage, JpegHeader, decode_for_fit
from vision.throughput.buffer_pool import BufferPool
from vision.throughput.decode_processes import DecodeProcesses, SharedTensors, read_header
from vision.throughput.frame_decoding import DEFAULT_FRAME_DECODING, FrameDecoding
from vision.throughput.on_replicas import map_on_replicas

if TYPE_CHECKING:
    from vision.throughput.device_decode import DeviceJpegDecoder

Image = bytes | np.ndarray  # an encoded image (JPEG, PNG ...) or a decoded BGR uint8 array
MAX_DECODE_THREADS = 8  # a GPU node's decode pool: past this the GIL, not the cores, is the limit


def decode_image(data: Image, fit: tuple[int, int] | None = None, index: int = 0) -> DecodedImage:
    """The BGR uint8 image of encoded bytes (an array passes through); InputError naming ``index`` if it won't.

    ``fit``: the (h, w) the detector letterboxes into; a JPEG is then decoded at the smallest DCT scale that still
    holds it (`vision.jpeg.decode_for_fit`). None: a full decode.
    """
    if isinstance(data, np.ndarray):
        return DecodedImage(data)
    if not isinstance(data, (bytes, bytearray, memoryview)) or len(data) == 0:
        raise InputError(f"image {index}: expected encoded image bytes or a BGR array, got {type(data).__name__}")
    return decode_for_fit(data, fit, index=index)


def default_decode_threads(provider: str) -> int:
    """Threads that decode a batch for a detector on ``provider``: 1 on the CPU, whose cores the model already keeps
    busy; one per core up to `MAX_DECODE_THREADS` on a GPU."""
    return 1 if provider == "CPUExecutionProvider" else min(usable_cores(), MAX_DECODE_THREADS)


def _device_decoder(detector: Detector) -> DeviceJpegDecoder:
    """A decoder on the device ``detector`` computes on (torch is imported only here)."""
    from vision.throughput.device_decode import DeviceJpegDecoder

    device = detector.device
    return DeviceJpegDecoder(f"cuda:{device.device_id}" if device.on_gpu else "cpu")


@dataclass(frozen=True)
class _Prepared:
    size: int
    groups: list[PreparedBatch]


class PipelinedDetector:
    """Runs a `Detector` over a stream of batches with decode + pre-processing and output decoding overlapped with
    the model. Use `run` (a generator) or, as a context manager, `detect` for one batch at a time.

    A detector with CPU replicas (`Detector.cpu_replicas` > 1) has no idle core to overlap with: its replicas keep
    every core busy. There every replica's thread decodes, pre-processes, runs and decodes the output of its own
    frames, so the host work is spread over the cores as evenly as the model's: `run` gives each replica whole
    batches, consecutive ones at once (`vision.throughput.on_replicas`); `detect` splits its one batch into a share
    per replica (the answer comes sooner).
    """

    def __init__(self, detector: Detector, decoding: FrameDecoding = DEFAULT_FRAME_DECODING) -> None:
        """Run ``detector`` on frames decoded as ``decoding`` says (`FrameDecoding`: at the DCT scale the model
        needs by default, on one thread on the CPU and one per core on a GPU). With decode processes or the device
        decode, output decoding gets a thread of its own."""
        self.detector = detector
        self.decoding = decoding
        self.decode_threads: int = decoding.threads or default_decode_threads(detector.provider)
        self._processes = DecodeProcesses(decoding.processes) if decoding.processes else None
        self._on_device = _device_decoder(detector) if decoding.on_device else None
        self.buffers: BufferPool | SharedTensors = (
            self._processes.tensors if self._processes is not None
            else BufferPool(keep_per_shape=3 + detector.cpu_replicas)
        )
        self._pool: ThreadPoolExecutor | None = None
        self._finisher: ThreadPoolExecutor | None = None
        self._replica_pool: ThreadPoolExecutor | None = None
        # Made here, not on first use: shards call `prepare` from several threads at once. (Threads start lazily.)
        self._decoders: ThreadPoolExecutor | None = (
            ThreadPoolExecutor(self.decode_threads, thread_name_prefix="qc-decode") if self.decode_threads > 1 else None
        )

    def __enter__(self) -> PipelinedDetector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the worker threads and decode processes."""
        for pool in (self._pool, self._finisher, self._replica_pool, self._decoders):
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
        self._pool = self._finisher = self._replica_pool = self._decoders = None
        if self._processes is not None:
            self._processes.close()
            self._processes = None
        self._on_device = None

    def _worker(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="qc-prepare")
        return self._pool

    def _finishing_worker(self) -> ThreadPoolExecutor:
        """Where output decoding runs: the prepare worker, or a thread of its own when processes or the device
        decode (the prepare worker then mostly waits on them)."""
        if self._processes is None and self._on_device is None:
            return self._worker()
        if self._finisher is None:
            self._finisher = ThreadPoolExecutor(1, thread_name_prefix="qc-finish")
        return self._finisher

    def _replica_workers(self) -> ThreadPoolExecutor:
        """One thread per replica: whole batches at once (`run`), or a batch's shares (`detect`)."""
        if self._replica_pool is None:
            self._replica_pool = ThreadPoolExecutor(self.detector.cpu_replicas, thread_name_prefix="qc-replica")
        return self._replica_pool

    def prepare(self, batch: Sequence[Image], first_index: int = 0) -> _Prepared:
        """Decode and pre-process one batch (runs in the worker). ``first_index``: the index of ``batch[0]`` in
        the caller's batch, for error messages."""
        fit = self.detector.imgsz if self.decoding.scaled else None
        if self._processes is not None:
            in_processes = self._prepare_in_processes(batch, fit, first_index)
            if in_processes is not None:
                return in_processes
        if self._on_device is not None:
            on_device = self._prepare_on_device(batch, first_index)
            if on_device is not None:
                return on_device
        groups = self._jpeg_groups(batch, fit, first_index)
        if groups is not None:
            return self._prepare_jpegs(groups, len(batch), first_index)
        if self._decoders is not None and len(batch) > 1:
            # map yields in order, so the first bad image (lowest index) is the one that raises.
            decoded = list(self._decoders.map(decode_image, batch, [fit] * len(batch),
                                              range(first_index, first_index + len(batch))))
        else:
            decoded = [decode_image(data, fit, first_index + i) for i, data in enumerate(batch)]
        groups = self.detector.prepare(
            [d.pixels for d in decoded], allocate=self.buffers.take, originals=[d.original for d in decoded]
        )
        return _Prepared(len(decoded), groups)

    def _jpeg_groups(
        self, batch: Sequence[Image], fit: tuple[int, int] | None, first_index: int
    ) -> dict[tuple[int, int], list[tuple[int, bytes, JpegHeader]]] | None:
        """The batch's JPEG frames, (index, bytes, header), grouped by the input shape they go into, from their
        headers alone; None when a frame is not a JPEG (arrays, PNGs: the caller decodes the batch on the host)."""
        detector = self.detector
        headers = [read_header(data, fit, detector.max_pixels, first_index + i) for i, data in enumerate(batch)]
        if any(header is None for header in headers):
            return None
        groups: dict[tuple[int, int], list[tuple[int, bytes, JpegHeader]]] = {}
        for i, (data, header) in enumerate(zip(batch, headers)):
            assert header is not None and not isinstance(data, np.ndarray)
            groups.setdefault(detector.input_shape(header.original), []).append((i, bytes(data), header))
        return groups

    def _prepare_jpegs(
        self, groups: dict[tuple[int, int], list[tuple[int, bytes, JpegHeader]]], size: int, first_index: int
    ) -> _Prepared:
        """`prepare` of a batch of JPEG frames, grouped by input shape from their headers: each frame decoded and
        letterboxed into its slot of a recycled tensor (`LetterboxPlan.fill_jpeg`: a uint8 slot straight from the
        decoder), on the decode threads when there are several."""
        detector = self.detector
        plan = detector.letterbox_plan()
        prepared = []
        for hw, frames in groups.items():
            tensor = self.buffers.take(detector.tensor_shape(len(frames), hw), detector.input_dtype)
            jobs = [(data, header, tensor[slot], first_index + i) for slot, (i, data, header) in enumerate(frames)]
            try:
                if self._decoders is not None and len(jobs) > 1:
                    futures = [self._decoders.submit(plan.fill_jpeg, *job) for job in jobs]
                    wait(futures)  # every frame written or failed before the tensor can go back to the pool
                    boxes = [f.result() for f in futures]  # the first bad frame (lowest index) raises
                else:
                    boxes = [plan.fill_jpeg(*job) for job in jobs]
            except Exception:
                self.buffers.give(tensor)
                for group in prepared:
                    self.buffers.give(group.tensor)
                raise
            prepared.append(PreparedBatch(tuple(i for i, _, _ in frames), tensor, tuple(boxes)))
        return _Prepared(size, prepared)

    def _prepare_in_processes(
        self, batch: Sequence[Image], fit: tuple[int, int] | None, first_index: int
    ) -> _Prepared | None:
        """`prepare` by the decode processes; None when a frame is not a JPEG (arrays, PNGs: decoded here)."""
        assert self._processes is not None
        groups = self._jpeg_groups(batch, fit, first_index)
        if groups is None:
            return None
        detector = self.detector
        plan = detector.letterbox_plan()
        filled = [
            self._processes.fill(frames, detector.tensor_shape(len(frames), hw), detector.input_dtype, plan,
                                 first_index)
            for hw, frames in groups.items()
        ]
        return _Prepared(len(batch), [PreparedBatch(f.indices, f.tensor, f.letterboxes) for f in filled])

    def _prepare_on_device(self, batch: Sequence[Image], first_index: int) -> _Prepared | None:
        """`prepare` on the detector's device (full decodes: nvJPEG has no DCT scaling); None when a frame is not a
        JPEG (arrays, PNGs: decoded on the host)."""
        assert self._on_device is not None
        groups = self._jpeg_groups(batch, None, first_index)
        if groups is None:
            return None
        detector = self.detector
        plan = detector.letterbox_plan()
        prepared = []
        for hw, frames in groups.items():
            indices = tuple(i for i, _, _ in frames)
            tensor, boxes = self._on_device.fill(
                [data for _, data, _ in frames], detector.tensor_shape(len(frames), hw), plan,
                [first_index + i for i in indices],
            )
            prepared.append(PreparedBatch(indices, tensor, tuple(boxes)))
        return _Prepared(len(batch), prepared)

    def _finish(self, prepared: _Prepared, raws: list[np.ndarray]) -> list[Detections]:
        """Raw outputs to `Detections` in the batch's order (runs in the worker)."""
        results: list[Detections | None] = [None] * prepared.size
        for group, raw in zip(prepared.groups, raws):
            for i, d in zip(group.indices, self.detector.finish(group, raw)):
                results[i] = d
        return [d for d in results if d is not None]

    def _infer(self, prepared: _Prepared, replica: int | None = None) -> list[np.ndarray]:
        raws = []
        for group in prepared.groups:
            raws.append(self.detector.infer(group.tensor, replica=replica))
            if isinstance(group.tensor, DeviceBatch):  # the session is done reading it
                assert self._on_device is not None
                self._on_device.give(group.tensor)
            else:
                self.buffers.give(group.tensor)
        return raws

    def _shard(self, batch: Sequence[Image], start: int, replica: int) -> list[Detections]:
        """One replica's share of a batch, end to end, in the calling thread."""
        prepared = self.prepare(batch, first_index=start)
        return self._finish(prepared, self._infer(prepared, replica))

    def _sharded(self, batch: Sequence[Image]) -> list[Detections]:
        """A batch of several frames split into near-equal contiguous shards, one per replica, run at once."""
        parts = min(self.detector.cpu_replicas, len(batch))
        bounds = np.linspace(0, len(batch), parts + 1).astype(int)
        futures = [
            self._replica_workers().submit(self._shard, batch[start:stop], int(start), replica)
            for replica, (start, stop) in enumerate(zip(bounds[1:-1], bounds[2:]), start=1)
        ]
        try:
            results = self._shard(batch[: bounds[1]], 0, 0)  # the caller's thread does a share too
        finally:
            done = [f.exception() for f in futures]  # every shard has finished before anything raises
        first_error = next((e for e in done if e is not None), None)
        if first_error is not None:
            raise first_error
        return results + [d for f in futures for d in f.result()]

    def run(self, batches: Iterable[Sequence[Image]]) -> Iterator[list[Detections]]:
        """One list of `Detections` per batch of ``batches`` (encoded bytes or BGR arrays), in order.

        Batch k+1 is decoded and pre-processed while the model runs batch k; batch k's `Detections` are made while
        the model runs batch k+1. With CPU replicas, consecutive batches run at once instead, each end to end on a
        replica of its own (`vision.throughput.on_replicas`: replicas out of step, so their Python work does not
        collide on the GIL). Errors (a JPEG that won't decode, a bad image) raise from the batch they are in, after the
        answers of the batches before it.
        """
        if self.detector.cpu_replicas > 1:
            yield from map_on_replicas(self._whole, batches, self.detector.cpu_replicas, self._replica_workers())
        else:
            yield from self._overlapped(batches)

    def _whole(self, batch: Sequence[Image], replica: int) -> list[Detections]:
        """A whole batch on one replica (`run`): frames named by their index in it."""
        return self._shard(batch, 0, replica)

    def _overlapped(self, batches: Iterable[Sequence[Image]]) -> Iterator[list[Detections]]:
        """`run` without replicas: decode, pre-processing and output decoding in the worker."""
        pool = self._worker()
        source = iter(batches)
        first = next(source, None)
        if first is None:
            return
        finisher = self._finishing_worker()
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
            finishing = finisher.submit(self._finish, prepared, raws)
        if finishing is not None:
            yield finishing.result()

    def detect(self, batch: Sequence[Image]) -> list[Detections]:
        """One batch, not overlapped with anything (for callers that do not stream); sharded with CPU replicas."""
        if self.detector.cpu_replicas > 1 and len(batch) > 1:
            return self._sharded(batch)
        prepared = self.prepare(batch)
        return self._finish(prepared, self._infer(prepared))
