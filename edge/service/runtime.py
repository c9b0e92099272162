"""What a running service holds, and the ``Annotated`` dependency aliases route handlers receive it through.

The lifespan builds one `Runtime` and hands it to Starlette as lifespan state (``request.state.runtime``); the
app object itself carries nothing. The dependencies are coroutines although they only look up an attribute:
FastAPI runs a plain-function dependency on its thread pool, one thread hop per dependency per request, each a wait
for a pool thread and for the interpreter lock on the path of every frame and every ``/healthz``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends
from starlette.requests import HTTPConnection

from edge.config import ServeConfig
from edge.models.serving import ModelSlot
from edge.monitoring import Monitor
from edge.service.batcher import Batcher
from edge.service.metrics import Metrics
from edge.service.pipeline import Pipeline
from edge.service.upload_slots import UploadSlots
from edge.store.store import Store


@dataclass(eq=False)
class Runtime:
    """The service's parts, built by the lifespan's ``start_*`` steps in order."""

    config: ServeConfig
    metrics: Metrics = field(default_factory=Metrics)
    slot: ModelSlot = field(default_factory=ModelSlot)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    store: Store | None = None
    batcher: Batcher | None = None
    pipeline: Pipeline | None = None
    monitor: Monitor | None = None  # model monitoring (start_monitor); the worker and rollout feed it
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    uploads: UploadSlots = field(default_factory=UploadSlots)  # multipart POST /frames bodies being read now


def get_runtime(conn: HTTPConnection) -> Runtime:
    """The runtime of the app serving ``conn`` (lifespan state)."""
    return conn.state.runtime


async def runtime_dep(conn: HTTPConnection) -> Runtime:
    """`get_runtime`, as a dependency that stays on the event loop."""
    return get_runtime(conn)


async def get_pipeline(conn: HTTPConnection) -> Pipeline:
    """The frame pipeline; it exists from start-up on (it answers 'retry' until the model is loaded)."""
    pipeline = get_runtime(conn).pipeline
    if pipeline is None:
        raise RuntimeError("the pipeline is not started")
    return pipeline


async def get_config(conn: HTTPConnection) -> ServeConfig:
    """The service configuration."""
    return get_runtime(conn).config


async def get_metrics(conn: HTTPConnection) -> Metrics:
    """The app's metrics."""
    return get_runtime(conn).metrics


async def get_uploads(conn: HTTPConnection) -> UploadSlots:
    """The multipart uploads in progress (their bound)."""
    return get_runtime(conn).uploads


RuntimeDep = Annotated[Runtime, Depends(runtime_dep)]
PipelineDep = Annotated[Pipeline, Depends(get_pipeline)]
ConfigDep = Annotated[ServeConfig, Depends(get_config)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
UploadsDep = Annotated[UploadSlots, Depends(get_uploads)]
