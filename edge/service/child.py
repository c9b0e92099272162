"""`qc serve` as a child process: started on a config file, waited for until ready, read through /metrics, stopped.

Standard library only (urllib), so a command that drives a service (e.g. `qc demo`) does not import the service.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from vision.errors import QCError


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServiceChild:
    """`qc serve --config CONFIG` listening on 127.0.0.1:``port``, its stderr in ``log``; a context manager."""

    def __init__(self, config: Path, port: int, log: Path) -> None:
        self.config, self.port, self.log = config, port, log
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ServiceChild:
        with self.log.open("wb") as err:
            self.proc = subprocess.Popen([sys.executable, "-m", "vision.cli", "serve", "--config", str(self.config)],
                                         stdout=subprocess.DEVNULL, stderr=err)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """Whether the process is alive."""
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, timeout: float) -> dict[str, Any]:
        """Poll /readyz until it answers 200 and return its body; QCError with the stderr tail when the service
        exits, cannot load its model or is not ready within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            if not self.running:
                code = None if self.proc is None else self.proc.returncode
                raise self._failed(f"exited with code {code} while starting")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=2) as r:
                    return dict(json.loads(r.read()))
            except urllib.error.HTTPError as exc:  # 503: not ready yet, or never (the model failed to load)
                model_check = str(json.loads(exc.read() or b"{}").get("checks", {}).get("model", ""))
                if model_check.startswith("not loaded"):
                    raise self._failed(f"cannot load the model ({model_check})") from None
            except (urllib.error.URLError, OSError):
                pass  # not listening yet
            if time.monotonic() > deadline:
                raise self._failed(f"was not ready within {timeout:g} s")
            time.sleep(0.2)

    def metrics(self) -> dict[str, float]:
        """Each /metrics series summed over its labels; empty when the service does not answer."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as r:
                text = r.read().decode()
        except (urllib.error.URLError, OSError):
            return {}
        out: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                series, _, value = line.rpartition(" ")
                name = series.split("{", 1)[0]
                out[name] = out.get(name, 0.0) + float(value)
        return out

    def stop(self, timeout: float = 30.0) -> bool:
        """SIGTERM (the service answers what it queued, commits what it holds, closes the store), then wait; killed
        when it does not exit within ``timeout``. True when it stopped by itself (or was not running)."""
        if self.proc is None or self.proc.poll() is not None:
            return True
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
            return True
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return False

    def log_tail(self, lines: int = 15) -> str:
        """The last lines the service wrote to stderr."""
        try:
            return "\n".join(self.log.read_text(errors="replace").strip().splitlines()[-lines:]) or "(nothing)"
        except OSError:
            return "(no log)"

    def _failed(self, why: str) -> QCError:
        return QCError(f"the service {why}; its stderr ends with:\n{self.log_tail()}")
