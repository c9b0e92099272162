"""The capture daemon of one camera: source -> resize -> JPEG -> spool -> sender, until the source ends or a stop.

Two threads of control: a capture thread that reads the (blocking) OpenCV source and puts each frame into
the spool, and an asyncio loop that runs the sender, the progress line and the stats file. They meet only in
the spool, which is the durable record: the daemon can die at any point and the next start resends what
was not acked, continues the seq counter and, for a file, resumes at the next unread frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import cv2

from edge.capture.backoff import Backoff
from edge.capture.errors import CaptureError, ServiceRejected
from edge.capture.ledger import write_atomic
from edge.capture.sender import Sender, stream_url
from edge.capture.settings import FrameSource, ServiceLink, SpoolSettings
from edge.capture.source import SourceSpec, VideoSource, resize_for_model
from edge.capture.spool import PutResult, Spool, SpoolStats
from edge.protocol import FrameHeader, ProtocolError, check_camera_id, encode_frame

log = logging.getLogger(__name__)

STATS_NAME = "stats.json"
STATS_INTERVAL_S = 1.0


@dataclass(frozen=True)
class CaptureConfig:
    """Everything one camera's daemon needs: its id and tags, checked here against the wire format, and the values
    `FrameSource`, `SpoolSettings` and `ServiceLink`, each validated when it was made (errors name the setting)."""

    camera_id: str
    frames: FrameSource
    spool: SpoolSettings
    link: ServiceLink
    tags: Mapping[str, str] = field(default_factory=dict)
    progress_seconds: float = 5.0

    def __post_init__(self) -> None:
        try:
            check_camera_id(self.camera_id)
            FrameHeader(camera_id=self.camera_id, seq=0, captured_at=0.0, tags=dict(self.tags))
        except ProtocolError as exc:
            raise CaptureError(f"--camera/--tag: {exc}") from None
        if not self.progress_seconds > 0:
            raise CaptureError(f"progress_seconds must be above 0, got {self.progress_seconds}")


@dataclass(frozen=True)
class CaptureSummary:
    """How a run ended and where every frame went (``total`` is since the spool was created)."""

    camera_id: str
    source: str
    stopped_by: str  # end_of_source | max_frames | stop | service_rejected
    drained: bool  # nothing is left in the spool
    total: SpoolStats
    run: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        """The summary as one JSON object (what `qc capture` prints and stats.json holds)."""
        c = self.total.counters
        return {
            "camera_id": self.camera_id,
            "source": self.source,
            "stopped_by": self.stopped_by,
            "drained": self.drained,
            "total": {
                "captured": c.captured,
                "acked": c.acked_ok + c.acked_duplicate,
                "acked_ok": c.acked_ok,
                "duplicates": c.acked_duplicate,
                "dropped": sum(c.dropped.values()),
                "dropped_by_reason": dict(sorted(c.dropped.items())),
                "spooled": self.total.spooled,
                "spooled_bytes": self.total.spooled_bytes,
                "dead_letters": self.total.dead_letters,
                "balanced": self.total.balanced,
            },
            "run": self.run,
        }


class CaptureDaemon:
    """One camera's daemon; `run` blocks until the source ends (and the spool drains) or a stop."""

    def __init__(self, config: CaptureConfig, *, stop: threading.Event | None = None) -> None:
        self.config = config
        self.spec = SourceSpec.parse(config.frames.source)
        self.external_stop = stop or threading.Event()
        self._capture_stop = threading.Event()
        self._capture_done = threading.Event()
        self._capture_error: BaseException | None = None
        self._capture_end = "stop"
        self._run_captured = 0
        # Keys fixed up front: the reporter copies this dict while the capture thread counts into it.
        self._not_captured: dict[str, int] = {"spool_full": 0, "already_spooled": 0}
        self._started_at = time.time()

    # --- the capture thread -----------------------------------------------------------------------------------

    def _file_position(self, spool: Spool) -> tuple[int, int, float]:
        """(seq base, start frame index, epoch) for a file: resume the same file, or give a new one fresh seqs.

        A file's seqs are ``base + frame index``; the base is 0 in a fresh spool, so a clip's keys are its frame
        indices and a replay (``--from-start``) produces the same keys, which the service answers ``duplicate``.
        A different file in the same spool starts at the spool's next seq, so its keys cannot collide.
        """
        identity = self.spec.identity()
        meta = spool.meta
        if meta.get("source") == identity:
            base, epoch = int(meta["seq_base"]), float(meta["epoch"])
            start = 0 if self.config.frames.from_start else max(0, spool.next_seq - base)
            return base, start, epoch
        base, epoch = spool.next_seq, time.time()
        spool.set_meta(source=identity, seq_base=base, epoch=epoch)
        return base, 0, epoch

    def _capture(self, spool: Spool, source: VideoSource, on_done: Any) -> None:
        cfg = self.config
        try:
            base, start, epoch = (0, 0, 0.0)
            if self.spec.kind == "file":
                base, start, epoch = self._file_position(spool)
                if start:
                    log.info("camera %s: resuming %s at frame %d", cfg.camera_id, self.spec.location, start)
            backpressure = self.spec.kind == "file" and not cfg.frames.realtime
            self._capture_end = "end_of_source"
            for frame in source.frames(self._capture_stop, start_index=start, epoch=epoch):
                seq = base + frame.index if self.spec.kind == "file" else spool.next_seq
                message = self._encode(spool, seq, frame.captured_at, frame.image)
                if message is None:  # captured, and counted as dropped with its reason
                    if self._count_captured():
                        self._capture_end = "max_frames"
                        return
                    continue
                if backpressure:
                    # A file loses nothing by waiting: hold the reader instead of applying the overflow policy.
                    while not spool.wait_for_room(len(message), max_frames=4 * cfg.link.window, timeout=0.2):
                        if self._capture_stop.is_set():
                            self._capture_end = "stop"
                            return
                result = spool.put(seq, message)
                if result is PutResult.FULL or result is PutResult.ALREADY_SPOOLED:
                    reason = "spool_full" if result is PutResult.FULL else "already_spooled"
                    self._not_captured[reason] += 1
                    continue
                if self._count_captured():
                    self._capture_end = "max_frames"
                    return
            if self._capture_stop.is_set():
                self._capture_end = "stop"
        except BaseException as exc:  # noqa: BLE001 (re-raised by run(); the thread must not die silently)
            self._capture_error = exc
        finally:
            self._capture_done.set()
            on_done()

    def _count_captured(self) -> bool:
        """Count a frame captured in this run; True when ``max_frames`` is reached."""
        self._run_captured += 1
        return self.config.frames.max_frames is not None and self._run_captured >= self.config.frames.max_frames

    def _encode(self, spool: Spool, seq: int, captured_at: float, image: Any) -> bytes | None:
        """The wire message of one frame, or None after counting why it cannot be sent."""
        cfg = self.config
        image = resize_for_model(image, cfg.frames.max_width, cfg.frames.max_height)
        ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, cfg.frames.jpeg_quality])
        if not ok:
            spool.record_unsendable(seq, "jpeg_encode_failed")
            return None
        header = FrameHeader(camera_id=cfg.camera_id, seq=seq, captured_at=captured_at, tags=dict(cfg.tags))
        try:
            return encode_frame(header, jpeg.tobytes())
        except ProtocolError as exc:
            log.warning("camera %s: frame %d cannot be sent: %s", cfg.camera_id, seq, exc)
            spool.record_unsendable(seq, f"unsendable:{exc.code.value}")
            return None

    # --- the event loop ---------------------------------------------------------------------------------------

    def run(self, *, handle_signals: bool = False) -> CaptureSummary:
        """Run to the end; ``handle_signals`` makes SIGINT/SIGTERM a clean stop (only from the main thread)."""
        cfg, link = self.config, self.config.link
        url = stream_url(link.service, cfg.camera_id)
        spool = Spool(cfg.spool.spool_dir, cfg.camera_id, max_bytes=cfg.spool.max_bytes, policy=cfg.spool.overflow,
                      fsync=cfg.spool.fsync)
        try:
            source = VideoSource(
                self.spec,
                fps_cap=cfg.frames.fps,
                realtime=cfg.frames.realtime,
                stall_seconds=cfg.frames.stall_seconds,
                rtsp_transport=cfg.frames.rtsp_transport,
                reopen_backoff=Backoff(initial=link.backoff_initial, maximum=min(link.backoff_max, 10.0)),
            )
            sender = Sender(
                url,
                cfg.camera_id,
                spool,
                token=link.token,
                window=link.window,
                ack_timeout=link.ack_timeout,
                connect_backoff=Backoff(initial=link.backoff_initial, maximum=link.backoff_max),
                # Retry answers mean overload: short waits (capped at 5 s), the slow start does the rest.
                retry_backoff=Backoff(initial=min(0.2, link.backoff_initial), maximum=min(5.0, link.backoff_max)),
            )
            start = spool.stats()
            stopped_by = "stop"
            try:
                stopped_by = asyncio.run(self._main(spool, source, sender, handle_signals))
            except ServiceRejected:
                stopped_by = "service_rejected"
                raise
            finally:
                self._capture_stop.set()
                summary = self._summary(spool, source, sender, start, stopped_by)
                self._write_stats(spool, summary, running=False)
            if self._capture_error is not None:
                raise self._capture_error
            return summary
        finally:
            spool.close()

    async def _main(self, spool: Spool, source: VideoSource, sender: Sender, handle_signals: bool) -> str:
        loop = asyncio.get_running_loop()
        wakeup = asyncio.Event()

        def threadsafe(callback: Any) -> None:
            with contextlib.suppress(RuntimeError):  # the loop has closed: nothing left to wake
                loop.call_soon_threadsafe(callback)

        spool.add_listener(lambda: threadsafe(sender.wake))
        if handle_signals:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, self.external_stop.set)
        thread = threading.Thread(
            target=self._capture, args=(spool, source, lambda: threadsafe(wakeup.set)), name="capture", daemon=True
        )
        thread.start()
        sender_stop = asyncio.Event()
        sender_task = asyncio.create_task(sender.run(sender_stop))
        reporter = asyncio.create_task(self._report(spool, source, sender))
        try:
            stopped_by = await self._until_end(spool, sender_task, wakeup)
        finally:
            self._capture_stop.set()
            sender_stop.set()
            reporter.cancel()
            await asyncio.gather(reporter, return_exceptions=True)
            # asyncio.wait, not wait_for: a sender that failed (already reported) must not abort this clean-up.
            await asyncio.wait({sender_task}, timeout=5)
            if not sender_task.done():
                log.warning("camera %s: the sender did not stop within 5 s", self.config.camera_id)
                sender_task.cancel()
            await asyncio.to_thread(thread.join, 5)
            if handle_signals:
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.remove_signal_handler(sig)
        return stopped_by

    async def _until_end(self, spool: Spool, sender_task: asyncio.Task[None], wakeup: asyncio.Event) -> str:
        """Wait for the capture to end (then drain) or a stop; the sender failing for good ends the run too."""
        cfg = self.config
        while not self._capture_done.is_set():
            if self.external_stop.is_set():
                return "stop"
            if sender_task.done():
                sender_task.result()  # raises ServiceRejected / CaptureError
                return "stop"
            wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wakeup.wait(), timeout=0.1)
        if self._capture_error is not None or self._capture_end == "stop":
            return "stop"
        deadline = time.monotonic() + cfg.link.drain_timeout
        if len(spool):
            log.info(
                "camera %s: %s; waiting up to %.0f s for %d unacked frame(s)",
                cfg.camera_id,
                self._capture_end.replace("_", " "),
                cfg.link.drain_timeout,
                len(spool),
            )
        while len(spool) and time.monotonic() < deadline and not self.external_stop.is_set():
            if sender_task.done():
                sender_task.result()
                break
            await asyncio.sleep(0.05)
        return self._capture_end

    async def _report(self, spool: Spool, source: VideoSource, sender: Sender) -> None:
        """Rewrite stats.json every second; a progress line on stderr every ``progress_seconds``."""
        last_line = time.monotonic()
        while True:
            await asyncio.sleep(STATS_INTERVAL_S)
            stats = spool.stats()
            summary = self._summary_from(stats, source, sender, None, "running")
            self._write_stats(spool, summary, running=True)
            if time.monotonic() - last_line >= self.config.progress_seconds:
                last_line = time.monotonic()
                c = stats.counters
                log.info(
                    "camera %s: captured %d, acked %d (%d duplicate), dropped %d, spooled %d (%.1f MB), %s",
                    self.config.camera_id,
                    c.captured,
                    c.acked_ok + c.acked_duplicate,
                    c.acked_duplicate,
                    sum(c.dropped.values()),
                    stats.spooled,
                    stats.spooled_bytes / 1e6,
                    "connected" if sender.stats.connected else f"disconnected ({sender.stats.last_error})",
                )

    # --- results ----------------------------------------------------------------------------------------------

    def _summary(
        self, spool: Spool, source: VideoSource, sender: Sender, start: SpoolStats, stopped_by: str
    ) -> CaptureSummary:
        return self._summary_from(spool.stats(), source, sender, start, stopped_by)

    def _summary_from(
        self, stats: SpoolStats, source: VideoSource, sender: Sender, start: SpoolStats | None, stopped_by: str
    ) -> CaptureSummary:
        c = stats.counters
        run: dict[str, Any] = {
            "captured": self._run_captured,
            "not_captured": {"fps_cap": source.fps_skipped, **self._not_captured},
            "source_reopens": source.reopens,
            "connects": sender.stats.connects,
            "sent": sender.stats.sent,
            "acks": dict(sorted(sender.stats.acks.items())),
            "seconds": round(time.time() - self._started_at, 3),
        }
        if start is not None:
            s = start.counters
            run["acked_ok"] = c.acked_ok - s.acked_ok
            run["duplicates"] = c.acked_duplicate - s.acked_duplicate
            run["dropped"] = sum(c.dropped.values()) - sum(s.dropped.values())
        return CaptureSummary(
            camera_id=self.config.camera_id,
            source=self.config.frames.source,
            stopped_by=stopped_by,
            drained=stats.spooled == 0,
            total=stats,
            run=run,
        )

    def _write_stats(self, spool: Spool, summary: CaptureSummary, *, running: bool) -> None:
        body = {**summary.to_json(), "running": running, "pid": os.getpid(), "updated_at": time.time()}
        try:
            write_atomic(spool.root / STATS_NAME, json.dumps(body, indent=2).encode(), fsync=False)
        except OSError as exc:  # the stats file is a view; the ledger is the record
            log.warning("camera %s: cannot write %s: %s", self.config.camera_id, STATS_NAME, exc)


def run_capture(
    config: CaptureConfig, *, stop: threading.Event | None = None, handle_signals: bool = False
) -> CaptureSummary:
    """Run one camera's capture daemon to its end (see `CaptureDaemon`)."""
    return CaptureDaemon(config, stop=stop).run(handle_signals=handle_signals)
