"""Admission of frames: idempotency, per-camera order and the overload answer, before the batcher and worker.

Invariant kept per camera: the frames the service finishes with (processed, or dropped with a reason) are finished
in seq order, and a frame answered ``retry`` was finished with by nothing, so its resend is processed exactly once.
To keep it, a ``retry`` for frame *s* also answers ``retry`` to the camera's frames after *s* that are in flight,
and (for ``retry_hold_s``) to later frames that arrive before *s* is resent.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from edge.config import CameraSection, ServeConfig
from edge.protocol import Ack, Code, FrameHeader, ProtocolError
from edge.service.batcher import Batcher, Job
from edge.service.frame_history import FrameHistory
from edge.service.metrics import Metrics
from edge.store.errors import StoreUnavailableError
from edge.store.store import Store

log = logging.getLogger(__name__)


def ack_of(job_header: FrameHeader, status: str, code: Code | str | None = None, reason: str | None = None) -> Ack:
    """An ack for ``job_header``'s frame."""
    code_value = code.value if isinstance(code, Code) else code
    return Ack(camera_id=job_header.camera_id, seq=job_header.seq, status=status,  # type: ignore[arg-type]
               reason=reason, code=code_value)


@dataclass(eq=False)
class Lane:
    """One camera's admission state; the counter lives here too, used only by the worker's post stage."""

    camera: CameraSection
    finished_seq: int | None = None  # highest seq committed or dropped (from the store at start-up)
    inflight: dict[int, Job] = field(default_factory=dict)  # admitted, not finished; insertion order = seq order
    barrier: int | None = None  # lowest seq answered 'retry' and not yet resent
    barrier_until: float = 0.0
    failures: dict[int, int] = field(default_factory=dict)  # seq -> times it failed inside the service
    checkpoint: dict[str, Any] | None = None  # counter state committed with the last processed frame
    counter: Any = None  # the camera's counter, built by the worker on the first frame (needs the frame size)
    history: FrameHistory = field(default_factory=lambda: FrameHistory(0))  # recent frames, for flagged items
    last_frame_at: float = 0.0  # pipeline clock when the camera last sent a frame (or the service got ready)
    flushed_seq: int | None = None  # finished_seq at the last idle flush: flushed again only after a newer frame

    @property
    def high_seq(self) -> int | None:
        """Highest seq admitted or finished: a new frame must come after it."""
        top = max(self.inflight, default=None)
        if top is None:
            return self.finished_seq
        return top if self.finished_seq is None else max(top, self.finished_seq)


class Pipeline:
    """Turns a parsed frame into an ack: answers duplicates and out-of-order frames from the store, admits new
    frames into the batcher in per-camera seq order, and resolves every admitted frame exactly once."""

    def __init__(
        self,
        config: ServeConfig,
        store: Store,
        batcher: Batcher,
        metrics: Metrics,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.store = store
        self.batcher = batcher
        self.metrics = metrics
        self._clock = clock
        self.lanes: dict[str, Lane] = {
            c.id: Lane(camera=c, history=FrameHistory(config.counting.frame_history)) for c in config.cameras
        }
        self.ready = False  # set once the model is loaded and lanes restored
        self.stopping = False

    async def restore(self) -> None:
        """Read each camera's last finished seq and last checkpoint from the store (after a restart)."""
        for lane in self.lanes.values():
            cam = lane.camera.id
            lane.finished_seq = await asyncio.to_thread(self.store.last_seq, cam)
            lane.checkpoint = await asyncio.to_thread(self.store.load_checkpoint, cam)
            lane.last_frame_at = self._clock()
            if lane.finished_seq is not None:
                log.info("camera %s resumes after seq %s (checkpoint: %s)", cam, lane.finished_seq,
                         "yes" if lane.checkpoint else "none")

    # --- admission ----------------------------------------------------------------------------------------------

    async def submit(
        self, header: FrameHeader, payload: bytes, received_at: float, error: ProtocolError | None = None
    ) -> Ack:
        """The ack for one frame of an authenticated camera. ``error``: the payload already failed a check; the
        frame is then finished as dropped with that code, in its camera's order."""
        cam, seq = header.key
        lane = self.lanes[cam]
        lane.last_frame_at = self._clock()
        if self.stopping:
            return self._retry(header, Code.SHUTTING_DOWN, "the service is shutting down; resend later")
        if not self.ready:
            return self._retry(header, Code.NOT_READY, "the model is not loaded yet; resend later")

        running = lane.inflight.get(seq)
        if running is not None:  # a resend of a frame still in the pipeline: share its outcome
            ack = await asyncio.shield(running.done)
            return self._as_duplicate(ack)

        if lane.barrier is not None and self._clock() >= lane.barrier_until:
            lane.barrier = None  # the hold lapsed: the daemon gave that frame up (or will get seq_out_of_order)
        if lane.barrier is not None:
            if seq > lane.barrier:
                return self._retry(
                    header, Code.BLOCKED, f"frame {lane.barrier} of camera {cam} was answered retry; resend from it"
                )
            if seq == lane.barrier:
                lane.barrier = None  # the awaited resend; an older frame is answered as usual and lifts nothing

        high = lane.high_seq
        if high is not None and seq <= high:
            try:
                return await self._answer_old(header, received_at)
            except StoreUnavailableError as exc:
                return self._retry(header, Code.STORE_UNAVAILABLE, str(exc))
        failures = lane.failures.get(seq, 0)
        if error is None and failures >= self.config.batcher.max_failures:
            # A poison frame: finish it as dropped (in the camera's order) rather than stall the camera.
            error = ProtocolError(Code.INTERNAL, f"the service failed on frame {seq} of camera {cam} {failures} times")

        job = Job(header=header, payload=payload, received_at=received_at,
                  done=asyncio.get_running_loop().create_future(), error=error)
        if not self.batcher.try_put(job):
            self._hold(lane, seq)
            return self._retry(header, Code.OVERLOADED,
                               f"the queue is full ({self.batcher.limit} frames); resend later")
        lane.inflight[seq] = job
        return await asyncio.shield(job.done)

    async def _answer_old(self, header: FrameHeader, received_at: float) -> Ack:
        """A frame at or below the camera's newest: already finished (duplicate), or never seen (out of order)."""
        cam, seq = header.key
        status = await asyncio.to_thread(self.store.frame_status, cam, seq)
        if status is None:
            reason = f"frame {seq} arrived after frame {self.lanes[cam].high_seq} of camera {cam} and was never seen"
            recorded = await asyncio.to_thread(
                self.store.record_dropped, cam, seq, Code.SEQ_OUT_OF_ORDER.value,
                received_at=received_at, captured_at=header.captured_at,
            )
            if recorded:
                self.metrics.frames_dropped.labels(cam, Code.SEQ_OUT_OF_ORDER.value).inc()
                return ack_of(header, "dropped", Code.SEQ_OUT_OF_ORDER, reason)
            status = await asyncio.to_thread(self.store.frame_status, cam, seq)  # a racing resend recorded it
        self.metrics.frames_duplicate.labels(cam).inc()
        if status == "processed":
            return ack_of(header, "duplicate", None, f"frame {seq} of camera {cam} was processed before")
        return ack_of(header, "dropped", Code.ALREADY_DROPPED, f"frame {seq} of camera {cam} was dropped before")

    @staticmethod
    def _as_duplicate(ack: Ack) -> Ack:
        if ack.status == "ok":
            return Ack(ack.camera_id, ack.seq, "duplicate", "the same frame was being processed", None)
        return ack

    def refuse(self, header: FrameHeader, code: Code, reason: str) -> Ack:
        """Answer a frame of an authenticated camera 'retry' before its payload is even read (an upload over the
        bound); as for a full queue, the camera's later frames wait for its resend, so it is not overtaken."""
        lane = self.lanes[header.camera_id]
        lane.last_frame_at = self._clock()
        high = lane.high_seq
        if self.ready and not self.stopping and (high is None or header.seq > high):
            self._hold(lane, header.seq)
        return self._retry(header, code, reason)

    def _retry(self, header: FrameHeader, code: Code, reason: str) -> Ack:
        self.metrics.frames_retry.labels(header.camera_id, code.value).inc()
        return ack_of(header, "retry", code, reason)

    def _hold(self, lane: Lane, seq: int) -> None:
        """Answer later frames of this camera 'retry' until ``seq`` is resent (or the hold lapses)."""
        if lane.barrier is None or seq < lane.barrier:
            lane.barrier = seq
        lane.barrier_until = self._clock() + self.config.batcher.retry_hold_s

    def idle_lanes(self, idle_s: float) -> list[Lane]:
        """Cameras to flush: silent for ``idle_s`` seconds, no frame of theirs in flight or awaited (a 'retry' hold),
        and a frame finished since their last flush."""
        if not self.ready or self.stopping or idle_s <= 0:
            return []
        now = self._clock()
        return [
            lane for lane in self.lanes.values()
            if lane.finished_seq is not None and lane.flushed_seq != lane.finished_seq and not lane.inflight
            and (lane.barrier is None or now >= lane.barrier_until) and now - lane.last_frame_at >= idle_s
        ]

    # --- outcomes (called by the worker, on the event loop) -----------------------------------------------------

    def finish(self, job: Job, ack: Ack) -> None:
        """Resolve an admitted frame that the store has finished with (ok, duplicate, dropped, error)."""
        lane = self.lanes[job.camera_id]
        if job.done.done():
            return
        lane.inflight.pop(job.seq, None)
        lane.failures.pop(job.seq, None)
        if lane.finished_seq is None or job.seq > lane.finished_seq:
            lane.finished_seq = job.seq
        self.metrics.frame_latency.observe(time.perf_counter() - job.arrived)
        job.done.set_result(ack)

    def retry(self, job: Job, code: Code, reason: str) -> None:
        """Answer an admitted frame 'retry' (nothing of it was committed), and with it the camera's later frames."""
        lane = self.lanes[job.camera_id]
        if job.done.done():
            return
        self._hold(lane, job.seq)
        for seq in [s for s in lane.inflight if s >= job.seq]:
            later = lane.inflight.pop(seq)
            if not later.done.done():
                why = reason if later is job else f"frame {job.seq} of camera {job.camera_id} before it failed"
                self.metrics.frames_retry.labels(job.camera_id, (code if later is job else Code.BLOCKED).value).inc()
                later.done.set_result(ack_of(later.header, "retry", code if later is job else Code.BLOCKED, why))

    def note_failure(self, job: Job) -> None:
        """Count a failure of ``job`` inside the service (see ``batcher.max_failures``)."""
        lane = self.lanes[job.camera_id]
        lane.failures[job.seq] = lane.failures.get(job.seq, 0) + 1

    def shutdown(self) -> None:
        """Stop admitting; answer every queued frame 'retry' (the daemons resend them to the next instance)."""
        self.stopping = True
        for job in self.batcher.drain():
            self.retry(job, Code.SHUTTING_DOWN, "the service is shutting down; resend later")
