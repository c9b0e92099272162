"""The local copy of remote registry versions: ONNX Runtime and the checks need files on this machine.

Layout: ``<cache root>/<sha256(registry URL)[:16]>/<version>/<file>``. A cached file is only a copy: every use
verifies it against the card (sha256, graph, external data) exactly as a file of a local registry is verified,
and a copy whose sha256 differs from the card's is fetched again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

from vision.user_dirs import cache_dir


def default_cache_root(env: Mapping[str, str] | None = None) -> Path:
    """``$QC_REGISTRY_CACHE``, else ``$XDG_CACHE_HOME/conveyor-qc/registry`` (XDG default ``~/.cache``)."""
    return cache_dir("registry", "QC_REGISTRY_CACHE", env)


def cache_dir_for(url: str, cache_root: Path) -> Path:
    """The cache folder of one registry URL (a hash, so any URL makes a safe folder name)."""
    return cache_root / hashlib.sha256(url.encode()).hexdigest()[:16]
