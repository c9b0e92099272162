"""The pipeline worker: decode + detect a batch in one thread, then per frame, in order, track/count and commit.

Two stages joined by a one-slot hand-off, so the detector runs batch N+1 while batch N is committed. Both stages
take jobs in queue order, so each camera's frames are counted in seq order. A frame's ack is "ok" only after
`Store.commit_frame` returned: the frame row, its counted items (flagged ones with their crop) and the counter's
checkpoint are one transaction. When a commit fails the counter goes back to the last committed checkpoint, so the
resent frame is counted exactly once.

The detect stage takes one snapshot of the served models per batch (`ServingSet`: production, the canary for canary
cameras, the shadow), so a hot-swap (`edge.models`) takes effect between two batches; each frame is committed with
the version that detected it, and the cameras' counters carry on across a swap. The shadow model scores the batch
apart, after the hand-off, on a thread of its own (`edge.models.shadow`).

A third task flushes idle cameras: a counted item is handed on when its track ends, so the items still in view when
a camera stops sending would wait forever. When a camera has sent nothing for ``counting.idle_flush_s`` and none of
its frames is in flight, its counter's `flush` ends every track, in the post thread like any frame, and
`Store.commit_flush` commits the items with the emptied checkpoint (idempotent: nothing is stored twice).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from edge.config import CameraSection
from edge.models.serving import LoadedModel, ModelSlot, ServingSet
from edge.models.shadow import ShadowInput, ShadowScorer
from edge.monitoring import Monitor, frame_observation
from edge.protocol import Code, Limits, ProtocolError, decode_jpeg
from edge.service.batcher import Batcher, Job
from edge.service.frame_history import PastFrame
from edge.service.metrics import Metrics
from edge.service.pipeline import Lane, Pipeline, ack_of
from edge.store.errors import StoreUnavailableError
from edge.store.store import Store
from vision.detections import Detections
from vision.errors import QCError
from vision.frame import Frame

if TYPE_CHECKING:
    from edge.tracking.grading import ItemGrader

log = logging.getLogger(__name__)


def shadow_inputs(jobs: Sequence[Job], models: Mapping[Job, LoadedModel]) -> list[ShadowInput]:
    """A detected batch's frames as the shadow needs them (``models``: the model that detected each job).

    Here and not in `edge.models.shadow`: the service knows its jobs, the model lifecycle never imports the service.
    """
    return [
        ShadowInput(j.camera_id, j.seq, j.image, j.detections, models[j].version)
        for j in jobs
        if j in models and j.image is not None and j.detections is not None
    ]


class CountResultLike(Protocol):
    """What a counter's update returns (`edge.tracking.counter.CountResult`)."""

    @property
    def counted(self) -> list[Any]: ...
    @property
    def tracked(self) -> Detections: ...


class CounterLike(Protocol):
    """The per-camera counter the worker drives (`edge.tracking.counter.CameraCounter`)."""

    model_version: str | None
    vetoed: int  # items the grader vetoed so far (never counted)

    def serve(self, model_version: str | None, model_spoiled_vote: Mapping[str, float],
              grader: ItemGrader | None = None) -> None: ...
    def update(self, frame: Frame, dets: Detections) -> CountResultLike: ...
    def flush(self) -> list[Any]: ...
    def state(self) -> dict[str, Any]: ...
    def restore(self, state: dict[str, Any]) -> None: ...


# Builds a camera's counter for the model being served, given the camera's first frame (for its size).
CounterFactory = Callable[[CameraSection, LoadedModel, Frame], CounterLike]


@dataclass(frozen=True)
class DetectedBatch:
    """A batch handed from the detect stage to the post stage, with the model that detected each frame (a batch is
    detected with one snapshot of the served models: a swap takes effect between batches, never inside one)."""

    jobs: list[Job]
    models: dict[Job, LoadedModel]  # frames that were detected (not those whose payload failed to decode)


@dataclass
class Outcome:
    """What the post stage did with one frame (computed in the worker thread, applied on the event loop)."""

    status: str  # ok | duplicate | error
    counted: list[Any] = field(default_factory=list)
    code: str | None = None
    reason: str | None = None
    vetoed: int = 0  # counted items the grader called no produce (not stored, not in ``counted``)


class Worker:
    """Runs the two stages until cancelled."""

    def __init__(
        self,
        pipeline: Pipeline,
        batcher: Batcher,
        slot: ModelSlot,
        store: Store,
        metrics: Metrics,
        limits: Limits,
        make_counter: CounterFactory,
        monitor: Monitor | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.batcher = batcher
        self.slot = slot
        self.store = store
        self.metrics = metrics
        self.limits = limits
        self.make_counter = make_counter
        self.monitor = monitor  # told what each committed frame showed (model monitoring)
        # One thread per stage: ONNX Runtime and cv2 release the GIL; the counters are only touched by `_post`.
        self._detect_pool = ThreadPoolExecutor(1, thread_name_prefix="qc-detect")
        self._post_pool = ThreadPoolExecutor(1, thread_name_prefix="qc-post")
        # The shadow model (edge.models) scores frames on a thread of its own, after production, never in its way.
        self.shadow = ShadowScorer(store, metrics.rollout, pipeline.config.rollout.agreement_iou,
                                   observer=lambda: self.monitor)

    async def run(self) -> None:
        """Both stages, until cancelled."""
        handoff: asyncio.Queue[DetectedBatch] = asyncio.Queue(maxsize=1)
        try:
            await asyncio.gather(self._detect_loop(handoff), self._post_loop(handoff), self._idle_loop())
        finally:
            self._detect_pool.shutdown(wait=False, cancel_futures=True)
            self._post_pool.shutdown(wait=False, cancel_futures=True)
            self.shadow.close()

    # --- stage 1: decode + detect ---------------------------------------------------------------------------------

    async def _detect_loop(self, handoff: asyncio.Queue[DetectedBatch]) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self.batcher.next_batch()
            live = [j for j in batch if not j.done.done()]  # frames answered 'retry' while they queued are skipped
            if not live:
                continue
            serving = self.slot.serving  # one snapshot per batch: a hot-swap takes effect from the next batch on
            if serving is None:  # cannot happen once ready; never leave a frame unanswered
                for job in live:
                    self.pipeline.retry(job, Code.NOT_READY, "the model is not loaded")
                continue
            t0 = time.perf_counter()
            try:
                models, failed = await loop.run_in_executor(
                    self._detect_pool, self._decode_and_detect, live, serving
                )
            except Exception as exc:  # decoding itself failed: nothing is committed; the frames are resent
                log.exception("decoding failed on a batch of %d frames", len(live))
                for job in live:
                    self._failed(job, f"{type(exc).__name__}: {exc}")
                continue
            for job, reason in failed.items():  # ORT failure on one model's frames: those are resent
                self._failed(job, reason)
            live = [j for j in live if j not in failed]
            if not live:
                continue
            self.metrics.batch_size.observe(len(live))
            self.metrics.batch_latency.observe(time.perf_counter() - t0)
            # Taken before the hand-off: the post stage frees each image once its frame is committed.
            shadow_frames = shadow_inputs(live, models) if serving.shadow is not None else []
            await handoff.put(DetectedBatch(live, models))
            if serving.shadow is not None:
                self.shadow.submit(serving.shadow, shadow_frames)

    def _decode_and_detect(
        self, jobs: list[Job], serving: ServingSet
    ) -> tuple[dict[Job, LoadedModel], dict[Job, str]]:
        """In the detect thread: decode each payload (a bad one marks its job), then detect the decoded ones, one
        detector call per model (canary cameras get the canary). Returns the model of each detected job, and the
        jobs whose model failed, with the reason."""
        for job in jobs:
            if job.error is None:
                try:
                    job.image = decode_jpeg(job.payload, self.limits)
                except ProtocolError as exc:
                    job.error = exc
        groups: dict[str, list[Job]] = {}
        models: dict[Job, LoadedModel] = {}
        for job in jobs:
            if job.error is None and job.image is not None:
                models[job] = serving.model_for(job.camera_id)
                groups.setdefault(models[job].version, []).append(job)
        failed: dict[Job, str] = {}
        for version, group in groups.items():
            try:
                found = models[group[0]].detector.detect([j.image for j in group])
            except Exception as exc:  # noqa: BLE001 - ORT failure: these frames are resent, the others go on
                log.exception("model %s failed on %d frame(s)", version, len(group))
                failed.update((j, f"detector {version} failed: {type(exc).__name__}: {exc}") for j in group)
                continue
            for job, dets in zip(group, found):
                job.detections = dets
        return {j: m for j, m in models.items() if j not in failed}, failed

    # --- stage 2: count + commit, frame by frame --------------------------------------------------------------------

    async def _post_loop(self, handoff: asyncio.Queue[DetectedBatch]) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await handoff.get()
            for job in batch.jobs:
                model = batch.models.get(job)  # the model that detected this frame (None: its payload was bad)
                if job.done.done():  # answered 'retry' because an earlier frame of its camera failed
                    continue
                lane = self.pipeline.lanes[job.camera_id]
                try:
                    outcome = await loop.run_in_executor(self._post_pool, self._post, job, lane, model)
                except StoreUnavailableError as exc:
                    log.warning("store unavailable for frame %s/%s: %s", job.camera_id, job.seq, exc)
                    self.pipeline.retry(job, Code.STORE_UNAVAILABLE, str(exc))
                    continue
                except Exception as exc:
                    log.exception("processing frame %s/%s failed", job.camera_id, job.seq)
                    self._failed(job, f"{type(exc).__name__}: {exc}")
                    continue
                self._apply(job, outcome)
                job.image = None  # the image is no longer needed; free it before the batch goes

    def _post(self, job: Job, lane: Lane, model: LoadedModel | None) -> Outcome:
        """In the post thread: record a bad frame as dropped, or count a good one and commit it."""
        h = job.header
        if job.error is not None:
            self.store.record_dropped(
                h.camera_id, h.seq, job.error.code.value, received_at=job.received_at, captured_at=h.captured_at
            )
            return Outcome("error", code=job.error.code.value, reason=str(job.error))
        if model is None or job.image is None or job.detections is None:
            raise RuntimeError("frame reached the post stage without an image, detections or model")
        tags = dict(h.tags)
        if "sku" not in tags and lane.camera.sku:
            tags["sku"] = lane.camera.sku
        frame = Frame(camera_id=h.camera_id, seq=h.seq, captured_at=h.captured_at, image=job.image, tags=tags)
        if lane.counter is None:
            lane.counter = self.make_counter(lane.camera, model, frame)
            if lane.checkpoint is not None:
                try:
                    lane.counter.restore(lane.checkpoint)
                except QCError as exc:
                    # e.g. a checkpoint of an older counter format: start fresh rather than stall the camera;
                    # items in view right now may then be counted again, so say so loudly.
                    log.error("camera %s: checkpoint unusable (%s); its counter starts fresh", h.camera_id, exc)
                    lane.checkpoint = None
                    lane.counter = self.make_counter(lane.camera, model, frame)
        counter = lane.counter
        if counter.model_version != model.version:  # a swap: items from now on carry its version, calibration, grader
            counter.serve(model.version, model.card.spoiled_vote, model.grader)
        vetoed_before = counter.vetoed
        try:  # whatever fails from here, the counter goes back to what the store holds
            result = counter.update(frame, job.detections)
            state = counter.state()
            self._save_flagged_frames(lane, job, result, model)
            committed = self.store.commit_frame(
                h.camera_id, h.seq, h.captured_at, job.received_at, model.version, len(job.detections),
                result.counted, state,
            )
        except BaseException:
            self._rewind(lane)
            raise
        if not committed:  # someone finished this frame before us: undo our update, count nothing
            self._rewind(lane)
            return Outcome("duplicate", reason=f"frame {h.seq} of camera {h.camera_id} was finished before")
        lane.checkpoint = state
        self._observe(frame, job.detections, result.counted, model)
        return Outcome("ok", counted=list(result.counted), vetoed=counter.vetoed - vetoed_before)

    def _observe(self, frame: Frame, dets: Detections, counted: list[Any], model: LoadedModel) -> None:
        """Tell the monitor what this committed frame showed; never fails the frame (it is committed already)."""
        if self.monitor is None:
            return
        try:
            self.monitor.observe_frame(frame_observation(
                frame, dets, model.version, n_flagged=sum(1 for item in counted if item.flagged),
                n_counted=len(counted), class_names=model.detector.taxonomy.class_names,
                sample_width=self.monitor.settings.colour_sample_width,
            ))
        except Exception:  # noqa: BLE001 - monitoring must never cost a frame
            log.exception("monitoring failed on frame %s/%s", frame.camera_id, frame.seq)

    def _save_flagged_frames(self, lane: Lane, job: Job, result: CountResultLike, model: LoadedModel) -> None:
        """Remember this frame; store the frame each flagged item was seen best in (before the commit, so a flag
        never exists without its frame when the frame was still remembered; storing is idempotent)."""
        h = job.header
        image = job.image
        if image is None:
            return
        height, width = image.shape[:2]
        lane.history.add(PastFrame(h.seq, job.payload, width, height, h.captured_at, result.tracked))
        self._save_item_frames(lane, result.counted, model)

    def _save_item_frames(self, lane: Lane, items: list[Any], model: LoadedModel) -> None:
        """Store the remembered frame each flagged item of ``items`` was seen best in."""
        for item in items:
            past = lane.history.get(item.best_seq) if item.flagged else None
            if past is not None:
                self.store.save_frame_image(
                    lane.camera.id, past.seq, past.jpeg, past.width, past.height, past.tracked, past.captured_at,
                    taxonomy=model.detector.taxonomy,
                )

    # --- idle flush -----------------------------------------------------------------------------------------------

    async def _idle_loop(self) -> None:
        """Flush every camera that went quiet (see the module docstring), until cancelled."""
        idle_s = self.pipeline.config.counting.idle_flush_s
        if idle_s <= 0:
            return
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(min(1.0, idle_s / 4))
            serving = self.slot.serving
            if serving is None:
                continue
            for lane in self.pipeline.idle_lanes(idle_s):
                after_seq = lane.finished_seq
                if after_seq is None:
                    continue
                model = serving.model_for(lane.camera.id)
                try:
                    stored = await loop.run_in_executor(self._post_pool, self._flush, lane, after_seq, model)
                except StoreUnavailableError as exc:  # tried again on the next tick
                    log.warning("camera %s: idle flush postponed, store unavailable: %s", lane.camera.id, exc)
                    continue
                except Exception:
                    log.exception("camera %s: idle flush failed", lane.camera.id)
                    lane.flushed_seq = after_seq  # not again until a new frame: no error every tick
                    continue
                if stored is None:  # a frame slipped in: flush when the camera is quiet again
                    continue
                lane.flushed_seq = after_seq
                self.metrics.idle_flushes.labels(lane.camera.id).inc()
                if stored:
                    for item in stored:
                        self.metrics.items_counted.labels(lane.camera.id, item.produce).inc()
                        if item.flagged:
                            self.metrics.items_flagged.labels(lane.camera.id, item.produce).inc()
                    log.info("camera %s idle: %d item(s) in view committed", lane.camera.id, len(stored))
            # Counted when a pass over the cameras is over: a camera it did not flush had nothing to flush then.
            self.metrics.idle_checks.inc()

    def _flush(self, lane: Lane, after_seq: int, model: LoadedModel) -> list[Any] | None:
        """In the post thread: end the idle camera's tracks and commit the items handed on with the counter's state
        after. Returns the items stored now ([]: nothing to hand on), None when the flush is stale."""
        counter = lane.counter if lane.counter is not None else self._counter_from_checkpoint(lane, model, after_seq)
        if counter is None:
            return []
        try:
            items = counter.flush()
            state = counter.state()
            if not items and state == lane.checkpoint:
                return []
            self._save_item_frames(lane, items, model)
            stored = self.store.commit_flush(lane.camera.id, after_seq, items, state, model_version=model.version)
        except BaseException:
            self._rewind(lane)
            raise
        if stored is None:
            self._rewind(lane)
            return None
        lane.checkpoint = state
        return stored

    def _counter_from_checkpoint(self, lane: Lane, model: LoadedModel, seq: int) -> CounterLike | None:
        """After a restart a camera that sends nothing has no counter yet; its checkpoint may still hold items in
        view. Rebuild the counter from it (sized like the frames it saw), or None when there is nothing to rebuild."""
        wh = (lane.checkpoint or {}).get("frame_wh")
        if lane.checkpoint is None or not wh:
            return None
        blank = Frame(camera_id=lane.camera.id, seq=seq, captured_at=0.0,
                      image=np.zeros((int(wh[1]), int(wh[0]), 3), np.uint8))
        counter = self.make_counter(lane.camera, model, blank)
        try:
            counter.restore(lane.checkpoint)
        except QCError as exc:
            log.error("camera %s: checkpoint unusable for the idle flush (%s)", lane.camera.id, exc)
            return None
        lane.counter = counter
        return counter

    @staticmethod
    def _rewind(lane: Lane) -> None:
        """Put the camera's counter back to its last committed state (rebuilt from scratch if there is none)."""
        if lane.checkpoint is None:
            lane.counter = None
        else:
            lane.counter.restore(lane.checkpoint)

    # --- outcomes -------------------------------------------------------------------------------------------------

    def _apply(self, job: Job, outcome: Outcome) -> None:
        cam = job.camera_id
        if outcome.status == "ok":
            self.metrics.frames_processed.labels(cam).inc()
            if outcome.vetoed:
                self.metrics.items_vetoed.labels(cam).inc(outcome.vetoed)
            for item in outcome.counted:
                self.metrics.items_counted.labels(cam, item.produce).inc()
                if item.flagged:
                    self.metrics.items_flagged.labels(cam, item.produce).inc()
            self.pipeline.finish(job, ack_of(job.header, "ok"))
        elif outcome.status == "duplicate":
            self.metrics.frames_duplicate.labels(cam).inc()
            self.pipeline.finish(job, ack_of(job.header, "duplicate", None, outcome.reason))
        else:
            self.metrics.frames_dropped.labels(cam, outcome.code or "error").inc()
            self.pipeline.finish(job, ack_of(job.header, "error", outcome.code, outcome.reason))

    def _failed(self, job: Job, reason: str) -> None:
        """A frame failed inside the service: answer retry; its resend after ``max_failures`` is dropped (admission)."""
        self.pipeline.note_failure(job)
        self.pipeline.retry(job, Code.INTERNAL, f"the service failed on this frame ({reason}); resend later")
