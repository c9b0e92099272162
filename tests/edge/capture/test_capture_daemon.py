"""The capture daemon against a real WebSocket service that acks like `qc serve`: store-and-forward end to end."""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from capture_ack_server import AckServer, Script, write_clip

from edge.capture.daemon import CaptureConfig, CaptureSummary, run_capture
from edge.capture.settings import FrameSource, ServiceLink, SpoolSettings
from edge.capture.errors import CaptureError, ServiceRejected
from edge.capture.spool import OverflowPolicy

CAMERA = "cam1"
FRAMES = 40


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("clip") / "clip.avi"
    write_clip(str(path), FRAMES, fps=20.0)
    return path


@pytest.fixture(scope="module")
def camera_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same clip at 100 fps: a realtime replay (a camera that does not wait) in 0.4 s."""
    path = tmp_path_factory.mktemp("camera_clip") / "clip.avi"
    write_clip(str(path), FRAMES, fps=100.0)
    return path


@pytest.fixture
def server() -> Iterator[AckServer]:
    srv = AckServer().start()
    yield srv
    srv.stop()


def config(clip: Path, spool: Path, service: str, **kw: Any) -> CaptureConfig:
    """A daemon's config for this camera; each setting in ``kw`` goes to the value that has it."""
    frames: dict[str, Any] = {"realtime": False}
    link: dict[str, Any] = {"backoff_initial": 0.05, "backoff_max": 0.3, "drain_timeout": 10.0}
    spooling: dict[str, Any] = {}
    for name, value in kw.items():
        group = frames if name in FrameSource.model_fields else link if name in ServiceLink.model_fields else spooling
        group[name] = value
    return CaptureConfig(
        camera_id=CAMERA, frames=FrameSource(source=str(clip), **frames),
        spool=SpoolSettings(spool_dir=spool, **spooling), link=ServiceLink(service=service, **link),
    )


def assert_exactly_once(server: AckServer, n: int = FRAMES) -> None:
    processed = server.processed_seqs(CAMERA)
    assert processed == list(range(n)), "each frame processed once, in seq order"
    assert server.out_of_order == []


def totals(summary: CaptureSummary) -> dict[str, Any]:
    return summary.to_json()["total"]


def test_a_clip_is_delivered_and_accounted_for(tmp_path: Path, clip: Path, server: AckServer) -> None:
    summary = run_capture(config(clip, tmp_path / "spool", server.url, max_width=80))
    assert_exactly_once(server)
    t = totals(summary)
    assert (t["captured"], t["acked_ok"], t["duplicates"], t["dropped"], t["spooled"]) == (FRAMES, FRAMES, 0, 0, 0)
    assert t["balanced"] and summary.drained and summary.stopped_by == "end_of_source"
    assert set(server.sizes.values()) == {(80, 60)}  # resized before encoding, aspect kept
    levels = [server.brightness[(CAMERA, s)] for s in range(FRAMES)]
    assert levels == pytest.approx([(8.0 * i) % 256 for i in range(FRAMES)], abs=4)  # frame i is seq i
    stats = json.loads((tmp_path / "spool" / "stats.json").read_text())
    assert stats["total"] == t and stats["running"] is False


def test_resending_a_whole_clip_gives_the_same_keys(tmp_path: Path, clip: Path, server: AckServer) -> None:
    run_capture(config(clip, tmp_path / "spool", server.url))
    again = run_capture(config(clip, tmp_path / "spool", server.url, from_start=True))
    assert_exactly_once(server)
    assert again.run["duplicates"] == FRAMES and again.run["acked_ok"] == 0
    t = totals(again)
    assert (t["captured"], t["acked_ok"], t["duplicates"]) == (2 * FRAMES, FRAMES, FRAMES) and t["balanced"]
    # Without --from-start the same file resumes where it ended: nothing to send.
    third = run_capture(config(clip, tmp_path / "spool", server.url))
    assert third.run["captured"] == 0 and third.drained


def test_retry_error_dropped_and_a_lost_ack(tmp_path: Path, clip: Path) -> None:
    script = Script(retry={5}, error={9}, dropped={12}, cut_after_processing={20})
    server = AckServer(script=script).start()
    try:
        summary = run_capture(config(clip, tmp_path / "spool", server.url))
    finally:
        server.stop()
    processed = server.processed_seqs(CAMERA)
    assert processed == [s for s in range(FRAMES) if s not in (9, 12)] and server.out_of_order == []
    t = totals(summary)
    assert t["dropped_by_reason"] == {"error:corrupt_jpeg": 1, "dropped:overloaded": 1}
    assert t["acked_ok"] + t["duplicates"] == len(processed) == FRAMES - 2
    assert t["duplicates"] >= 1  # frame 20's ack was lost with the connection; its resend was answered duplicate
    assert t["balanced"] and t["dead_letters"] == 1 and summary.run["connects"] == 2
    assert summary.run["acks"]["retry"] >= 1
    assert (tmp_path / "spool" / "dead" / f"{9:020d}.frame").exists()


def test_a_service_outage_mid_stream_loses_nothing(tmp_path: Path, clip: Path) -> None:
    server = AckServer().start()
    result: dict[str, CaptureSummary] = {}
    cfg = config(clip, tmp_path / "spool", server.url, realtime=True)  # 20 fps like a camera: 2 s of clip
    daemon = threading.Thread(target=lambda: result.setdefault("s", run_capture(cfg)))
    daemon.start()
    try:
        server.wait_for(lambda: len(server.processed) >= 8)
        server.stop()  # the service dies; the daemon keeps capturing into its spool
        threading.Event().wait(0.6)
        server.start()  # same port, same "database"
        daemon.join(20)
    finally:
        server.stop()
    assert not daemon.is_alive()
    assert_exactly_once(server)
    t = totals(result["s"])
    assert t["captured"] == FRAMES and t["acked"] == FRAMES and t["spooled"] == 0 and t["balanced"]
    assert result["s"].run["connects"] >= 2


def test_a_full_spool_drops_the_oldest_and_says_so(tmp_path: Path, camera_clip: Path, server: AckServer) -> None:
    clip = camera_clip
    spool = tmp_path / "spool"
    nowhere = "ws://127.0.0.1:9"  # no service at all
    bound = 8_000  # about five of this clip's frames (~1.6 kB each)
    cfg = config(clip, spool, nowhere, realtime=True, max_bytes=bound, drain_timeout=0.2)
    summary = run_capture(cfg)
    t = totals(summary)
    assert t["captured"] == FRAMES and t["balanced"] and not summary.drained
    assert t["spooled"] >= 3 and t["spooled_bytes"] <= bound
    assert t["dropped_by_reason"] == {"spool_full": FRAMES - t["spooled"]}
    # The service comes back: what the spool kept (the newest frames) is delivered on the next start.
    kept = t["spooled"]
    later = run_capture(config(clip, spool, server.url))
    assert later.drained and later.run["captured"] == 0 and later.run["acked_ok"] == kept
    assert server.processed_seqs(CAMERA) == list(range(FRAMES - kept, FRAMES))


def test_stop_capturing_skips_frames_instead(tmp_path: Path, camera_clip: Path) -> None:
    clip = camera_clip
    cfg = config(
        clip,
        tmp_path / "spool",
        "ws://127.0.0.1:9",
        realtime=True,
        max_bytes=8_000,
        overflow=OverflowPolicy.STOP_CAPTURING,
        drain_timeout=0.2,
    )
    summary = run_capture(cfg)
    t = totals(summary)
    assert t["dropped"] == 0 and t["balanced"]
    assert t["captured"] + summary.run["not_captured"]["spool_full"] == FRAMES


def test_a_wrong_token_stops_the_daemon_with_a_clear_error(tmp_path: Path, clip: Path) -> None:
    server = AckServer(token="secret").start()
    try:
        with pytest.raises(ServiceRejected, match="refused camera 'cam1'.*wrong token.*4403"):
            run_capture(config(clip, tmp_path / "spool", server.url, token="guess"))
        summary = run_capture(config(clip, tmp_path / "spool", server.url, token="secret"))
    finally:
        server.stop()
    assert summary.drained and Counter(server.statuses(CAMERA))["ok"] == FRAMES  # nothing was lost meanwhile


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"camera_id": "bad id!"}, "camera_id"),
        ({"tags": {"color": "red"}}, "unknown key"),
        ({"jpeg_quality": 0}, "jpeg_quality: input should be greater than or equal to 1, got 0"),
        ({"jpeg_quality": True}, "jpeg_quality: input should be a valid integer, got True"),
        ({"max_width": 4}, "max_width: input should be greater than or equal to 8, got 4"),
        ({"window": 0}, "window: input should be greater than or equal to 1, got 0"),
        ({"backoff_initial": 5.0, "backoff_max": 1.0}, "backoff_initial 5.0 is above backoff_max 1.0"),
        ({"rtsp_transport": "sctp"}, "rtsp_transport: input should be 'tcp' or 'udp', got 'sctp'"),
        ({"max_bytes": 0}, "max_bytes: input should be greater than or equal to 1, got 0"),
        ({"overflow": "drop-newest"}, "overflow: input should be 'drop-oldest' or 'stop-capturing'"),
    ],
)
def test_bad_settings_name_the_setting(tmp_path: Path, clip: Path, kw: dict[str, Any], match: str) -> None:
    camera = {name: kw.pop(name) for name in ("camera_id", "tags") if name in kw}
    with pytest.raises(CaptureError, match=re.escape(match)):
        built = config(clip, tmp_path, "ws://127.0.0.1:9", **kw)
        CaptureConfig(**{"camera_id": CAMERA, "frames": built.frames, "spool": built.spool, "link": built.link,
                         **camera})


def test_a_bad_service_url_is_refused(tmp_path: Path, clip: Path) -> None:
    with pytest.raises(CaptureError, match="must look like ws://host:port"):
        run_capture(config(clip, tmp_path / "spool", "ftp://127.0.0.1:9"))


def test_a_file_that_is_not_a_video_is_a_clear_error(tmp_path: Path, server: AckServer) -> None:
    bogus = tmp_path / "notes.mp4"
    bogus.write_text("not a video")
    with pytest.raises(CaptureError, match="cannot open video source"):
        run_capture(config(bogus, tmp_path / "spool", server.url))
