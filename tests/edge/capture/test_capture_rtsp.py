"""A real RTSP source: GStreamer's RTSP server (Debian packages) serves a clip, the daemon ingests every frame."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from capture_ack_server import AckServer, write_clip

from edge.capture.daemon import CaptureConfig, CaptureSummary, run_capture
from edge.capture.settings import FrameSource, ServiceLink, SpoolSettings

pytestmark = pytest.mark.slow  # a real RTSP server and the capture daemon

SERVE = Path(__file__).with_name("rtsp_serve_clip.py")
INSTALL = "apt-get install -y gir1.2-gst-rtsp-server-1.0 python3-gi gstreamer1.0-plugins-base gstreamer1.0-plugins-good"
FRAMES = 30
CAMERA = "dock3"


def system_python_with_rtsp_server() -> str | None:
    """The system Python that can run the RTSP server script (PyGObject is a Debian package, not in the venv)."""
    python = shutil.which("python3", path="/usr/bin:/usr/local/bin")
    for candidate in ("/usr/bin/python3", python):
        if candidate and Path(candidate).exists():
            probe = subprocess.run([candidate, str(SERVE), "--probe"], capture_output=True, timeout=30, check=False)
            if probe.returncode == 0:
                return candidate
    return None


@pytest.fixture(scope="module")
def rtsp_python() -> str:
    python = system_python_with_rtsp_server()
    if python is None:
        pytest.skip(f"GStreamer's RTSP server is not installed (CI installs it: {INSTALL})")
    return python


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_rtsp_server(python: str, clip: Path, port: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [python, str(SERVE), str(clip), str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    if proc.stdout is None or proc.stdout.readline().strip() != "ready":
        proc.kill()
        _, err = proc.communicate(timeout=10)
        pytest.fail(f"the RTSP server did not start: {err.strip()}")
    return proc


@pytest.fixture
def rtsp_url(tmp_path: Path, rtsp_python: str) -> Iterator[str]:
    clip = tmp_path / "clip.avi"
    write_clip(str(clip), FRAMES, fps=15.0)
    port = free_port()
    proc = start_rtsp_server(rtsp_python, clip, port)
    try:
        yield f"rtsp://127.0.0.1:{port}/clip"
    finally:
        proc.kill()
        proc.communicate(timeout=10)


def test_the_daemon_ingests_every_frame_of_an_rtsp_stream(tmp_path: Path, rtsp_url: str) -> None:
    server = AckServer().start()
    stop = threading.Event()
    watchdog = threading.Timer(15.0, stop.set)  # a broken stream must fail the test, not hang it
    watchdog.start()
    try:
        cfg = CaptureConfig(
            camera_id=CAMERA,
            tags={"tote": "T-1"},
            frames=FrameSource(source=rtsp_url, max_frames=FRAMES, stall_seconds=3.0),
            spool=SpoolSettings(spool_dir=tmp_path / "spool"),
            link=ServiceLink(service=server.url, backoff_initial=0.1, backoff_max=0.5, drain_timeout=5.0),
        )
        summary: CaptureSummary = run_capture(cfg, stop=stop)
    finally:
        watchdog.cancel()
        server.stop()
    assert not stop.is_set(), "the watchdog fired: the stream did not deliver the clip"
    assert summary.stopped_by == "max_frames" and summary.drained
    assert server.processed_seqs(CAMERA) == list(range(FRAMES))
    # Frame i of the clip has brightness 8*i: every frame arrived, none twice, in order, none from a replay.
    levels = [server.brightness[(CAMERA, seq)] for seq in range(FRAMES)]
    assert levels == pytest.approx([8.0 * i for i in range(FRAMES)], abs=4)
    assert summary.run["source_reopens"] == 0
    t = summary.to_json()["total"]
    assert (t["captured"], t["acked_ok"], t["balanced"]) == (FRAMES, FRAMES, True)


def test_a_camera_that_goes_away_is_reopened_and_seqs_continue(tmp_path: Path, rtsp_python: str) -> None:
    clip = tmp_path / "clip.avi"
    write_clip(str(clip), FRAMES, fps=15.0)
    port = free_port()
    camera = start_rtsp_server(rtsp_python, clip, port)
    server = AckServer().start()
    stop, fired = threading.Event(), threading.Event()

    def give_up() -> None:  # fail, not hang, if the stream breaks
        fired.set()
        stop.set()

    watchdog = threading.Timer(18.0, give_up)
    watchdog.start()
    result: dict[str, CaptureSummary] = {}
    cfg = CaptureConfig(
        camera_id=CAMERA,
        frames=FrameSource(source=f"rtsp://127.0.0.1:{port}/clip", max_frames=FRAMES + 10, stall_seconds=1.0),
        spool=SpoolSettings(spool_dir=tmp_path / "spool"),
        link=ServiceLink(service=server.url, backoff_initial=0.1, backoff_max=0.5, drain_timeout=5.0),
    )
    daemon = threading.Thread(target=lambda: result.setdefault("s", run_capture(cfg, stop=stop)))
    daemon.start()
    try:
        server.wait_for(lambda: len(server.processed) >= 10, timeout=10)
        camera.kill()  # the camera reboots: its RTSP session dies without a goodbye
        camera.communicate(timeout=10)
        camera = start_rtsp_server(rtsp_python, clip, port)
        daemon.join(20)
    finally:
        watchdog.cancel()
        stop.set()
        daemon.join(10)
        server.stop()
        camera.kill()
        camera.communicate(timeout=10)
    assert not fired.is_set(), "the watchdog fired: the daemon did not get its frames after the reopen"
    summary = result["s"]
    assert summary.stopped_by == "max_frames" and summary.run["source_reopens"] >= 1
    processed = server.processed_seqs(CAMERA)
    assert processed == list(range(FRAMES + 10)), "seqs continue across the reopen, no gap, no duplicate"
    levels = [server.brightness[(CAMERA, seq)] for seq in processed]
    restart = next(i for i in range(1, len(levels)) if levels[i] < levels[i - 1])
    assert levels[restart] == pytest.approx(0.0, abs=4)  # the new session starts the clip again
    assert levels[restart:] == pytest.approx([8.0 * i for i in range(len(levels) - restart)], abs=4)
