"""Batch tensors recycled by shape and dtype: a pipeline holds at most a few batches at once, so after warm-up no
batch allocates (and page-faults) a fresh tensor."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

import numpy as np


class Buffer(Protocol):
    """What the pool needs of a buffer: a numpy array, or a device batch (`vision.io_binding.DeviceBatch`)."""

    @property
    def shape(self) -> tuple[int, ...]: ...

    @property
    def dtype(self) -> np.dtype: ...


B = TypeVar("B", bound=Buffer)


def _new_array(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    return np.empty(shape, dtype=dtype)


class BufferPool(Generic[B]):
    """Keeps up to ``keep_per_shape`` returned buffers of each shape and dtype for the next `take`. Thread-safe.

    ``allocate(shape, dtype)`` makes a new buffer (default: ``np.empty``); ``discard(buffer)`` is called for one
    returned beyond what is kept (default: nothing; memory-mapped tensors delete their file,
    `vision.throughput.decode_processes`).
    """

    def __init__(
        self,
        keep_per_shape: int = 3,
        allocate: Callable[[tuple[int, ...], np.dtype], B] = _new_array,  # type: ignore[assignment]
        discard: Callable[[B], None] | None = None,
    ) -> None:
        self._free: dict[tuple[tuple[int, ...], str], list[B]] = {}
        self._keep = keep_per_shape
        self._allocate = allocate
        self._discard = discard
        self._lock = threading.Lock()

    def take(self, shape: tuple[int, ...], dtype: np.dtype) -> B:
        """A C-contiguous buffer of ``shape`` and ``dtype`` (contents undefined)."""
        with self._lock:
            free = self._free.get((tuple(shape), np.dtype(dtype).str))
            if free:
                return free.pop()
        return self._allocate(tuple(shape), np.dtype(dtype))

    def give(self, buffer: B) -> None:
        """Return a buffer nothing reads any more."""
        with self._lock:
            free = self._free.setdefault((tuple(buffer.shape), np.dtype(buffer.dtype).str), [])
            if len(free) < self._keep:
                free.append(buffer)
                return
        if self._discard is not None:
            self._discard(buffer)

    def clear(self) -> None:
        """Forget every kept buffer (without discarding it)."""
        with self._lock:
            self._free.clear()
