"""The app factory: `create_app(config)`; its lifespan runs ordered ``start_*`` steps and stops on one event.

Start-up, in order: metrics, store (migrated to head), batcher + pipeline, monitor (model monitoring's periodic
check, `edge.service.alerts`), worker, then the model loads in the background (the service answers /healthz and
'retry' meanwhile); once loaded, every camera's counter resumes from
its last committed checkpoint and the pipeline admits frames; from then on the rollout follows the registry (hot-swap,
canary, shadow: `edge.models`). Shutdown: admission stops, queued frames are answered
'retry', frames in the worker get ``service.shutdown_grace_s`` to commit, then the store closes.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.requests import HTTPConnection

from edge.config import ConfigError, ServeConfig
from edge.models.serving import LoadedModel, load_model
from edge.ops.review import include_review
from edge.protocol import Code
from edge.service import health, ingest
from edge.service import alerts as alert_routes
from edge.service.batcher import Batcher
from edge.service.http_guard import ServiceGuardMiddleware
from edge.service.pipeline import Pipeline
from edge.service.runtime import Runtime, get_runtime
from edge.service.worker import CounterFactory, Worker
from edge.store.store import Store
from vision.errors import QCError

log = logging.getLogger(__name__)


def create_app(config: ServeConfig, *, make_counter: CounterFactory | None = None) -> FastAPI:
    """The service for ``config``. ``make_counter`` builds a camera's counter (default: the tracking package's)."""
    if make_counter is None:
        from edge.service.counting import counter_factory

        make_counter = counter_factory(config)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        runtime = Runtime(config=config)
        try:
            start_metrics(runtime)
            await start_store(runtime)
            start_pipeline(runtime)
            start_monitor(runtime)
            start_worker(runtime, make_counter)
            start_model(runtime)
            start_rollout(runtime)
            start_feed(runtime)
            yield {"runtime": runtime}
        finally:
            await stop(runtime)

    docs = config.service.api_docs  # Swagger UI / ReDoc load their scripts from a CDN: off unless asked for
    app = FastAPI(
        title="Conveyor QC edge service",
        summary="Camera frames in; every item tracked, counted once, scored for freshness.",
        lifespan=lifespan,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        swagger_ui_oauth2_redirect_url="/docs/oauth2-redirect" if docs else None,
    )
    app.include_router(ingest.router)
    app.include_router(health.router)
    app.include_router(alert_routes.router)
    include_review(app, review_store, config.review)
    app.add_middleware(ServiceGuardMiddleware)  # added last: outermost, it answers whatever escapes a route
    return app


def review_store(conn: HTTPConnection) -> Store:
    """The store the review page works on: the running service's own."""
    store = get_runtime(conn).store
    if store is None:
        raise RuntimeError("the store is not open")
    return store


def start_metrics(runtime: Runtime) -> None:
    """Zero-valued series for every configured camera, and the queue's capacity."""
    for camera in runtime.config.cameras:
        runtime.metrics.init_camera(camera.id)
    runtime.metrics.queue_limit.set(runtime.config.batcher.queue_limit)


async def start_store(runtime: Runtime) -> None:
    """Open the store (creating and migrating it); a store that cannot be opened stops start-up."""
    url = runtime.config.store_url
    runtime.store = await asyncio.to_thread(Store.open, url)
    log.info("store: %s", runtime.store.url)


def start_pipeline(runtime: Runtime) -> None:
    """The batcher and the admission pipeline (not admitting until the model is loaded)."""
    b = runtime.config.batcher
    runtime.batcher = Batcher(b.max_batch, b.max_wait_ms / 1000, b.queue_limit, runtime.metrics.queue_depth.set)
    if runtime.store is None:
        raise RuntimeError("start_store must run before start_pipeline")
    runtime.pipeline = Pipeline(runtime.config, runtime.store, runtime.batcher, runtime.metrics)


def start_monitor(runtime: Runtime) -> None:
    """Model monitoring: the monitor the worker (and rollout's shadow) feed, and its periodic check (before the
    worker, which takes the monitor)."""
    from edge.monitoring import Monitor

    runtime.monitor = Monitor(runtime.config.monitor)
    for camera in runtime.config.cameras:
        runtime.metrics.alerts.init_camera(camera.id)
    runtime.tasks.append(asyncio.create_task(alert_routes.watch_alerts(runtime, runtime.monitor), name="qc-monitor"))


def start_worker(runtime: Runtime, make_counter: CounterFactory) -> None:
    """The detect and post stages, as one background task."""
    if runtime.pipeline is None or runtime.batcher is None or runtime.store is None:
        raise RuntimeError("start_pipeline must run before start_worker")
    worker = Worker(runtime.pipeline, runtime.batcher, runtime.slot, runtime.store, runtime.metrics,
                    runtime.config.limits.protocol(), make_counter, monitor=runtime.monitor)
    runtime.tasks.append(asyncio.create_task(worker.run(), name="qc-worker"))


def start_model(runtime: Runtime) -> None:
    """Load the model in the background; when loaded, restore the cameras and open admission."""
    runtime.tasks.append(asyncio.create_task(_load_and_open(runtime), name="qc-model"))


async def _load_and_open(runtime: Runtime) -> None:
    from edge.models.candidate import warm_up

    store, pipeline = runtime.store, runtime.pipeline
    if store is None or pipeline is None:
        raise RuntimeError("the store and pipeline start before the model")
    try:
        model = await asyncio.to_thread(load_model, runtime.config.model)
        await asyncio.to_thread(warm_up, model)  # a model that cannot run one inference never serves
        check_against_model(runtime.config, model)
        det = model.detector
        await asyncio.to_thread(
            store.record_model_version, model.version, model.card.onnx_sha256, model.card.stage, time.time(),
            det.provider,
        )
        await pipeline.restore()
    except QCError as exc:  # the service stays up, not ready, and says why on /readyz
        runtime.slot.fail(exc)
        return
    runtime.metrics.model_loaded_as(model.version, model.card.onnx_sha256, det.provider, det.requested_provider,
                                    det.fell_back)
    runtime.slot.set(model)
    # What exists now (modules, the app, the store, the model's Python side) lives as long as the service. Moved out
    # of the collector's sight, it is no longer scanned by every full collection: scanning it took 100-140 ms with
    # the interpreter lock held, every camera's acks and /healthz stalled, and a request flood made those frequent.
    gc.freeze()
    pipeline.ready = True
    log.info("ready: model %s on %s, %d camera(s)", model.version, det.provider, len(runtime.config.cameras))


def check_against_model(config: ServeConfig, model: LoadedModel) -> None:
    """Every produce kind named in the config (thresholds, SKU map, vote calibration) must be one of the model's, and
    every camera's line must be one its belt crosses (checked on a nominal 640 x 480 frame)."""
    from edge.service.counting import counting_line
    known = set(model.card.taxonomy_obj().produce)
    bad: list[str] = []
    for name in config.counting.flag_below:
        if name != "default" and name not in known:
            bad.append(f"counting.flag_below.{name}")
    for sku, produce in config.counting.skus.items():
        if produce not in known:
            bad.append(f"counting.skus.{sku} = {produce}")
    bad += [f"counting.spoiled_vote.{n}" for n in config.counting.spoiled_vote or {} if n not in known]
    for i, cam in enumerate(config.cameras):
        bad += [f"cameras[{i}].flag_below.{n}" for n in cam.flag_below if n not in known]
        try:
            counting_line(cam.line, cam.direction, 640, 480)
        except QCError as exc:
            bad.append(f"cameras[{i}].line: {exc}")
    if bad:
        raise ConfigError(f"settings that do not fit model {model.version} (produce kinds {sorted(known)}): "
                          + "; ".join(bad))


def start_rollout(runtime: Runtime) -> None:
    """Follow the registry's production, canary and shadow versions (`edge.models`), unless a version is pinned."""
    from edge.models.follower import RegistryFollower, follows_registry

    if runtime.store is None:
        raise RuntimeError("start_store must run before start_rollout")
    if follows_registry(runtime.config):
        follower = RegistryFollower(runtime.config, runtime.slot, runtime.metrics, runtime.store)
        runtime.tasks.append(asyncio.create_task(follower.run(), name="qc-rollout"))


def start_feed(runtime: Runtime) -> None:
    """The periodic waste-feed export, when configured (``feed.every_s``)."""
    if runtime.config.feed.every_s is not None:
        runtime.tasks.append(asyncio.create_task(_export_feed_periodically(runtime), name="qc-feed"))


async def _export_feed_periodically(runtime: Runtime) -> None:
    from edge.ops.feed.export import export_waste, export_window

    feed = runtime.config.feed
    while True:
        try:  # the window rolls with the clock; a failed run (store unavailable) is retried at the next tick
            start, end = export_window(None, None, days=feed.days)
            result = await asyncio.to_thread(
                export_waste, runtime.store, start, end, hourly=feed.hourly, site=feed.site, out=feed.out
            )
            log.info("waste feed exported: %s", result)
        except Exception as exc:  # noqa: BLE001 - the service outlives a failed export
            log.warning("waste feed export failed: %s", exc)
        await asyncio.sleep(feed.every_s or 60.0)


async def stop(runtime: Runtime) -> None:
    """The one stop path: stop admitting, let frames in the worker commit (up to the grace), close the store."""
    runtime.stop.set()
    pipeline = runtime.pipeline
    if pipeline is not None:
        pipeline.shutdown()
        deadline = time.monotonic() + runtime.config.service.shutdown_grace_s
        while any(lane.inflight for lane in pipeline.lanes.values()) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
    for task in runtime.tasks:
        task.cancel()
    await asyncio.gather(*runtime.tasks, return_exceptions=True)
    if pipeline is not None:  # whatever could not finish in time: nothing of it is acked, the daemons resend
        for lane in pipeline.lanes.values():
            for job in list(lane.inflight.values()):
                pipeline.retry(job, Code.SHUTTING_DOWN, "the service stopped before this frame was committed")
    if runtime.store is not None:
        runtime.store.close()
    gc.unfreeze()  # a service run inside another process (tests) leaves what it held collectable
