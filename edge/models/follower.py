"""Following the registry: every ``rollout.watch_s`` read which versions are production, canary and shadow, and when
one changed, get the new one ready in a thread (`edge.models.candidate.prepare`) and only then swap it in.

A version that fails is refused: the current model keeps serving, the refusal is logged, counted
(``qc_model_refusals_total{version}``) and listed by ``GET /model``, and it is not tried again until the registry's
choice for that role changes again. The swap itself is one assignment of a new `ServingSet` (see `ModelSlot.swap`):
the worker takes one snapshot per batch, so no frame is dropped or detected twice, and the cameras' counters carry
on across it (a track in view is the same item before and after).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import replace

from edge.config import ServeConfig
from edge.models.candidate import ModelRefusedError, prepare
from edge.models.metrics import ServingMetrics
from edge.models.serving import LoadedModel, ModelSlot, Refusal, ServingSet
from edge.models.stages import ROLES, Wanted, fingerprint, read_wanted
from edge.store.store import Store
from vision.errors import QCError

log = logging.getLogger(__name__)

Fingerprint = tuple[str, str, str | None] | None


def follows_registry(config: ServeConfig) -> bool:
    """Whether the service follows the registry: not when ``model.version`` pins a version or ``watch_s`` is 0."""
    return config.model.version is None and config.rollout.watch_s > 0


class RegistryFollower:
    """The rollout loop of one service; `tick` is one look at the registry (the loop calls it every ``watch_s``)."""

    def __init__(
        self, config: ServeConfig, slot: ModelSlot, metrics: ServingMetrics, store: Store,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.slot = slot
        self.metrics = metrics
        self.store = store
        self._clock = clock
        self._seen: dict[str, Fingerprint] = {}  # role -> the registry's choice last acted on

    async def run(self) -> None:
        """Wait for the first model, then look at the registry every ``rollout.watch_s`` seconds, until cancelled."""
        while self.slot.serving is None:
            await asyncio.sleep(0.1)
        serving = self.slot.serving
        self._seen["production"] = fingerprint(serving.production.card)
        self._publish(serving)
        while True:
            try:
                await self.tick()
            except Exception:  # noqa: BLE001 - the rollout loop must outlive anything one look can raise
                log.exception("rollout: looking at the registry failed")
            await asyncio.sleep(self.config.rollout.watch_s)

    async def tick(self) -> None:
        """Read the registry; prepare and swap in each role whose version changed (production first: the others
        must fit its taxonomy). Counted in ``qc_registry_checks_total`` once the look is over, whatever it found."""
        try:
            await self._look()
        finally:
            # After the look, not before: a reader that sees the count move knows every refusal and swap of that
            # look is already counted too.
            self.metrics.rollout.registry_checks.inc()

    async def _look(self) -> None:
        try:
            wanted = await asyncio.to_thread(read_wanted, self.config.model.registry_root)
        except Exception as exc:  # noqa: BLE001 - unreachable object store, unreadable card ...: keep serving
            self.metrics.rollout.registry_errors.inc()
            log.warning("rollout: cannot read the model registry (tried again in %gs): %s: %s",
                        self.config.rollout.watch_s, type(exc).__name__, exc)
            return
        for role in ROLES:
            await self._follow(role, wanted)

    def _wanted_card_fp(self, role: str, wanted: Wanted) -> Fingerprint:
        rollout = self.config.rollout
        if role == "canary" and not rollout.canary_cameras:
            return None  # no camera would use it
        if role == "shadow" and not rollout.shadow:
            return None
        return fingerprint(wanted.card(role))

    async def _follow(self, role: str, wanted: Wanted) -> None:
        fp = self._wanted_card_fp(role, wanted)
        if fp == self._seen.get(role):
            return
        self._seen[role] = fp
        serving = self.slot.serving
        if serving is None:
            return
        current = _role_model(serving, role)
        if fp is not None and current is not None and fingerprint(current.card) == fp:
            return  # the registry came back to what serves
        if fp is None:
            if role == "production":
                log.warning("rollout: the registry has no production version; %s keeps serving",
                            serving.production.version)
            elif current is not None:
                self._swap(serving.with_role(role, None), role, f"{role} {current.version} removed")
            return
        model = _loaded(serving, fp) or await self._prepare(role, fp[0], serving)
        if model is None:
            return
        serving = (self.slot.serving or serving).with_role(role, model)
        if role == "production":
            # A shadow or canary promoted to production leaves its old role in the same swap: never a moment where
            # one version serves as production and scores itself as the shadow.
            for other in ("canary", "shadow"):
                held = _role_model(serving, other)
                if held is not None and fingerprint(held.card) == fp and self._wanted_card_fp(other, wanted) != fp:
                    serving = serving.with_role(other, None)
        if role == "canary":
            serving = replace(serving, canary_cameras=frozenset(self.config.rollout.canary_cameras))
        self._swap(serving, role, f"{role} now {model.version}"
                   + (f" (was {current.version})" if current is not None else ""))
        await self._record_load(model, role)

    async def _prepare(self, role: str, version: str, serving: ServingSet) -> LoadedModel | None:
        try:
            return await asyncio.to_thread(prepare, self.config.model, version, serving.production.card)
        except ModelRefusedError as exc:
            self.slot.refuse(Refusal(version=version, role=role, reason=str(exc), at=self._clock()))
            self.metrics.rollout.refusals.labels(version).inc()
            current = _role_model(serving, role)
            log.error("rollout: %s (wanted as %s); %s", exc, role,
                      f"{current.version} keeps serving" if current is not None else f"no {role} model")
            return None

    def _swap(self, serving: ServingSet, role: str, what: str) -> None:
        self.slot.swap(serving)
        self.metrics.rollout.swaps.labels(role).inc()
        self._publish(serving)
        log.info("rollout: %s (swap %d)", what, self.slot.swaps)

    def _publish(self, serving: ServingSet) -> None:
        """Metrics of what serves now."""
        det = serving.production.detector
        self.metrics.model_loaded_as(serving.production.version, serving.production.card.onnx_sha256, det.provider,
                                     det.requested_provider, det.fell_back)
        self.metrics.rollout.serving_now({role: (m.version if m else None) for role, m in
                                          (("production", serving.production), ("canary", serving.canary),
                                           ("shadow", serving.shadow))})

    async def _record_load(self, model: LoadedModel, role: str) -> None:
        try:
            await asyncio.to_thread(self.store.record_model_version, model.version, model.card.onnx_sha256, role,
                                    self._clock(), model.detector.provider)
        except QCError as exc:  # an audit row; the swap stands
            log.warning("rollout: could not record the load of %s: %s", model.version, exc)


def _role_model(serving: ServingSet, role: str) -> LoadedModel | None:
    return {"production": serving.production, "canary": serving.canary, "shadow": serving.shadow}[role]


def _loaded(serving: ServingSet, fp: Fingerprint) -> LoadedModel | None:
    """A model serving in some role already that is the wanted one (a canary promoted to production is reused)."""
    for model in (serving.production, serving.canary, serving.shadow):
        if model is not None and fingerprint(model.card) == fp:
            return model
    return None
