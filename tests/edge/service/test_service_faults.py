"""Exactly-once under faults, with real processes: `qc serve` and three `qc capture` daemons streaming one clip.

Faults: a daemon is killed (SIGKILL) mid-clip and restarted; the service is killed (SIGKILL) for 10 s while the
three stream; one daemon then resends the whole clip. Afterwards, per camera: every captured frame is finished
with in the store (frames captured = processed + dropped with a reason; 0 lost), and the items counted are
exactly those of a fourth camera that streamed the same clip with no fault at all (0 counted twice, 0 missed).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from edge.store.store import Store
from vision.taxonomy import Taxonomy

ROOT = Path(__file__).resolve().parents[3]
CAMERAS = ("cam1", "cam2", "cam3", "ref")
SECONDS, FPS = 12.0, 10.0
FRAMES = int(SECONDS * FPS)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def token(camera: str) -> str:
    return f"token-{camera}-0123"


def qc(args: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """A `qc` process; stdout to ``log``.out, stderr to ``log``.err (files: a full pipe would block it)."""
    return subprocess.Popen(
        [sys.executable, "-m", "vision.cli", *args], cwd=ROOT, env={**os.environ, **(env or {})},
        stdout=log.with_suffix(".out").open("wb"), stderr=log.with_suffix(".err").open("wb"),
    )


class Service:
    def __init__(self, config: Path, port: int, logs: Path) -> None:
        self.config, self.port, self.logs = config, port, logs
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        self.proc = qc(["serve", "--config", str(self.config)], self.logs / f"serve{self.starts}")
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError((self.logs / f"serve{self.starts}.err").read_text()[-3000:])
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError("service not ready")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def capture(clip: Path, camera: str, port: int, spool: Path, log: Path, *extra: str) -> subprocess.Popen[bytes]:
    return qc(
        ["capture", str(clip), "--camera", camera, "--service", f"ws://127.0.0.1:{port}", "--spool", str(spool),
         "--no-fsync", "--backoff-initial", "0.2", "--backoff-max", "1", "--ack-timeout", "15",
         "--drain-timeout", "120", "--progress-seconds", "60", *extra],
        log, env={"QC_CAPTURE_TOKEN": token(camera)},
    )


def finish(proc: subprocess.Popen[bytes], log: Path, timeout: float = 180) -> dict[str, Any]:
    rc = proc.wait(timeout=timeout)
    assert rc == 0, log.with_suffix(".err").read_text()[-3000:]
    return json.loads(log.with_suffix(".out").read_text().strip().splitlines()[-1])


def per_camera(port: int, series: str = "qc_frames_processed_total") -> dict[str, float]:
    """One per-camera series from the service's /metrics (empty when it does not answer)."""
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    except httpx.TransportError:
        return {}
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(series + "{"):
            labels, _, value = line.rpartition(" ")
            out[labels.split('camera="')[1].split('"')[0]] = float(value)
    return out


def wait_until(check: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        time.sleep(0.1)


def item_keys(store: Store, camera: str) -> list[tuple[Any, ...]]:
    return [(i.track_id, i.first_seq, i.last_seq, i.counted_seq, i.produce, i.condition, i.flagged, i.frames)
            for i in store.items(camera_id=camera)]


@pytest.mark.slow  # about a minute: a 12 s clip in real time, a 10 s outage, two service start-ups
def test_exactly_once_with_service_and_daemon_killed_and_a_clip_resent(
    tmp_path: Path, served_registry: Path, taxonomy: Taxonomy
) -> None:
    from training.synth.clip import generate_clip

    clip_dir = tmp_path / "clip"
    generate_clip(clip_dir, SECONDS, FPS, seed=4242, taxonomy=taxonomy, speed=1.0, density=3.0, width=320, height=180)
    clip = clip_dir / "clip.mp4"
    port = free_port()
    config = {
        "service": {"host": "127.0.0.1", "port": port, "log_level": "warning", "shutdown_grace_s": 2},
        "data_dir": str(tmp_path / "data"),
        "cameras": [{"id": c, "token": token(c), "line": {"x": 0.5}, "direction": "+x"} for c in CAMERAS],
        "model": {"registry_root": str(served_registry), "providers": ["CPUExecutionProvider"], "imgsz": 320},
        "batcher": {"max_batch": 8, "max_wait_ms": 10, "queue_limit": 64},
        # No idle flush: a daemon restart slower than it would hand cam2's items in view on early, with other
        # last_seq/frames than the reference camera's (counts stay exactly-once; test_service_idle_flush covers it).
        "counting": {"idle_flush_s": 0},
    }
    config_path = tmp_path / "serve.yaml"
    config_path.write_text(yaml.safe_dump(config))
    logs = tmp_path / "logs"
    logs.mkdir()
    service = Service(config_path, port, logs)
    spool = {c: tmp_path / "spool" / c for c in CAMERAS}
    try:
        service.start()
        daemons = {c: capture(clip, c, port, spool[c], logs / f"{c}-1") for c in ("cam1", "cam2", "cam3")}
        # Faults strike only once every daemon streams (their start-up takes seconds on a busy machine).
        wait_until(lambda: all(per_camera(port).get(c, 0) >= 5 for c in ("cam1", "cam2", "cam3")))
        daemons["cam2"].send_signal(signal.SIGKILL)  # a daemon dies mid-clip, frames in flight ...
        daemons["cam2"].wait(timeout=30)
        wait_until(lambda: per_camera(port, "qc_ws_connections").get("cam2") == 0)
        daemons["cam2"] = capture(clip, "cam2", port, spool["cam2"], logs / "cam2-2")  # ... and comes back
        wait_until(lambda: per_camera(port, "qc_ws_connections").get("cam2") == 1)
        at_reconnect = per_camera(port)["cam2"]
        wait_until(lambda: per_camera(port).get("cam2", 0) >= at_reconnect + 3)
        before_outage = per_camera(port)
        service.kill()  # the service dies while three daemons stream
        time.sleep(10.0)
        service.start()
        summaries = {c: finish(p, logs / (f"{c}-2" if c == "cam2" else f"{c}-1")) for c, p in daemons.items()}
        resend = finish(capture(clip, "cam3", port, spool["cam3"], logs / "cam3-2", "--from-start", "--fast"),
                        logs / "cam3-2")
        summaries["ref"] = finish(capture(clip, "ref", port, spool["ref"], logs / "ref-1", "--fast"), logs / "ref-1")
    finally:
        service.stop()

    with Store.open(f"sqlite:///{tmp_path / 'data' / 'qc.sqlite3'}") as store:
        tallies = {t.camera_id: t for t in store.frame_tallies()}
        lost = {c: [s for s in range(FRAMES) if store.frame_status(c, s) is None] for c in CAMERAS}
        items = {c: item_keys(store, c) for c in CAMERAS}

    # the faults struck mid-stream: nothing was finished when the service died, and all three reconnected
    assert all(before_outage[c] < FRAMES for c in ("cam1", "cam2", "cam3")), before_outage
    assert all(summaries[c]["run"]["connects"] >= 2 for c in ("cam1", "cam2", "cam3")), summaries
    for camera in CAMERAS:
        total = summaries[camera]["total"]
        assert total["captured"] == FRAMES and total["spooled"] == 0 and total["balanced"], (camera, total)
        assert total["acked"] + total["dropped"] == FRAMES, (camera, total)
        # frames captured = frames processed + frames dropped with a reason, 0 lost
        assert tallies[camera].processed + sum(tallies[camera].dropped.values()) == FRAMES, tallies[camera]
        assert lost[camera] == [], camera
    assert resend["total"]["duplicates"] >= FRAMES  # the whole clip again: nothing processed twice
    assert tallies["cam3"].processed + sum(tallies["cam3"].dropped.values()) == FRAMES
    # every faulted camera counted exactly the items of the camera that streamed without a fault
    for camera in ("cam1", "cam2", "cam3"):
        assert items[camera] == items["ref"], camera
    assert len({k[0] for k in items["ref"]}) == len(items["ref"])  # no item id counted twice
    print("items counted per camera:", {c: len(v) for c, v in items.items()}, "tallies:", tallies)
