"""Which code made a model: the installed package version and, when running from a git checkout, its commit."""

from __future__ import annotations

import subprocess
from importlib import metadata
from pathlib import Path

from vision.model_card import CodeVersion

# The checkout this package was imported from (the repo root when installed editable or run from source).
_SOURCE_ROOT = Path(__file__).resolve().parent.parent


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(_SOURCE_ROOT), *args], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None  # no git binary, or it hung: the commit is optional lineage, never a reason to fail
    return done.stdout.strip() if done.returncode == 0 else None


def current_code_version() -> CodeVersion:
    """The running code's version: ``conveyor-qc`` package version, plus git commit and dirtiness if available."""
    try:
        package = metadata.version("conveyor-qc")
    except metadata.PackageNotFoundError:
        package = "unknown"
    commit = _git("rev-parse", "HEAD") if (_SOURCE_ROOT / ".git").exists() else None
    if commit is None or len(commit) != 40:
        return CodeVersion(package=package)
    status = _git("status", "--porcelain", "--untracked-files=no")
    return CodeVersion(package=package, commit=commit, dirty=bool(status))
