"""JPEG decode and letterbox in worker processes, straight into a batch tensor in shared memory (GPU nodes).

Why processes and not threads: on a GPU the model runs thousands of frames a second and decoding is most of the
host's work. `cv2.imdecode` releases the GIL, but the Python around every frame (its header, the letterbox, the
output decoding of the previous batch) needs it, so decode threads cannot keep a fast model fed (README,
"Benchmarks": threads against processes on a GPU node). Worker processes share nothing with the parent but the
pixels: the parent reads each JPEG's header (a few bytes, to know the batch's input shape), sends the bytes, and
each worker decodes and letterboxes its frames into their slots of a memory-mapped batch tensor that ONNX Runtime
then reads. What comes back is one small `Letterbox` per frame.

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
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vision.errors import InputError
from vision.jpeg import JpegHeader, read_jpeg_header
from vision.letterbox import Letterbox
from vision.letterbox_plan import LetterboxPlan
from vision.throughput.buffer_pool import BufferPool

SHM_DIR = Path("/dev/shm")
SHM_HEADROOM = 1 << 30  # leave /dev/shm this much free, or use the temp folder


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
    """Batch tensors backed by files in shared memory, recycled by shape (`vision.throughput.buffer_pool.BufferPool`);
    a file past what is kept is deleted. The parent maps each file once; workers map it per chunk. Thread-safe.
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
        """``workers``: processes, at least one (each one core's worth of decoding; `FrameDecoding.processes` checks
        what a user asks for). They start with the first batch."""
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
