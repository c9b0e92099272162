"""The dynamic batcher: a bounded FIFO of admitted frames, handed to the detector in batches across all cameras.

A batch closes when it holds ``max_batch`` frames or when its first frame has waited ``max_wait_s``, whichever
comes first. The queue never grows past ``limit``: `try_put` answers False and the caller tells the client to
retry; nothing is dropped silently and memory stays bounded.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from edge.protocol import Ack, FrameHeader, ProtocolError
from vision.detections import Detections


@dataclass(eq=False)
class Job:
    """One admitted frame on its way through the pipeline; ``done`` resolves with its ack."""

    header: FrameHeader
    payload: bytes
    received_at: float  # unix seconds
    done: asyncio.Future[Ack]
    arrived: float = field(default_factory=time.perf_counter)
    image: np.ndarray | None = None  # set by the decode step
    detections: Detections | None = None  # set by the detector
    error: ProtocolError | None = None  # a payload that would not decode

    @property
    def camera_id(self) -> str:
        """The frame's camera."""
        return self.header.camera_id

    @property
    def seq(self) -> int:
        """The frame's seq."""
        return self.header.seq


class Batcher:
    """Bounded FIFO of jobs with batch-forming reads; used from one event loop."""

    def __init__(self, max_batch: int, max_wait_s: float, limit: int, on_depth: Callable[[int], None] | None = None):
        """``on_depth`` is called with the new depth on every change (for the queue-depth gauge)."""
        if max_batch < 1 or limit < 1 or max_wait_s < 0:
            raise ValueError(f"Batcher needs max_batch >= 1, limit >= 1, max_wait_s >= 0; got {max_batch}, {limit}, "
                             f"{max_wait_s}")
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.limit = limit
        self._jobs: deque[Job] = deque()
        self._changed = asyncio.Event()
        self._on_depth = on_depth or (lambda depth: None)

    def __len__(self) -> int:
        return len(self._jobs)

    @property
    def full(self) -> bool:
        """True when the next `try_put` would be refused."""
        return len(self._jobs) >= self.limit

    def try_put(self, job: Job) -> bool:
        """Append ``job`` unless the queue is full; False means 'answer retry'."""
        if self.full:
            return False
        self._jobs.append(job)
        self._on_depth(len(self._jobs))
        self._changed.set()
        return True

    async def next_batch(self) -> list[Job]:
        """Wait for a job, then until the oldest has waited ``max_wait_s`` for the batch to fill; pop and return it."""
        while not self._jobs:
            self._changed.clear()
            await self._changed.wait()
        # Counted from the oldest frame's arrival: a frame that queued behind a busy detector waits no longer.
        deadline = self._jobs[0].arrived + self.max_wait_s
        while len(self._jobs) < self.max_batch:
            left = deadline - time.perf_counter()
            if left <= 0:
                break
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except TimeoutError:
                break
        batch = [self._jobs.popleft() for _ in range(min(self.max_batch, len(self._jobs)))]
        self._on_depth(len(self._jobs))
        return batch

    def drain(self) -> list[Job]:
        """Pop every queued job (at shutdown, to answer them)."""
        jobs = list(self._jobs)
        self._jobs.clear()
        self._on_depth(0)
        return jobs
