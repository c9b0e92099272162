"""Bench cameras that behave like `qc capture` daemons: every frame goes into a spool and the daemon's own `Sender`
streams it, resending from the oldest frame the service answered ``retry`` (its window, slow start and backoff).

A fixed-rate client that never resends (`edge.tools.bench.service_bench`'s ``--no-resend``) measures something no site
runs: once the bounded queue answers one frame ``retry``, the service holds that camera's later frames until the
frame is resent (the exactly-once order), so such a client sees most of its frames refused and the service looks
far slower than it is. With daemons, an overloaded service shows as latency and retries, and what it processes
is what it can.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from pathlib import Path
from typing import Any

from edge.capture.sender import Sender, ServiceRejected
from edge.capture.spool import Spool
from edge.protocol import FrameHeader, encode_frame

SPOOL_BYTES = 1 << 30  # nothing is evicted in a bench run: every captured frame must reach a verdict or be counted


class TimedSpool(Spool):
    """A spool that notes when each frame got its final ack, and which (the bench's latency and outcomes)."""

    def __init__(self, root: Path, camera_id: str, **kwargs: Any) -> None:
        super().__init__(root, camera_id, **kwargs)
        self.finished: dict[int, tuple[float, str]] = {}  # seq -> (unix time of the final ack, outcome)

    def finish(self, seq: int, outcome: str, *, detail: str | None = None) -> bool:
        """`Spool.finish`, timed."""
        done = super().finish(seq, outcome, detail=detail)
        if done:
            self.finished[seq] = (time.time(), outcome)
        return done


async def daemon_camera(
    url: str, camera: str, token: str, jpegs: list[bytes], offset: int, fps: float, seconds: float, t0: float,
    spool_root: Path, drain_s: float,
) -> tuple[int, dict[int, float], dict[int, tuple[float, str]], Counter[str]]:
    """One camera for ``seconds`` at ``fps`` from ``t0``, then up to ``drain_s`` for its last frames' verdicts.

    Returns frames captured, their capture times, their final acks (seq -> (time, outcome)) and the sender's ack
    counts (``retry`` included).
    """
    total = int(seconds * fps)
    captured: dict[int, float] = {}
    # No fsync: the bench measures the service; a daemon's durability costs its own disk, not the service's.
    spool = TimedSpool(spool_root / camera, camera, max_bytes=SPOOL_BYTES, fsync=False)
    sender = Sender(f"{url.replace('http', 'ws', 1)}/ws/{camera}", camera, spool, token=token)
    stop = asyncio.Event()
    running = asyncio.create_task(sender.run(stop))
    try:
        for seq in range(total):
            delay = t0 + seq / fps - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if running.done():
                break  # refused for good (a bad token ...): the rest is never captured
            captured[seq] = time.time()
            header = FrameHeader(camera_id=camera, seq=seq, captured_at=captured[seq])
            spool.put(seq, encode_frame(header, jpegs[(offset + seq) % len(jpegs)]))
            sender.wake()
        deadline = time.monotonic() + drain_s
        while len(spool.finished) < len(captured) and time.monotonic() < deadline and not running.done():
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        sender.wake()
        # The same guard as `qc capture`'s: a sender that has not stopped in 5 s is cancelled.
        with contextlib.suppress(ServiceRejected, asyncio.TimeoutError):
            await asyncio.wait_for(running, timeout=5.0)
        spool.close()
    return len(captured), captured, dict(spool.finished), Counter(sender.stats.acks)
