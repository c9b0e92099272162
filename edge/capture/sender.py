"""The sender: one persistent WebSocket to the service, a window of frames in flight, reconnect with backoff.

It owns no frames: it reads them from the spool in seq order and finishes each one when its final ack
arrives, so whatever was not acked when a connection (or the daemon) died is resent from the spool,
oldest first. Per `edge.protocol`: ``ok``/``duplicate``/``dropped``/``error`` are final (``error`` goes to the
dead letters); ``retry`` is not, and the service answers ``retry`` for every later frame already in flight, so
on a ``retry`` the sender stops sending, lets the window drain, waits a backoff and resends from the oldest
unacked frame. That keeps one camera's frames in seq order at the service.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from edge.capture.backoff import Backoff
from edge.capture.errors import CaptureError, ServiceRejected
from edge.capture.spool import Spool
from edge.protocol import (
    CLOSE_FORBIDDEN,
    CLOSE_UNAUTHORIZED,
    WS_PATH,
    Ack,
    ProtocolError,
    parse_ack,
)

log = logging.getLogger(__name__)

FATAL_CLOSE_CODES = {CLOSE_UNAUTHORIZED, CLOSE_FORBIDDEN}  # a configuration problem: retrying cannot help
MAX_ACK_BYTES = 64 * 1024


def stream_url(service: str, camera_id: str) -> str:
    """The camera's WebSocket URL: ``service`` as given when it has a path, else the service's `WS_PATH`.

    ``http(s)://`` is accepted for the service's base URL and turned into ``ws(s)://``.
    """
    parts = urlsplit(service)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    if scheme not in ("ws", "wss") or not parts.netloc:
        raise CaptureError(f"service URL {service!r} must look like ws://host:port (or http://host:port)")
    path = parts.path if parts.path not in ("", "/") else WS_PATH.format(camera_id=camera_id)
    return urlunsplit((scheme, parts.netloc, path, parts.query, ""))


class _SessionEnded(Exception):
    """The connection must be dropped and re-established (ack timeout, protocol confusion)."""


@dataclass
class SenderStats:
    """What the sender did in this run (the spool's counters are the durable record)."""

    connects: int = 0
    disconnects: int = 0
    sent: int = 0
    acks: dict[str, int] = field(default_factory=dict)
    connected: bool = False
    last_error: str | None = None


class Sender:
    """Streams a spool to the service until ``stop`` is set; raises `ServiceRejected` when the service refuses."""

    def __init__(
        self,
        url: str,
        camera_id: str,
        spool: Spool,
        *,
        token: str | None = None,
        window: int = 32,
        connect_backoff: Backoff | None = None,
        retry_backoff: Backoff | None = None,
        ack_timeout: float = 30.0,
        open_timeout: float = 10.0,
        max_message_bytes: int = 16 * 1024 * 1024,
    ) -> None:
        if window < 1:
            raise CaptureError(f"the in-flight window must be >= 1, got {window}")
        self.url = url
        self.camera_id = camera_id
        self.spool = spool
        self.token = token
        self.window = window
        self.connect_backoff = connect_backoff or Backoff(initial=0.5, maximum=30.0)
        self.retry_backoff = retry_backoff or Backoff(initial=0.2, maximum=10.0)
        self.ack_timeout = ack_timeout
        self.open_timeout = open_timeout
        self.max_message_bytes = max_message_bytes
        self.stats = SenderStats()
        self._changed = asyncio.Event()
        self._acked_in_session = False  # read by `run` also when the session ends in an exception

    def wake(self) -> None:
        """A frame was spooled (call on the event loop's thread, e.g. through ``call_soon_threadsafe``)."""
        self._changed.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Connect, stream, reconnect with backoff + jitter, until ``stop``."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        while not stop.is_set():
            delivered = False
            # Only this attempt's session may count as delivering: a refused connect must not read the flag the last
            # session left set, or every reconnect during an outage would reset the backoff to its first delay.
            self._acked_in_session = False
            try:
                async with connect(
                    self.url,
                    additional_headers=headers,
                    open_timeout=self.open_timeout,
                    max_size=MAX_ACK_BYTES,
                    compression=None,  # JPEG does not deflate; compressing would only burn CPU
                    proxy=None,  # the service is on the edge node's network, never behind an HTTP proxy
                    close_timeout=2,
                ) as ws:
                    self.stats.connects += 1
                    self.stats.connected = True
                    log.info("camera %s: connected to %s", self.camera_id, self.url)
                    delivered = await self._session(ws, stop)
            except ConnectionClosed as exc:
                delivered = delivered or self._acked_in_session
                code = exc.rcvd.code if exc.rcvd else None
                reason = exc.rcvd.reason if exc.rcvd else ""
                if code in FATAL_CLOSE_CODES:
                    why = reason or "no reason given"
                    raise ServiceRejected(
                        f"service {self.url} refused camera {self.camera_id!r}: {why} (close code {code})"
                    ) from None
                self.stats.last_error = f"connection closed (code {code}{', ' + reason if reason else ''})"
            except InvalidStatus as exc:
                status = exc.response.status_code
                if status in (401, 403, 404):
                    raise ServiceRejected(
                        f"service {self.url} refused camera {self.camera_id!r} with HTTP {status}"
                    ) from None
                self.stats.last_error = f"handshake failed with HTTP {status}"
            except InvalidURI as exc:
                raise CaptureError(f"service URL {self.url!r} is invalid: {exc}") from None
            except (OSError, TimeoutError, InvalidHandshake, _SessionEnded) as exc:
                delivered = delivered or self._acked_in_session
                self.stats.last_error = f"{type(exc).__name__}: {exc}"
            finally:
                if self.stats.connected:
                    self.stats.disconnects += 1
                self.stats.connected = False
                self.spool.unpin_all()
            if stop.is_set():
                break
            if delivered:
                self.connect_backoff.reset()
            delay = self.connect_backoff.next_delay()
            log.warning(
                "camera %s: service %s unavailable (%s); %d frame(s) spooled; reconnecting in %.1f s",
                self.camera_id,
                self.url,
                self.stats.last_error,
                len(self.spool),
                delay,
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)

    # --- one connection ---------------------------------------------------------------------------------------

    async def _session(self, ws: ClientConnection, stop: asyncio.Event) -> bool:
        """Stream until the connection fails or ``stop``; returns whether any frame got a final ack."""
        self._acked_in_session = False
        inflight: dict[int, float] = {}  # seq -> monotonic send time
        state = _WindowState(limit=self.window)
        reader = asyncio.create_task(self._read_acks(ws, inflight, state))
        pump = asyncio.create_task(self._pump(ws, inflight, state))
        stopper = asyncio.create_task(stop.wait())
        try:
            done, _ = await asyncio.wait({reader, pump, stopper}, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task is not stopper and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
            if reader in done:  # the service closed the connection cleanly: reconnect
                raise _SessionEnded("the service closed the connection")
        finally:
            for task in (reader, pump, stopper):
                task.cancel()
            await asyncio.gather(reader, pump, stopper, return_exceptions=True)
        return self._acked_in_session

    async def _pump(self, ws: ClientConnection, inflight: dict[int, float], state: _WindowState) -> None:
        while True:
            now = time.monotonic()
            if inflight:
                oldest = min(inflight.values())
                if now - oldest > self.ack_timeout:
                    raise _SessionEnded(f"no ack for {self.ack_timeout:.0f} s with {len(inflight)} frame(s) in flight")
            if state.paused_until is not None:
                # After a retry: let every frame in flight come back (they all get retry), wait out the backoff,
                # then start again from the oldest unacked frame, so the service sees the camera in order.
                if not inflight and now >= state.paused_until:
                    state.paused_until = None
                    state.cursor = -1
                else:
                    await self._wait_change(0.05 if not inflight else 0.5)
                    continue
            seq = self.spool.next_after(state.cursor) if len(inflight) < state.limit else None
            if seq is None:
                await self._wait_change(1.0)
                continue
            message = self.spool.read(seq)
            state.cursor = seq
            if message is None:  # evicted or acked between the lookup and the read
                continue
            self.spool.pin(seq)
            inflight[seq] = time.monotonic()
            await ws.send(message)
            self.stats.sent += 1

    async def _wait_change(self, timeout: float) -> None:
        # Not asyncio.wait_for: before Python 3.12 it swallows a cancellation that arrives while the event is being
        # set (a stop and a `wake` together), and the pump then never stopped (`qc capture` cancelled it after 5 s).
        waiter = asyncio.ensure_future(self._changed.wait())
        try:
            await asyncio.wait({waiter}, timeout=timeout)
        finally:
            waiter.cancel()
        self._changed.clear()

    async def _read_acks(self, ws: ClientConnection, inflight: dict[int, float], state: _WindowState) -> None:
        async for raw in ws:
            try:
                ack = parse_ack(raw)
            except ProtocolError as exc:
                log.warning(
                    "camera %s: ignoring a message from the service that is not an ack: %s", self.camera_id, exc
                )
                continue
            self._handle_ack(ack, inflight, state)
            self._changed.set()

    def _handle_ack(self, ack: Ack, inflight: dict[int, float], state: _WindowState) -> None:
        self.stats.acks[ack.status] = self.stats.acks.get(ack.status, 0) + 1
        if ack.seq is None or ack.camera_id != self.camera_id:
            # The service could not read our header: our own encoder is broken, nothing to resend differently.
            log.error(
                "camera %s: service answered %s/%s: %s (%s)",
                self.camera_id,
                ack.camera_id,
                ack.seq,
                ack.status,
                ack.reason,
            )
            return
        seq = ack.seq
        if inflight.pop(seq, None) is None:
            log.debug(
                "camera %s: ack for seq %d that is not in flight (late or repeated); ignored", self.camera_id, seq
            )
            return
        self.spool.unpin(seq)
        if ack.status == "retry":
            # Slow start, as TCP does after a loss: probe an overloaded service with one frame, not a window.
            state.limit = 1
            if state.paused_until is None:
                delay = self.retry_backoff.next_delay()
                state.paused_until = time.monotonic() + delay
                log.info(
                    "camera %s: service asked to retry from seq %d (%s); resending in %.2f s",
                    self.camera_id,
                    seq,
                    ack.code or ack.reason,
                    delay,
                )
            return
        outcome: str
        if ack.status in ("ok", "duplicate"):
            outcome = ack.status
            self.retry_backoff.reset()
        elif ack.status == "dropped":
            outcome = f"dropped:{ack.code or 'unspecified'}"
            log.warning("camera %s: service dropped seq %d: %s", self.camera_id, seq, ack.reason or ack.code)
        else:
            outcome = f"error:{ack.code or 'unspecified'}"
            log.error(
                "camera %s: service rejected seq %d for good (%s: %s); moved to dead letters",
                self.camera_id,
                seq,
                ack.code,
                ack.reason,
            )
        self.spool.finish(seq, outcome, detail=ack.reason)
        self._acked_in_session = True
        state.limit = min(self.window, state.limit + 1)  # +1 per ack: the window doubles per round trip


@dataclass
class _WindowState:
    limit: int = 1  # frames allowed in flight now: the window, cut to 1 by a retry and grown back per ack
    cursor: int = -1  # the last seq sent on this connection; the next is the lowest spooled seq above it
    paused_until: float | None = None  # set by a retry ack
