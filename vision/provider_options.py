"""The ONNX Runtime provider options a `Detector` opens its sessions with: our defaults under the caller's own.

* CUDA: the arena grows by exactly what a run asks for (``arena_extend_strategy=kSameAsRequested``), not to the
  next power of two, so an edge node's device memory stays near the peak of its largest batch instead of doubling.
* TensorRT: engines and the timing cache are kept on disk (``trt_engine_cache_enable``, ``trt_timing_cache_enable``
  in one folder). Without them every start of `qc serve`, and every model swap, builds the engine again, which takes
  minutes for a YOLO graph while the node serves nothing; with them a start after the first loads the engine in
  seconds. ONNX Runtime names each engine by the graph's hash, the input shapes it was built for and the GPU's
  compute capability, so a new model version or another card builds its own and never loads a stale one.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from vision.user_dirs import cache_dir

log = logging.getLogger(__name__)

GPU_ARENA_DEFAULTS: Mapping[str, Mapping[str, str]] = {
    "CUDAExecutionProvider": {"arena_extend_strategy": "kSameAsRequested"},
}
TENSORRT = "TensorrtExecutionProvider"


def default_engine_cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """``$QC_ENGINE_CACHE``, else ``$XDG_CACHE_HOME/conveyor-qc/tensorrt`` (XDG default ``~/.cache``)."""
    return cache_dir("tensorrt", "QC_ENGINE_CACHE", env)


def engine_cache_for(chosen: Sequence[str], wanted: str | os.PathLike[str] | None = None) -> Path | None:
    """The folder TensorRT engines are cached in when ``chosen`` includes TensorRT (``wanted``, else
    `default_engine_cache_dir`), created if need be; None without TensorRT, or when the folder cannot be made (a
    warning says so: the session still opens, it just builds its engines again at every start)."""
    if TENSORRT not in chosen:
        return None
    folder = Path(wanted).expanduser() if wanted is not None else default_engine_cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        log.warning("TensorRT engine cache %s cannot be used (%s): engines are built again at every start", folder, exc)
        return None
    return folder


def tensorrt_cache_options(cache_dir: Path) -> dict[str, str]:
    """TensorRT EP options that keep built engines and the kernel timing cache in ``cache_dir``."""
    return {
        "trt_engine_cache_enable": "True",
        "trt_engine_cache_path": str(cache_dir),
        "trt_timing_cache_enable": "True",
        "trt_timing_cache_path": str(cache_dir),
    }


def session_provider_options(
    chosen: Sequence[str],
    given: Mapping[str, Mapping[str, Any]] | None = None,
    engine_cache_dir: Path | None = None,
) -> list[dict[str, Any]]:
    """One options dict per provider in ``chosen``: our defaults (CUDA arena; TensorRT engine and timing cache in
    ``engine_cache_dir``, none when it is None), then the caller's ``given`` options per provider, which win."""
    given = given or {}
    out: list[dict[str, Any]] = []
    for provider in chosen:
        defaults: dict[str, Any] = dict(GPU_ARENA_DEFAULTS.get(provider, {}))
        if provider == TENSORRT and engine_cache_dir is not None:
            defaults.update(tensorrt_cache_options(engine_cache_dir))
        out.append({**defaults, **given.get(provider, {})})
    return out
