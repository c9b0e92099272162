"""Where the project keeps files per user when nothing names a place: the XDG base directories, ``conveyor-qc`` in
each (the service's data, the registry, caches of registry files and TensorRT engines)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

APP = "conveyor-qc"


def data_home(env: Mapping[str, str] | None = None) -> Path:
    """``$XDG_DATA_HOME/conveyor-qc`` (XDG default ``~/.local/share``)."""
    env = os.environ if env is None else env
    base = Path(env["XDG_DATA_HOME"]) if env.get("XDG_DATA_HOME") else Path.home() / ".local" / "share"
    return base / APP


def cache_dir(name: str, override: str, env: Mapping[str, str] | None = None) -> Path:
    """``$<override>`` when set, else ``$XDG_CACHE_HOME/conveyor-qc/<name>`` (XDG default ``~/.cache``)."""
    env = os.environ if env is None else env
    if env.get(override):
        return Path(env[override]).expanduser()
    base = Path(env["XDG_CACHE_HOME"]) if env.get("XDG_CACHE_HOME") else Path.home() / ".cache"
    return base / APP / name
