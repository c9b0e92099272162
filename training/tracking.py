"""Experiment tracking of training runs with MLflow (optional extra ``track``: ``pip install conveyor-qc[track]``).

`tracking_run` opens one MLflow run (parameters, metrics per epoch or final, the model card and reports as
artifacts) in the store at ``uri`` (default `DEFAULT_URI`: a local file store ``./mlruns``, browse it with
``mlflow ui --backend-store-uri ./mlruns``). Without mlflow installed it yields a run that records nothing, after
one info line (a missing extra never fails a training); with ``enabled=False`` it records nothing, silently.

Only MLflow's client API is used (no ``mlflow.start_run``): the fluent API keeps the active run in module globals.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from vision.options import is_number

DEFAULT_URI = "file:./mlruns"
# MLflow's rule for metric and parameter names; ultralytics' "metrics/mAP50(B)" has brackets it refuses.
_UNSAFE_NAME = re.compile(r"[^\w./\- :]")


class TrackedRun(Protocol):
    """What a training command logs to; `NullRun` and `MlflowRun` implement it."""

    run_id: str | None

    def log_params(self, params: Mapping[str, Any]) -> None: ...

    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None: ...

    def log_dict(self, data: Mapping[str, Any], name: str) -> None: ...

    def log_artifact(self, path: Path) -> None: ...


class NullRun:
    """Tracking off: every call does nothing."""

    run_id: str | None = None

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Nothing."""

    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """Nothing."""

    def log_dict(self, data: Mapping[str, Any], name: str) -> None:
        """Nothing."""

    def log_artifact(self, path: Path) -> None:
        """Nothing."""


def metric_name(name: str) -> str:
    """``name`` with the characters MLflow refuses replaced by ``_`` (``metrics/mAP50(B)`` -> ``metrics/mAP50_B_``)."""
    return _UNSAFE_NAME.sub("_", name)


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings as ``a.b.c`` keys, for parameters and metrics."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


class MlflowRun:
    """One MLflow run through an ``MlflowClient`` bound to one tracking URI, created by the first log call.

    Lazily: a command that fails on its input before logging anything leaves no run (and no ``./mlruns``) behind.
    """

    def __init__(self, uri: str, experiment: str, run_name: str, tags: Mapping[str, str],
                 info: Callable[[str], None]) -> None:
        self._uri, self._experiment, self._run_name, self._tags, self._info = uri, experiment, run_name, tags, info
        self._client: Any = None
        self.run_id: str | None = None

    def _ensure(self) -> str:
        if self.run_id is None:
            from mlflow.tracking import MlflowClient

            self._client = MlflowClient(tracking_uri=self._uri)
            found = self._client.get_experiment_by_name(self._experiment)
            experiment_id = found.experiment_id if found is not None else self._client.create_experiment(self._experiment)
            run = self._client.create_run(experiment_id, run_name=self._run_name, tags=dict(self._tags))
            self.run_id = run.info.run_id
            self._info(f"tracking to MLflow {self._uri} (experiment {self._experiment}, run {self.run_id})")
        return self.run_id

    def end(self, status: str) -> None:
        """Mark the run FINISHED or FAILED (nothing to do if it was never created)."""
        if self.run_id is not None:
            self._client.set_terminated(self.run_id, status=status)

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Parameters (flattened; values as text, MLflow caps them at a few thousand characters)."""
        from mlflow.entities import Param

        items = [Param(metric_name(k), str(v)[:6000]) for k, v in flatten(params).items()]
        run_id = self._ensure()
        for start in range(0, len(items), 100):  # MLflow's batch limit
            self._client.log_batch(run_id, params=items[start : start + 100])

    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """Numeric metrics (flattened; None and text values are skipped) at ``step`` (default 0: a final value)."""
        import time

        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [
            Metric(metric_name(k), float(v), now, step or 0)
            for k, v in flatten(metrics).items()
            if is_number(v)
        ]
        run_id = self._ensure()
        for start in range(0, len(items), 1000):
            self._client.log_batch(run_id, metrics=items[start : start + 1000])

    def log_dict(self, data: Mapping[str, Any], name: str) -> None:
        """A JSON artifact named ``name``."""
        run_id = self._ensure()
        self._client.log_text(run_id, json.dumps(data, indent=2, default=str), name)

    def log_artifact(self, path: Path) -> None:
        """A file as an artifact (skipped if it does not exist)."""
        if Path(path).is_file():
            run_id = self._ensure()
            self._client.log_artifact(run_id, str(path))


@contextmanager
def tracking_run(
    experiment: str,
    run_name: str,
    *,
    uri: str | None = None,
    enabled: bool = True,
    info: Callable[[str], None] = lambda _msg: None,
    tags: Mapping[str, str] | None = None,
) -> Iterator[TrackedRun]:
    """An MLflow run in ``experiment`` at ``uri`` (default `DEFAULT_URI`), ended FINISHED, or FAILED on an error.

    The run is created by the first log call. ``info`` receives one line saying where the run is logged, or why
    nothing is logged.
    """
    if not enabled:
        yield NullRun()
        return
    try:
        import mlflow.tracking  # noqa: F401  (only to find out whether the extra is installed)
    except ImportError:
        info("experiment tracking off: mlflow is not installed (pip install 'conveyor-qc[track]')")
        yield NullRun()
        return
    uri = uri or DEFAULT_URI
    if uri.startswith("file:") or "://" not in uri:
        # MLflow 3 keeps the file store only behind this opt-in; a local folder is the default store.
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    run = MlflowRun(uri, experiment, run_name, tags or {}, info)
    status = "FAILED"
    try:
        yield run
        status = "FINISHED"
    finally:
        run.end(status)
