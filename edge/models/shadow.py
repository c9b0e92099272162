"""Shadow scoring: the registry's shadow version runs on the frames production just detected, on a thread of its own,
and its results are stored apart (table shadow_frames) with their agreement with production.

Production never waits for the shadow: a batch is handed to the shadow after production's detections are handed on
to the post stage, and when the shadow is still busy with `MAX_PENDING` earlier batches the new one is skipped
(counted in ``qc_shadow_skipped``). A shadow failure is logged and counted, never raised into the pipeline.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from edge.models.agreement import agreement
from edge.models.metrics import RolloutMetrics
from edge.models.serving import LoadedModel
from edge.store.shadow import ShadowBox, ShadowFrame
from edge.store.store import Store
from vision.detections import Detections
from vision.taxonomy import Taxonomy

log = logging.getLogger(__name__)

MAX_PENDING = 2  # shadow batches queued or running before new ones are skipped


class ShadowObserver(Protocol):
    """What shadow scoring reports each frame's agreement to (`edge.monitoring.Monitor` has this method)."""

    def observe_shadow(
        self, camera_id: str, production_version: str, shadow_version: str, agreement: float
    ) -> None: ...


@dataclass(frozen=True)
class ShadowInput:
    """One frame production detected, as the shadow needs it: the decoded image and production's boxes."""

    camera_id: str
    seq: int
    image: np.ndarray
    production: Detections
    production_version: str


def shadow_boxes(detections: Detections, taxonomy: Taxonomy) -> tuple[ShadowBox, ...]:
    """The shadow's detections as stored boxes (class ids decoded with ``taxonomy``)."""
    out = []
    for i in range(len(detections)):
        produce, condition = taxonomy.split_class(int(detections.class_id[i]))
        x0, y0, x1, y1 = (float(v) for v in detections.xyxy[i])
        out.append(ShadowBox((x0, y0, x1, y1), produce, condition, float(detections.confidence[i])))
    return tuple(out)


def score(model: LoadedModel, frames: Sequence[ShadowInput], iou_threshold: float) -> list[ShadowFrame]:
    """Run ``model`` on the frames' images and compare with production's boxes (blocking)."""
    found = model.detector.detect([f.image for f in frames])
    results = []
    for frame, dets in zip(frames, found):
        a = agreement(frame.production, dets, iou_threshold)
        results.append(ShadowFrame(
            camera_id=frame.camera_id, seq=frame.seq, model_version=model.version,
            production_version=frame.production_version, n_production=a.n_production, matched=a.matched,
            agreement=a.value, detections=shadow_boxes(dets, model.detector.taxonomy),
        ))
    return results


class ShadowScorer:
    """Scores batches with the shadow model on its own thread and stores the results; used from the event loop."""

    def __init__(
        self,
        store: Store,
        metrics: RolloutMetrics,
        iou_threshold: float,
        observer: Callable[[], ShadowObserver | None] = lambda: None,
    ) -> None:
        """``observer`` returns the monitor to report agreements to (or None), asked at each batch."""
        self.store = store
        self.metrics = metrics
        self.iou_threshold = iou_threshold
        self.observer = observer
        self.pending = 0
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="qc-shadow")

    def submit(self, model: LoadedModel, frames: list[ShadowInput]) -> asyncio.Future[list[ShadowFrame]] | None:
        """Score ``frames`` in the background; None (skipped, counted) when the shadow is busy or there is nothing."""
        if not frames:
            return None
        if self.pending >= MAX_PENDING:
            self.metrics.shadow_skipped.labels(model.version).inc(len(frames))
            return None
        self.pending += 1
        future = asyncio.get_running_loop().run_in_executor(self._pool, self._score_and_store, model, frames)
        future.add_done_callback(lambda f: self._done(model, f))
        return future

    def _score_and_store(self, model: LoadedModel, frames: list[ShadowInput]) -> list[ShadowFrame]:
        results = score(model, frames, self.iou_threshold)
        self.store.record_shadow_frames(results)
        return results

    def _done(self, model: LoadedModel, future: asyncio.Future[list[ShadowFrame]]) -> None:
        """On the event loop: metrics and the observer, or the failure logged and counted."""
        self.pending -= 1
        if future.cancelled():
            return
        exc = future.exception()
        if exc is not None:
            self.metrics.shadow_errors.labels(model.version).inc()
            log.warning("shadow model %s failed on a batch (production unaffected): %s: %s", model.version,
                        type(exc).__name__, exc)
            return
        results = future.result()
        self.metrics.shadow_frames.labels(model.version).inc(len(results))
        for r in results:
            self.metrics.agreement.labels(model.version).observe(r.agreement)
        if results:
            self.metrics.agreement_last.labels(model.version).set(sum(r.agreement for r in results) / len(results))
        observer = self.observer()
        if observer is None:
            return
        for r in results:
            try:
                observer.observe_shadow(r.camera_id, r.production_version, r.model_version, r.agreement)
            except Exception:  # noqa: BLE001 - monitoring must not break scoring
                log.exception("the monitor failed on a shadow result")

    def close(self) -> None:
        """Stop the thread (a batch still running is abandoned)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
