"""Video sources through OpenCV's VideoCapture: a file, an RTSP/HTTP stream or a USB/V4L2 device.

A file is replayed deterministically: a frame's index in the file is its seq, its capture time is the replay
epoch plus its timestamp in the file, and the frame-rate cap keeps the same frames on every replay. A live
source (stream or device) is read as fast as it delivers, so that its buffer never lags; frames over the rate
cap are grabbed but not decoded. A live source that yields no frame for ``stall_seconds`` is reopened, with
backoff, as NVRs do (RTSP sessions die silently on a camera reboot or a network blip).
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from edge.capture.backoff import Backoff
from edge.capture.errors import SourceError

log = logging.getLogger(__name__)

STREAM_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://")
SourceKind = Literal["file", "stream", "device"]
FALLBACK_FPS = 25.0  # files whose container declares no frame rate


@dataclass(frozen=True)
class SourceSpec:
    """Where frames come from; `parse` reads the CLI's SOURCE argument."""

    kind: SourceKind
    location: str  # a path, a URL, or a device index / node such as "0" or "/dev/video0"

    @classmethod
    def parse(cls, text: str) -> SourceSpec:
        """``rtsp://...`` (or http/rtmp) -> stream; an integer or ``/dev/video*`` -> device; else an existing file."""
        text = text.strip()
        if not text:
            raise SourceError("the video source is empty; give a file, an rtsp:// URL or a device index")
        if text.lower().startswith(STREAM_SCHEMES):
            return cls("stream", text)
        if "://" in text:
            raise SourceError(f"video source {text!r}: unsupported URL scheme; use one of {', '.join(STREAM_SCHEMES)}")
        if text.isdigit() or text.startswith("/dev/video"):
            return cls("device", text)
        path = Path(text)
        if not path.is_file():
            raise SourceError(f"video file {text} does not exist (or is not a file)")
        return cls("file", str(path.resolve()))

    @property
    def live(self) -> bool:
        """A stream or a device: frames not read now are gone."""
        return self.kind != "file"

    def identity(self) -> dict[str, object]:
        """What identifies a file's content (for resuming a replay); a live source is identified by location."""
        if self.kind != "file":
            return {"kind": self.kind, "location": self.location}
        st = os.stat(self.location)
        return {"kind": "file", "location": self.location, "size": st.st_size, "mtime_ns": st.st_mtime_ns}


@dataclass(frozen=True)
class CapturedFrame:
    """One frame off the source: its index (file frame index, or a running count for live), time and image."""

    index: int
    captured_at: float
    image: np.ndarray


def fit_within(width: int, height: int, max_width: int | None, max_height: int | None) -> tuple[int, int]:
    """The size that fits ``width`` x ``height`` within the caps, keeping the aspect ratio; never enlarges."""
    scale = 1.0
    if max_width is not None and width > max_width:
        scale = min(scale, max_width / width)
    if max_height is not None and height > max_height:
        scale = min(scale, max_height / height)
    if scale == 1.0:
        return width, height
    return max(1, round(width * scale)), max(1, round(height * scale))


def resize_for_model(image: np.ndarray, max_width: int | None, max_height: int | None) -> np.ndarray:
    """Shrink ``image`` to fit the caps (INTER_AREA: the right filter for downscaling), or return it as is."""
    h, w = image.shape[:2]
    size = fit_within(w, h, max_width, max_height)
    if size == (w, h):
        return image
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def keep_file_frame(index: int, file_fps: float, fps_cap: float | None) -> bool:
    """Decimate a file deterministically: keep a frame when it starts a new 1/fps_cap slot of the file's time."""
    if fps_cap is None or fps_cap >= file_fps:
        return True
    if index == 0:
        return True
    return math.floor(index * fps_cap / file_fps) != math.floor((index - 1) * fps_cap / file_fps)


class VideoSource:
    """Reads one source; `frames` yields `CapturedFrame`s until the file ends or ``stop`` is set."""

    def __init__(
        self,
        spec: SourceSpec,
        *,
        fps_cap: float | None = None,
        realtime: bool = True,
        stall_seconds: float = 10.0,
        rtsp_transport: str = "tcp",
        reopen_backoff: Backoff | None = None,
    ) -> None:
        if fps_cap is not None and fps_cap <= 0:
            raise SourceError(f"the frame-rate cap must be > 0, got {fps_cap}")
        if stall_seconds <= 0:
            raise SourceError(f"stall seconds must be > 0, got {stall_seconds}")
        self.spec = spec
        self.fps_cap = fps_cap
        self.realtime = realtime
        self.stall_seconds = stall_seconds
        self.rtsp_transport = rtsp_transport
        self.backoff = reopen_backoff or Backoff(initial=0.5, maximum=10.0)
        self.reopens = 0
        self.fps_skipped = 0
        self.file_fps: float | None = None

    # --- opening ----------------------------------------------------------------------------------------------

    def _open(self) -> cv2.VideoCapture:
        spec = self.spec
        if spec.kind == "device":
            index_or_path: int | str = int(spec.location) if spec.location.isdigit() else spec.location
            cap = cv2.VideoCapture(index_or_path)
        elif spec.kind == "stream":
            if spec.location.lower().startswith(("rtsp://", "rtsps://")):
                # The only way to pass demuxer options to OpenCV's FFmpeg backend is this variable, read at open.
                # TCP by default: UDP loses packets (whole JPEG/H.264 frames) under load.
                os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", f"rtsp_transport;{self.rtsp_transport}")
            timeout_ms = int(self.stall_seconds * 1000)
            params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, timeout_ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, timeout_ms]
            cap = cv2.VideoCapture(spec.location, cv2.CAP_FFMPEG, params)
        else:
            cap = cv2.VideoCapture(spec.location)
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"cannot open video source {spec.location!r} ({spec.kind})")
        return cap

    # --- reading ----------------------------------------------------------------------------------------------

    def frames(
        self, stop: threading.Event, *, start_index: int = 0, epoch: float | None = None
    ) -> Iterator[CapturedFrame]:
        """Yield frames; a file starts at frame ``start_index`` with capture times ``epoch + t_in_file``."""
        if self.spec.kind == "file":
            yield from self._file_frames(stop, start_index, time.time() if epoch is None else epoch)
        else:
            yield from self._live_frames(stop)

    def _file_frames(self, stop: threading.Event, start_index: int, epoch: float) -> Iterator[CapturedFrame]:
        cap = self._open()
        try:
            fps = cap.get(cv2.CAP_PROP_FPS)
            self.file_fps = fps if fps and math.isfinite(fps) and fps > 0 else FALLBACK_FPS
            index = 0
            # Skip by grabbing, not seeking: seeking is keyframe-approximate in many codecs and would break the
            # frame index = seq correspondence that makes replays deterministic.
            while index < start_index and not stop.is_set():
                if not cap.grab():
                    return
                index += 1
            wall_start = time.monotonic()
            while not stop.is_set():
                if not cap.grab():
                    return  # end of file
                if not keep_file_frame(index, self.file_fps, self.fps_cap):
                    self.fps_skipped += 1
                    index += 1
                    continue
                ok, image = cap.retrieve()
                if not ok or image is None:
                    log.warning("video %s: frame %d does not decode; skipped", self.spec.location, index)
                    index += 1
                    continue
                offset = index / self.file_fps
                if self.realtime:
                    delay = wall_start + (index - start_index) / self.file_fps - time.monotonic()
                    if delay > 0 and stop.wait(delay):
                        return
                yield CapturedFrame(index=index, captured_at=epoch + offset, image=image)
                index += 1
        finally:
            cap.release()

    def _live_frames(self, stop: threading.Event) -> Iterator[CapturedFrame]:
        period = 1.0 / self.fps_cap if self.fps_cap else 0.0
        next_due = 0.0
        count = 0
        cap: cv2.VideoCapture | None = None
        last_frame = time.monotonic()
        try:
            while not stop.is_set():
                if cap is None:
                    try:
                        cap = self._open()
                        last_frame = time.monotonic()
                        log.info("camera source %s opened", self.spec.location)
                    except SourceError as exc:
                        delay = self.backoff.next_delay()
                        log.warning("%s; retrying in %.1f s", exc, delay)
                        stop.wait(delay)
                        continue
                if not cap.grab():
                    if time.monotonic() - last_frame >= self.stall_seconds:
                        log.warning(
                            "camera source %s stalled (no frame for %.0f s); reopening",
                            self.spec.location,
                            self.stall_seconds,
                        )
                        cap.release()
                        cap = None
                        self.reopens += 1
                        stop.wait(self.backoff.next_delay())
                    else:
                        stop.wait(0.05)
                    continue
                now = time.monotonic()
                captured_at = time.time()
                last_frame = now
                self.backoff.reset()
                if period and now < next_due:
                    self.fps_skipped += 1  # grabbed (so the buffer does not lag) but not decoded
                    continue
                if period:
                    # Schedule on a grid of due times, not from "now", so the average rate meets the cap despite
                    # arrival jitter; resync after a gap so no burst of banked frames follows it.
                    if now - next_due > period:
                        next_due = now
                    next_due += period
                ok, image = cap.retrieve()
                if not ok or image is None:
                    continue
                yield CapturedFrame(index=count, captured_at=captured_at, image=image)
                count += 1
        finally:
            if cap is not None:
                cap.release()
