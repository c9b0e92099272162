"""The capture daemon's `Sender` against a real WebSocket service that acks like `qc serve`."""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

import cv2
import numpy as np
from capture_ack_server import AckServer

from edge.capture.backoff import Backoff
from edge.capture.sender import Sender
from edge.capture.spool import Spool
from edge.protocol import FrameHeader, encode_frame

CAMERA = "cam1"


def test_a_stop_that_comes_with_a_wake_stops_the_sender_at_once(tmp_path: Path) -> None:
    """A stop and a `wake` at the same moment (a daemon stopping while its camera still delivers) used to leave the
    sender running: `asyncio.wait_for` (before Python 3.12) swallowed the pump's cancellation as the event was set,
    and `qc capture` had to cancel the sender after 5 s."""
    jpeg = cv2.imencode(".jpg", np.full((48, 64, 3), 120, np.uint8))[1].tobytes()
    server = AckServer().start()
    try:

        async def stream_then_stop() -> float:
            spool = Spool(tmp_path / "spool", CAMERA, max_bytes=1 << 24, fsync=False)
            sender = Sender(f"{server.url}/ws/{CAMERA}", CAMERA, spool)
            stop = asyncio.Event()
            running = asyncio.create_task(sender.run(stop))
            for seq in range(3):
                spool.put(seq, encode_frame(FrameHeader(camera_id=CAMERA, seq=seq, captured_at=time.time()), jpeg))
                sender.wake()
            deadline = time.monotonic() + 10
            while len(spool) and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            assert len(spool) == 0, "every frame acked"
            await asyncio.sleep(0.1)  # the pump is now waiting for a change
            started = time.monotonic()
            stop.set()
            sender.wake()
            await asyncio.wait_for(running, timeout=4)
            spool.close()
            return time.monotonic() - started

        assert asyncio.run(stream_then_stop()) < 1.0
    finally:
        server.stop()
    assert server.processed_seqs(CAMERA) == [0, 1, 2]


def test_reconnect_backoff_grows_while_the_service_is_down(tmp_path: Path) -> None:
    """After a session that delivered frames, the service goes away: its port is closed and every reconnect is
    refused. The delay must double from attempt to attempt (up to the cap). It used to stay at the first delay: a
    refused connect read the previous session's "acked" flag and reset the backoff each time."""
    jpeg = cv2.imencode(".jpg", np.full((48, 64, 3), 120, np.uint8))[1].tobytes()
    server = AckServer().start()
    url = f"{server.url}/ws/{CAMERA}"
    backoff = Backoff(initial=0.01, maximum=10.0, rng=random.Random(0))
    refused = 6

    async def stream_then_lose_the_service() -> dict[int, float]:
        spool = Spool(tmp_path / "spool", CAMERA, max_bytes=1 << 24, fsync=False)
        sender = Sender(url, CAMERA, spool, connect_backoff=backoff)
        stop = asyncio.Event()
        running = asyncio.create_task(sender.run(stop))
        for seq in range(3):
            spool.put(seq, encode_frame(FrameHeader(camera_id=CAMERA, seq=seq, captured_at=time.time()), jpeg))
            sender.wake()
        deadline = time.monotonic() + 10
        while len(spool) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert len(spool) == 0, "every frame acked in the first session"
        server.stop()  # the port is closed now: each reconnect is refused
        ceilings: dict[int, float] = {}  # the backoff's own record: failed attempts -> un-jittered next delay
        deadline = time.monotonic() + 20
        while max(ceilings, default=0) <= refused and time.monotonic() < deadline:
            ceilings[backoff.attempts] = backoff.ceiling()
            await asyncio.sleep(0.001)
        stop.set()
        await asyncio.wait_for(running, timeout=5)
        spool.close()
        assert sender.stats.connects == 1 and "Connect" in (sender.stats.last_error or "")  # refused, not closed
        return ceilings

    ceilings = asyncio.run(stream_then_lose_the_service())
    # The first failure follows the delivering session (backoff reset, then one failure); each refusal after it
    # counts one more attempt, and the delay doubles with each.
    assert max(ceilings) > refused, f"the backoff did not grow: {ceilings}"
    assert all(ceiling == 0.01 * 2**attempts for attempts, ceiling in ceilings.items() if attempts >= 1)
