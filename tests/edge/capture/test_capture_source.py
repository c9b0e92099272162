"""Video sources: parsing, resize keeping the aspect, deterministic file replay and decimation, stall -> reopen."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from capture_ack_server import write_clip

from edge.capture.backoff import Backoff
from edge.capture.errors import SourceError
from edge.capture.source import SourceSpec, VideoSource, fit_within, keep_file_frame, resize_for_model


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("clip") / "clip.avi"
    write_clip(str(path), 12, fps=20.0)
    return path


@pytest.mark.parametrize(
    ("text", "kind", "error"),
    [
        ("rtsp://10.0.0.5:554/stream1", "stream", None),
        ("RTSPS://cam.local/live", "stream", None),
        ("http://cam.local/mjpeg", "stream", None),
        ("0", "device", None),
        ("/dev/video2", "device", None),
        ("ftp://cam.local/x", None, "unsupported URL scheme"),
        ("no/such/clip.mp4", None, "does not exist"),
        ("  ", None, "empty"),
    ],
)
def test_source_spec_parse(text: str, kind: str | None, error: str | None) -> None:
    if error is not None:
        with pytest.raises(SourceError, match=error):
            SourceSpec.parse(text)
        return
    assert SourceSpec.parse(text).kind == kind


def test_a_file_source_is_resolved_and_identified_by_content(clip: Path) -> None:
    spec = SourceSpec.parse(str(clip))
    identity = spec.identity()
    assert spec.kind == "file" and not spec.live
    assert identity["location"] == str(clip.resolve()) and identity["size"] == clip.stat().st_size


@pytest.mark.parametrize(
    ("size", "max_w", "max_h", "expected"),
    [
        ((1920, 1080), 640, None, (640, 360)),
        ((1920, 1080), None, 360, (640, 360)),
        ((1920, 1080), 640, 200, (356, 200)),  # the tighter cap wins, aspect kept
        ((320, 240), 640, 640, (320, 240)),  # never enlarged
        ((1000, 10), 10, None, (10, 1)),  # never zero
    ],
)
def test_fit_within_keeps_the_aspect_ratio(size, max_w, max_h, expected) -> None:
    assert fit_within(*size, max_w, max_h) == expected


def test_resize_for_model_returns_the_same_array_when_it_fits() -> None:
    image = np.zeros((240, 320, 3), np.uint8)
    assert resize_for_model(image, 640, None) is image
    assert resize_for_model(image, 160, None).shape == (120, 160, 3)


@pytest.mark.parametrize(
    ("file_fps", "cap", "kept_of_30"),
    [(30.0, None, 30), (30.0, 10.0, 10), (30.0, 12.0, 12), (25.0, 30.0, 30), (30.0, 1.0, 1)],
)
def test_file_decimation_keeps_the_capped_rate(file_fps: float, cap: float | None, kept_of_30: int) -> None:
    kept = [i for i in range(30) if keep_file_frame(i, file_fps, cap)]
    assert len(kept) == kept_of_30
    assert kept == [i for i in range(30) if keep_file_frame(i, file_fps, cap)]  # a pure function of the index


def test_a_file_replays_deterministically_from_any_frame(clip: Path) -> None:
    source = VideoSource(SourceSpec.parse(str(clip)), realtime=False)
    stop = threading.Event()
    frames = list(source.frames(stop, start_index=0, epoch=1000.0))
    assert [f.index for f in frames] == list(range(12))
    assert [f.captured_at for f in frames] == pytest.approx([1000.0 + i / 20.0 for i in range(12)])
    levels = [float(f.image[4:12, 4:12].mean()) for f in frames]
    assert levels == pytest.approx([8.0 * i for i in range(12)], abs=3)
    resumed = list(source.frames(stop, start_index=7, epoch=1000.0))
    assert [f.index for f in resumed] == list(range(7, 12))
    assert resumed[0].captured_at == pytest.approx(frames[7].captured_at)


def test_a_file_with_a_rate_cap_keeps_the_same_frames_every_time(clip: Path) -> None:
    source = VideoSource(SourceSpec.parse(str(clip)), fps_cap=5.0, realtime=False)
    stop = threading.Event()
    first = [f.index for f in source.frames(stop)]
    second = [f.index for f in source.frames(stop)]
    assert first == second == [0, 4, 8]


def test_a_stalled_live_source_is_reopened(clip: Path) -> None:
    # A live reader on a stream that ends (the FFmpeg backend reading the clip) sees no frames after the end;
    # after stall_seconds it must reopen, and the frames come again.
    spec = SourceSpec("stream", str(clip))
    source = VideoSource(spec, stall_seconds=0.3, reopen_backoff=Backoff(initial=0.05, maximum=0.1))
    stop = threading.Event()
    seen = []
    for frame in source.frames(stop):
        seen.append(frame)
        if len(seen) == 30:
            stop.set()
    assert source.reopens >= 2
    assert [f.index for f in seen] == list(range(30))  # a live source's index keeps counting across reopens


def test_a_live_source_that_cannot_open_keeps_retrying_until_stopped() -> None:
    spec = SourceSpec("stream", "rtsp://127.0.0.1:9/none")
    source = VideoSource(spec, stall_seconds=0.2, reopen_backoff=Backoff(initial=0.05, maximum=0.05))
    stop = threading.Event()
    timer = threading.Timer(0.6, stop.set)
    timer.start()
    assert list(source.frames(stop)) == []
    timer.cancel()


@pytest.mark.parametrize(("kwargs", "match"), [({"fps_cap": 0.0}, "frame-rate cap"), ({"stall_seconds": 0.0}, "stall")])
def test_bad_source_settings_are_refused(clip: Path, kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(SourceError, match=match):
        VideoSource(SourceSpec.parse(str(clip)), **kwargs)
