"""JPEG decode and letterbox in worker processes, straight into a batch tensor in shared memory (GPU nodes).

Why processes and not threads: on a GPU the model runs thousands of frames a second and decoding is most of the
host's work (~1.5 ms of one core for a 640x360 frame at full scale). `cv2.imdecode` releases the GIL, but the
Python around every frame (its header, the letterbox, the output decoding of the previous batch) needs it: on a
16-core H200 node 12 decode threads fed a 3,700 frames/s model only 1,434 frames/s. Worker processes share
nothing with the parent but the pixels: the parent reads each JPEG's header (a few bytes, to know the batch's input
shape), sends the bytes, and each worker decodes and letterboxes its frames into their slots of a memory-mapped
batch tensor that ONNX Runtime then reads. What comes back is one small `Letterbox` per frame.

The tensors live in files under /dev/shm when it has room (RAM), else the temp folder; a container with a small
/dev/shm (Docker's 64 MB default) still works, through the page cache.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import tempfile
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vision.buffer_pool import BufferPool
from vision.errors import InputError
from vision.jpeg import JpegHeader, decode_for_fit, decode_jpeg_into, read_jpeg_header
from vision.letterbox import PAD_VALUE, Letterbox, letterbox_into, letterbox_into_hwc, normalise_table, placement

SHM_DIR = Path("/dev/shm")
SHM_HEADROOM = 1 << 30  # leave /dev/shm this much free, or use the temp folder


@dataclass(frozen=True)
class LetterboxPlan:
    """How `Detector.preprocess` puts an image into its slot of the session input, as a value a worker process can
    apply too: the same placement in both."""

    imgsz: tuple[int, int]
    stride: int
    uint8_input: bool
    dtype: str  # the tensor's dtype: uint8 for a uint8-input graph, else the model's float type
    # The float graphs' uint8 -> normalised value table, built once per plan (not per frame).
    table: np.ndarray | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "table", None if self.uint8_input else normalise_table(np.dtype(self.dtype)))

    def fill(self, image: np.ndarray, slot: np.ndarray, original: tuple[int, int]) -> Letterbox:
        """Letterbox ``image`` (standing for a full-size ``original``) into ``slot``, one frame of the tensor."""
        if self.table is None:
            return letterbox_into_hwc(image, slot, self.imgsz, stride=self.stride, original=original)
        return letterbox_into(image, slot, self.imgsz, self.table, stride=self.stride, original=original)

    def fill_jpeg(self, data: bytes, header: JpegHeader, slot: np.ndarray, index: int = 0) -> Letterbox:
        """Decode a JPEG (``header``: its `read_jpeg_header`, with the DCT scale for this plan's fit) and letterbox
        it into ``slot``; InputError naming image ``index`` when it does not decode.

        A uint8 slot whose image rows span its whole width (a 16:9 frame in a minimal rectangle, or in a square
        static input) takes the pixels straight from the decoder (`vision.jpeg.decode_jpeg_into`), when the DCT
        scale gives exactly the placed size: the letterbox is then the pad rows alone. Otherwise, as `fill`."""
        if self.table is None:
            box = placement(header.original, self.imgsz, (int(slot.shape[0]), int(slot.shape[1])), stride=self.stride)
            (new_h, new_w), (h, w), k = box.resized, header.original, header.scale
            if (new_h, new_w) == (h // k, w // k) and new_w == slot.shape[1]:
                top = box.pad_top
                if decode_jpeg_into(data, header, slot[top : top + new_h]):
                    slot[:top] = PAD_VALUE
                    slot[top + new_h :] = PAD_VALUE
                    return box
        decoded = decode_for_fit(data, self.imgsz if header.scale > 1 else None, index=index)
        return self.fill(decoded.pixels, slot, decoded.original)


@dataclass(frozen=True)
class _Chunk:
    """A worker's share of one batch tensor: its file, shape and dtype, and (slot, JPEG, scale, image index)."""

    path: str
    shape: tuple[int, ...]
    dtype: str
    plan: LetterboxPlan
    frames: list[tuple[int, bytes, JpegHeader, int]]  # (slot, JPEG, its header, the frame's index for errors)


def _fill_chunk(chunk: _Chunk) -> list[Letterbox | str]:
    """Worker: decode and letterbox each frame of ``chunk`` into its slot; a `Letterbox` per frame, or the error
    message for a frame that would not decode (strings cross the process boundary where exceptions may not)."""
    tensor = np.memmap(chunk.path, dtype=np.dtype(chunk.dtype), mode="r+", shape=chunk.shape)
    out: list[Letterbox | str] = []
    try:
        for slot, data, header, index in chunk.frames:
            try:
                out.append(chunk.plan.fill_jpeg(data, header, tensor[slot], index))
            except InputError as exc:
                out.append(str(exc))
    finally:
        del tensor  # unmaps; the parent's mapping of the same file stays
    return out


def _worker_init() -> None:
    import cv2

    cv2.setNumThreads(1)  # one core per worker: the pool is the parallelism


def read_header(data: object, fit: tuple[int, int] | None, max_pixels: int, index: int) -> JpegHeader | None:
    """The header of a JPEG frame (`vision.jpeg.read_jpeg_header`), None for anything else (the caller decodes those
    itself); InputError naming ``index`` for a broken JPEG, or one over ``max_pixels`` (worded as
    `Detector.preprocess` words it), before any worker sees it."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        return None
    header = read_jpeg_header(data, fit, index=index)
    if header is not None:
        height, width = header.original
        if width * height > max_pixels:
            raise InputError(
                f"image {index}: {width}x{height} = {width * height} pixels exceeds max_pixels={max_pixels}"
            )
    return header


class SharedTensors:
    """Batch tensors backed by files in shared memory, recycled by shape (`vision.buffer_pool.BufferPool`); a file
    past what is kept is deleted. The parent maps each file once; workers map it per chunk. Thread-safe.
    """

    def __init__(self, keep_per_shape: int = 3) -> None:
        folder = SHM_DIR if SHM_DIR.is_dir() and shutil.disk_usage(SHM_DIR).free > SHM_HEADROOM else None
        self._dir = tempfile.TemporaryDirectory(prefix="qc-tensors-", dir=folder)
        self._paths: dict[int, str] = {}
        self._lock = threading.Lock()
        self._count = 0
        self._pool = BufferPool(keep_per_shape, allocate=self._new_file, discard=self._delete_file)

    def take(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """A C-contiguous tensor of ``shape`` and ``dtype`` that workers can write (contents undefined)."""
        return self._pool.take(shape, dtype)

    def give(self, tensor: np.ndarray) -> None:
        """Return a tensor nothing reads any more; beyond ``keep_per_shape`` its file is deleted."""
        self._pool.give(tensor)

    def path(self, tensor: np.ndarray) -> str:
        """The file behind a tensor from `take`."""
        with self._lock:
            return self._paths[id(tensor)]

    def _new_file(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        with self._lock:
            self._count += 1
            path = os.path.join(self._dir.name, f"t{self._count}")
        tensor = np.memmap(path, dtype=dtype, mode="w+", shape=shape)
        with self._lock:
            self._paths[id(tensor)] = path
        return tensor

    def _delete_file(self, tensor: np.ndarray) -> None:
        with self._lock:
            path = self._paths.pop(id(tensor), None)
        if path is not None:
            os.unlink(path)

    def close(self) -> None:
        """Delete every file (tensors still held stay mapped until dropped)."""
        self._pool.clear()
        with self._lock:
            self._paths.clear()
        self._dir.cleanup()


@dataclass(frozen=True)
class Filled:
    """One group of a batch, decoded and letterboxed by the workers: where its frames were in the batch, its
    tensor and their letterboxes."""

    indices: tuple[int, ...]
    tensor: np.ndarray
    letterboxes: tuple[Letterbox, ...]


class DecodeProcesses:
    """A pool of worker processes that decode JPEG frames and letterbox them into shared batch tensors."""

    def __init__(self, workers: int, keep_per_shape: int = 3) -> None:
        """``workers``: processes (each one core's worth of decoding). They start with the first batch."""
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise InputError(f"decode processes must be an int >= 1, got {workers!r}")
        self.workers = workers
        self.tensors = SharedTensors(keep_per_shape)
        # spawn: a fork of a process that already runs ONNX Runtime's (and CUDA's) threads is not safe.
        self._pool = ProcessPoolExecutor(
            workers, mp_context=multiprocessing.get_context("spawn"), initializer=_worker_init
        )

    def fill(
        self, frames: list[tuple[int, bytes, JpegHeader]], shape: tuple[int, ...], dtype: np.dtype,
        plan: LetterboxPlan, first_index: int = 0,
    ) -> Filled:
        """Decode and letterbox ``frames`` ((batch index, JPEG, header), all of one input shape) into one tensor of
        ``shape``; InputError naming the first frame that would not decode (its index plus ``first_index``; the
        tensor is recycled then)."""
        tensor = self.tensors.take(shape, dtype)
        path = self.tensors.path(tensor)
        parts = min(self.workers, len(frames))
        bounds = np.linspace(0, len(frames), parts + 1).astype(int)
        futures: list[Future[list[Letterbox | str]]] = [
            self._pool.submit(_fill_chunk, _Chunk(
                path, tuple(shape), np.dtype(dtype).str, plan,
                [(slot, data, header, first_index + index)
                 for slot, (index, data, header) in enumerate(frames[start:stop], start=start)],
            ))
            for start, stop in zip(bounds[:-1], bounds[1:])
        ]
        results = [r for f in futures for r in f.result()]
        errors = [r for r in results if isinstance(r, str)]
        if errors:
            self.tensors.give(tensor)
            raise InputError(errors[0])
        return Filled(tuple(i for i, _, _ in frames), tensor, tuple(r for r in results if isinstance(r, Letterbox)))

    def close(self) -> None:
        """Stop the workers and delete the tensors' files."""
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.tensors.close()
