"""A small real WebSocket service for the capture daemon's tests: it acks frames like `qc serve` does.

It keeps the service's rules of `edge.protocol` (frames of a camera processed in seq order, a seen
``(camera_id, seq)`` answered ``duplicate``, an unseen seq older than the last processed one answered
``dropped``/seq_out_of_order, after a ``retry`` every later frame is answered ``retry`` until the hole is
filled) and records what it did, so a test can check that every frame was processed exactly once. Its
"store" (what was processed) outlives a stop/start of the server, like a database behind a restarted service.
Scripted faults: answer ``retry``/``error``/``dropped`` for chosen seqs, or cut the connection abruptly after
processing a frame without acking it (the ack lost on the wire).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np
from websockets.asyncio.server import ServerConnection, serve

from edge.protocol import (
    CLOSE_FORBIDDEN,
    Ack,
    Code,
    ProtocolError,
    decode_jpeg,
    encode_ack,
    error_ack,
    parse_frame,
)


@dataclass
class Script:
    """Faults to inject, by seq; each fires once."""

    retry: set[int] = field(default_factory=set)
    error: set[int] = field(default_factory=set)
    dropped: set[int] = field(default_factory=set)
    cut_after_processing: set[int] = field(default_factory=set)  # process, then abort the TCP connection, no ack


class AckServer:
    """Runs in its own thread; `start`/`stop` may be called repeatedly (same port after the first start)."""

    def __init__(self, *, token: str | None = None, script: Script | None = None) -> None:
        self.token = token
        self.script = script or Script()
        # Acks of the frames processed after this many are held back (not sent) until it is set to None again: a
        # test kills a daemon with frames it knows are processed and unacked, however slowly the machine runs.
        self.hold_acks_after: int | None = None
        self.port = 0
        self.lock = threading.Lock()
        self.processed: list[tuple[str, int]] = []  # (camera, seq) answered ok, in processing order
        self.answers: list[tuple[str, int | None, str]] = []  # every ack sent: (camera, seq, status)
        self.brightness: dict[tuple[str, int], float] = {}  # mean of the top-left patch of each processed frame
        self.sizes: dict[tuple[str, int], tuple[int, int]] = {}  # (w, h) of each processed frame
        self.out_of_order: list[tuple[str, int]] = []
        self._done: set[tuple[str, int]] = set()
        self._refused: dict[tuple[str, int], Ack] = {}
        self.connections = 0
        self._last: dict[str, int] = {}
        self._blocked_at: dict[str, int] = {}  # camera -> the seq it must resend before anything else
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopped: asyncio.Event | None = None
        self._live: set[ServerConnection] = set()

    # --- lifecycle --------------------------------------------------------------------------------------------

    def start(self) -> AckServer:
        """Start listening (on a free port the first time, on the same port afterwards)."""
        ready = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._serve(ready)), daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("ack server did not start")
        return self

    async def _serve(self, ready: threading.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        async with serve(self._handler, "127.0.0.1", self.port, max_size=16 * 1024 * 1024, compression=None) as server:
            self.port = server.sockets[0].getsockname()[1]
            ready.set()
            await self._stopped.wait()
            for ws in list(self._live):
                ws.transport.abort()  # abrupt: no close frame, like a killed service

    def stop(self) -> None:
        """Stop abruptly (connections aborted); the processing record is kept."""
        if self._loop is not None and self._stopped is not None:
            self._loop.call_soon_threadsafe(self._stopped.set)
        if self._thread is not None:
            self._thread.join(10)
        self._loop = None

    @property
    def url(self) -> str:
        """The service base URL for `qc capture --service`."""
        return f"ws://127.0.0.1:{self.port}"

    # --- what a test reads ------------------------------------------------------------------------------------

    def processed_seqs(self, camera: str) -> list[int]:
        """The seqs of ``camera`` processed (answered ok), in processing order."""
        with self.lock:
            return [s for c, s in self.processed if c == camera]

    def statuses(self, camera: str) -> list[str]:
        """Every status answered to ``camera``."""
        with self.lock:
            return [st for c, _, st in self.answers if c == camera]

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        """Poll ``predicate`` until true; fail loudly on timeout."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError(f"condition not met within {timeout} s; processed {len(self.processed)} frame(s)")
            time.sleep(0.02)

    # --- the service rules ------------------------------------------------------------------------------------

    async def _handler(self, ws: ServerConnection) -> None:
        request = ws.request
        if request is None:  # the handshake never completed
            return
        camera = request.path.rsplit("/", 1)[-1]
        if self.token is not None and request.headers.get("Authorization") != f"Bearer {self.token}":
            await ws.close(CLOSE_FORBIDDEN, f"wrong token for camera {camera}")
            return
        self.connections += 1
        self._live.add(ws)
        try:
            async for message in ws:
                if isinstance(message, str):
                    continue
                ack, cut = self._answer(camera, message)
                if cut:
                    ws.transport.abort()
                    return
                with self.lock:
                    answered = len(self.processed)
                while self.hold_acks_after is not None and answered > self.hold_acks_after:
                    await asyncio.sleep(0.02)
                with self.lock:
                    self.answers.append((ack.camera_id, ack.seq, ack.status))
                await ws.send(encode_ack(ack))
        except Exception:  # noqa: BLE001, S110 (a connection aborted by a test or by the script)
            pass
        finally:
            self._live.discard(ws)

    def _answer(self, camera: str, message: bytes) -> tuple[Ack, bool]:
        try:
            frame = parse_frame(message)
            image = decode_jpeg(frame.payload)
        except ProtocolError as exc:
            return error_ack(camera, None, exc), False
        seq = frame.header.seq
        key = (camera, seq)
        script = self.script
        with self.lock:
            blocked = self._blocked_at.get(camera)
            if blocked is not None:
                if seq != blocked:
                    return Ack(camera, seq, "retry", "earlier frame must be resent", Code.BLOCKED.value), False
                del self._blocked_at[camera]
            if key in self._done:
                return Ack(camera, seq, "duplicate"), False
            if key in self._refused:  # the service recorded its refusal; a resend gets the same answer
                return self._refused[key], False
            if seq in script.retry:
                script.retry.discard(seq)
                self._blocked_at[camera] = seq
                return Ack(camera, seq, "retry", "queue full", Code.OVERLOADED.value), False
            refusal = None
            if seq in script.error:
                refusal = Ack(camera, seq, "error", "scripted corrupt frame", Code.CORRUPT_JPEG.value)
            elif seq in script.dropped:
                refusal = Ack(camera, seq, "dropped", "scripted overload drop", Code.OVERLOADED.value)
            elif seq < self._last.get(camera, -1):
                self.out_of_order.append(key)
                refusal = Ack(camera, seq, "dropped", "older than the last processed", Code.SEQ_OUT_OF_ORDER.value)
            if refusal is not None:
                self._refused[key] = refusal
                return refusal, False
            self._last[camera] = seq
            self.processed.append(key)
            self._done.add(key)
            self.brightness[key] = float(np.mean(image[4:12, 4:12]))
            self.sizes[key] = (image.shape[1], image.shape[0])
            if seq in script.cut_after_processing:
                script.cut_after_processing.discard(seq)
                return Ack(camera, seq, "ok"), True
        return Ack(camera, seq, "ok"), False


def write_clip(path: str, frames: int, *, fps: float = 20.0, size: tuple[int, int] = (160, 120)) -> list[float]:
    """An MJPEG AVI whose frame i has the top-left brightness 8*i % 256 (readable back after JPEG); returns them."""
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    levels = []
    for i in range(frames):
        level = float((8 * i) % 256)
        image = np.full((size[1], size[0], 3), level, np.uint8)
        cv2.putText(image, str(i), (size[0] // 3, size[1] // 2), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (0, 0, 255), 2)
        writer.write(image)
        levels.append(level)
    writer.release()
    return levels
