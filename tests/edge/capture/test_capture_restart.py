"""`qc capture` as a real process: killed mid-clip and restarted, it resumes without gaps or duplicates."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from capture_ack_server import AckServer, write_clip

CAMERA = "cam7"
FRAMES = 40
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def server() -> Iterator[AckServer]:
    srv = AckServer(token="t0ken").start()
    yield srv
    srv.stop()


def qc_capture(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "QC_CAPTURE_TOKEN": "t0ken"}
    return subprocess.Popen(
        [sys.executable, "-m", "vision.cli", "capture", *args],
        cwd=ROOT,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_kill_and_restart_mid_clip_resumes_without_gaps_or_duplicates(tmp_path: Path, server: AckServer) -> None:
    clip = tmp_path / "clip.avi"
    write_clip(str(clip), FRAMES, fps=40.0)
    spool = tmp_path / "spool"
    common = [
        str(clip),
        "--camera",
        CAMERA,
        "--service",
        server.url,
        "--spool",
        str(spool),
        "--backoff-initial",
        "0.05",
        "--backoff-max",
        "0.3",
    ]

    first = qc_capture(*common)  # realtime: 40 fps, like a camera
    # The 12th frame is processed but its ack is held back (not a timed delay, which a slow machine can outlast
    # between the check and the kill, leaving nothing unacked) ...
    server.hold_acks_after = 11
    server.wait_for(lambda: len(server.processed) >= 12, timeout=15)
    first.send_signal(signal.SIGKILL)  # ... when the daemon dies, with no clean-up at all
    first.communicate(timeout=10)
    server.hold_acks_after = None
    killed_at = len(server.processed)

    second = qc_capture(*common)
    server.wait_for(lambda: len(server.processed) >= killed_at + 8, timeout=15)
    second.send_signal(signal.SIGTERM)  # a clean stop: summary printed, frames left spooled
    out, err = second.communicate(timeout=15)
    assert second.returncode == 0, err
    # It picked up the file where it was, and resent the frames whose acks died with the first process.
    assert "resuming" in err and "unacked frame(s)" in err
    stopped = json.loads(out)
    assert stopped["stopped_by"] == "stop" and stopped["total"]["balanced"]

    third = qc_capture(*common, "--fast")
    out, err = third.communicate(timeout=20)
    assert third.returncode == 0, err
    summary = json.loads(out)

    assert server.processed_seqs(CAMERA) == list(range(FRAMES)), "every frame processed once, in order"
    assert server.out_of_order == []
    total = summary["total"]
    assert (total["captured"], total["acked"], total["dropped"], total["spooled"]) == (FRAMES, FRAMES, 0, 0)
    assert total["balanced"] and summary["drained"] and summary["stopped_by"] == "end_of_source"
    assert total["duplicates"] >= 1 and total["acked_ok"] == FRAMES - total["duplicates"]  # acks lost in the kill
    assert json.loads((spool / "stats.json").read_text())["total"] == total
    assert "captured 40 = acked" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--camera", "no spaces allowed"], "camera_id must be"),
        (["--camera", "cam1", "--tag", "sku"], "KEY=VALUE"),
    ],
)
def test_cli_errors_exit_2_and_name_the_problem(tmp_path: Path, args: list[str], message: str) -> None:
    clip = tmp_path / "clip.avi"
    write_clip(str(clip), 2)
    proc = qc_capture(str(clip), "--spool", str(tmp_path / "spool"), *args)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2 and "error:" in err and message in err
