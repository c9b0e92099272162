"""`qc serve` as a user and a supervisor see it: the exit code after a signal, the warning of a config without a
camera. Real `qc serve` processes, real sockets, the shipped model in a registry of the test's own."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import yaml

from edge.service.child import ServiceChild, free_port
from vision.registry import DEFAULT_MODEL_DIR, ONNX_NAME

pytestmark = pytest.mark.slow  # qc serve as a process

ROOT = Path(__file__).resolve().parents[3]


def _env(tmp_path: Path) -> dict[str, str]:
    """No QC_* settings of the developer's shell, and a per-user data folder of the test's own."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith("QC_")}, "XDG_DATA_HOME": str(tmp_path / "xdg")}


def test_validate_config_without_a_camera_warns(tmp_path: Path) -> None:
    """`qc serve --validate-config` with no config used to report valid with 0 cameras and say nothing: a service
    that refuses every frame."""
    done = subprocess.run([sys.executable, "-m", "vision.cli", "serve", "--validate-config"], cwd=tmp_path,
                          capture_output=True, text=True, env=_env(tmp_path), timeout=120)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["valid"] is True and summary["cameras"] == []
    warning = [line for line in done.stderr.splitlines() if line.startswith("warning:")]
    assert len(warning) == 1 and "no camera is configured" in warning[0]
    assert "cameras:" in warning[0] and "--config" in warning[0]  # says how to add one
    assert summary["warnings"] == [warning[0].removeprefix("warning: ")]

    config = tmp_path / "serve.yaml"
    config.write_text(yaml.safe_dump({"cameras": [{"id": "belt1", "token": "belt1-token-0123"}]}))
    with_camera = subprocess.run([sys.executable, "-m", "vision.cli", "serve", "--config", str(config),
                                  "--validate-config"], capture_output=True, text=True, env=_env(tmp_path), timeout=120)
    assert with_camera.returncode == 0 and "warning" not in with_camera.stderr
    assert json.loads(with_camera.stdout)["warnings"] == []


@pytest.mark.skipif(not (DEFAULT_MODEL_DIR / ONNX_NAME).is_file(), reason="the shipped model is not in this checkout")
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_the_service_cleanly_with_exit_code_0(tmp_path: Path, signum: signal.Signals) -> None:
    """After a clean shutdown on SIGTERM the process used to exit 143 (uvicorn re-raises the signal), which
    systemd and other supervisors read as a failure."""
    port = free_port()
    config = tmp_path / "serve.yaml"
    config.write_text(yaml.safe_dump({
        "service": {"port": port},
        "data_dir": str(tmp_path / "data"),
        "model": {"registry_root": str(tmp_path / "registry")},
        "rollout": {"watch_s": 0},
        "cameras": [{"id": "belt1", "token": "belt1-token-0123"}],
    }))
    service = ServiceChild(config, port, tmp_path / "serve.log")
    environ = os.environ.copy()
    os.environ.clear()
    os.environ.update(_env(tmp_path))  # ServiceChild starts the child with this process's environment
    try:
        with service:
            service.wait_ready(180)
            assert service.proc is not None
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/openapi.json", timeout=10) as answer:
                assert "/frames" in json.loads(answer.read())["paths"]  # the README points users at it
            service.proc.send_signal(signum)
            code = service.proc.wait(timeout=60)
    finally:
        os.environ.clear()
        os.environ.update(environ)
    log = (tmp_path / "serve.log").read_text(errors="replace")
    assert code == 0, log[-3000:]
    assert "Traceback" not in log
    assert "Application shutdown complete" in log  # the clean shutdown ran before the exit
