"""`qc demo`, the README's first command, end to end as a user runs it: a real `qc serve`, a capture daemon, the
shipped model, a rendered clip; and its errors, which need no model."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from vision.registry import DEFAULT_MODEL_DIR, ONNX_NAME

pytestmark = pytest.mark.slow  # qc demo end to end: service, capture daemon, rendered clip

ROOT = Path(__file__).resolve().parents[3]
TOTALS = re.compile(r"^total\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)$", re.MULTILINE)


def qc(*args: str, timeout: float = 120, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vision.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env=env)


def user_env(tmp_path: Path) -> dict[str, str]:
    """A user's settings pointing at folders of the test's own: their registry and their per-user data folder."""
    return {**os.environ, "QC_REGISTRY": str(tmp_path / "users-registry"), "XDG_DATA_HOME": str(tmp_path / "xdg")}


@pytest.mark.skipif(not (DEFAULT_MODEL_DIR / ONNX_NAME).is_file(), reason="the shipped model "
                    "vision/default_model/model.onnx is not in this checkout yet")
def test_demo_runs_the_whole_loop_with_the_shipped_model(tmp_path: Path) -> None:
    keep = tmp_path / "kept"
    # No --registry: the demo serves from a registry of its own, seeded with the shipped model, and leaves the user's
    # registry and data folder alone (it used to seed and serve from the user's default registry).
    done = qc("demo", "--seconds", "4", "--keep", str(keep), env=user_env(tmp_path))
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"model registry {keep / 'registry'} (the demo's own" in done.stderr
    assert not (tmp_path / "users-registry").exists() and not (tmp_path / "xdg").exists()
    totals = TOTALS.search(done.stdout)
    assert totals is not None, done.stdout
    truth, counted, spoiled, flagged = (int(v) for v in totals.groups())
    assert truth > 0 and counted > 0, done.stdout
    assert re.search(r"^duplicates 0,", done.stdout, re.MULTILINE), done.stdout
    assert "frames: captured 60 = processed 60 + dropped 0" in done.stdout, done.stdout
    assert "frames" in done.stderr and "waiting" in done.stderr  # the progress went to stderr, not into the table
    assert {p.name for p in keep.iterdir()} >= {"clip", "serve.yaml", "serve.log", "qc.sqlite3"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--registry", "{tmp}/not-onnx.onnx"], "cannot create model registry at {tmp}/not-onnx.onnx"),  # a file
        (["--model", "{tmp}/missing.onnx"], "--model {tmp}/missing.onnx: no such file"),
        (["--model", "{tmp}/not-onnx.onnx"], "ONNX Runtime cannot load it"),
        (["--keep", "{tmp}/used"], "must be a new or empty folder"),
        (["--seconds", "0.5"], "Invalid value for '--seconds'"),
    ],
)
def test_demo_errors_name_the_problem(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "not-onnx.onnx").write_text("not a model")
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "something").write_text("x")
    done = qc("demo", *[a.format(tmp=tmp_path) for a in args], timeout=60)
    assert done.returncode == 2, done.stderr
    assert message.format(tmp=tmp_path) in done.stderr
    assert "Traceback" not in done.stderr


def test_demo_registry_is_its_own_unless_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The registry `qc demo` serves from: a new one in its work folder, never the user's ($QC_REGISTRY or the
    per-user default), unless --registry names one."""
    from edge.tools.demo import prepare_registry

    if not (DEFAULT_MODEL_DIR / ONNX_NAME).is_file():
        pytest.skip("no shipped model")
    monkeypatch.setenv("QC_REGISTRY", str(tmp_path / "users-registry"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    work = tmp_path / "work"
    work.mkdir()
    root, produce = prepare_registry(work, None, None)
    assert Path(root) == work / "registry" and (work / "registry").is_dir() and produce
    assert not (tmp_path / "users-registry").exists() and not (tmp_path / "xdg").exists()
    given, _ = prepare_registry(work, None, tmp_path / "given")
    assert Path(given) == tmp_path / "given"
