"""``/healthz`` (the process is alive), ``/readyz`` (it can take frames), ``/model`` (what serves, what was refused)
and ``/metrics`` (Prometheus)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from edge.models.serving import LoadedModel, ModelSlot
from edge.service.runtime import MetricsDep, Runtime, RuntimeDep

router = APIRouter(tags=["health"])


@dataclass(frozen=True)
class Readiness:
    """Each readiness check with its verdict, and the model in use."""

    checks: dict[str, str]  # name -> "ok" or the reason it fails
    model_version: str | None
    provider: str | None
    requested_provider: str | None

    @property
    def ready(self) -> bool:
        """True when every check passes."""
        return all(v == "ok" for v in self.checks.values())


def readiness(runtime: Runtime) -> Readiness:
    """Ready = store open, model loaded on the execution provider it was meant to run on, frames admitted."""
    model = runtime.slot.model
    checks: dict[str, str] = {}
    checks["store"] = "ok" if runtime.store is not None else "store not open"
    if model is None:
        checks["model"] = f"not loaded: {runtime.slot.error}" if runtime.slot.error else "loading"
        checks["provider"] = "no model"
    else:
        checks["model"] = "ok"
        det = model.detector
        checks["provider"] = (
            f"fell back to {det.provider} (asked for {det.requested_provider})" if det.fell_back else "ok"
        )
    pipeline = runtime.pipeline
    if pipeline is None or not pipeline.ready:
        checks["pipeline"] = "not started"
    elif pipeline.stopping or runtime.stop.is_set():
        checks["pipeline"] = "shutting down"
    else:
        checks["pipeline"] = "ok"
    return Readiness(
        checks=checks,
        model_version=model.version if model else None,
        provider=model.detector.provider if model else None,
        requested_provider=model.detector.requested_provider if model else None,
    )


def dead_tasks(runtime: Runtime) -> list[str]:
    """Background tasks that ended with an error (the worker must run as long as the service does)."""
    return [
        f"{t.get_name()}: {t.exception()!r}"
        for t in runtime.tasks
        if t.done() and not t.cancelled() and t.exception() is not None
    ]


@router.get("/healthz")
async def healthz(runtime: RuntimeDep) -> JSONResponse:
    """Liveness: the event loop answers and no background task died (503 then: restart the process)."""
    dead = dead_tasks(runtime)
    if dead:
        return JSONResponse({"status": "failed", "tasks": dead}, status_code=503)
    return JSONResponse({"status": "ok"})


@router.get("/readyz")
async def readyz(runtime: RuntimeDep) -> JSONResponse:
    """Readiness, 200 or 503, with every check's verdict."""
    r = readiness(runtime)
    body = {"ready": r.ready, "checks": r.checks, "model_version": r.model_version, "provider": r.provider,
            "requested_provider": r.requested_provider}
    return JSONResponse(body, status_code=200 if r.ready else 503)


def _role(model: LoadedModel) -> dict[str, Any]:
    """One role's entry: version and provider, and its grader (sha256, provider) when the version has one."""
    out: dict[str, Any] = {"version": model.version, "provider": model.detector.provider}
    if model.grader is not None:
        out["grader"] = {"sha256": model.grader.spec.sha256, "provider": model.grader.provider}
    return out


def model_status(slot: ModelSlot) -> dict[str, Any]:
    """The body of GET /model: the version (and provider, and grader) in each rollout role, refusals, swaps since
    start-up."""
    serving = slot.serving
    production = canary = shadow = None
    if serving is not None:
        production = _role(serving.production)
        if serving.canary is not None:
            canary = {**_role(serving.canary), "cameras": sorted(serving.canary_cameras)}
        if serving.shadow is not None:
            shadow = _role(serving.shadow)
    refused = [{"version": r.version, "reason": r.reason, "role": r.role, "at": r.at} for r in slot.refusals]
    return {"production": production, "canary": canary, "shadow": shadow, "refused": refused, "swaps": slot.swaps,
            "error": slot.error}


@router.get("/model")
async def model(runtime: RuntimeDep) -> JSONResponse:
    """The models serving (production; canary with its cameras; shadow), refused versions and why, swaps since
    start-up, and the error that stopped the first load (if it failed)."""
    return JSONResponse(model_status(runtime.slot))


@router.get("/metrics")
async def metrics(m: MetricsDep) -> Response:
    """Every series in the Prometheus text format."""
    return Response(m.exposition(), media_type=m.content_type)
