"""The settings of one camera's daemon, as three small values validated when they are made (a bad one raises
`CaptureError` naming the setting): what is read and how each frame becomes a JPEG (`FrameSource`), where frames
wait for their acks (`SpoolSettings`) and how the daemon talks to the service (`ServiceLink`). `qc capture`'s
options fill them; `edge.capture.daemon.CaptureConfig` holds them with the camera's id and tags."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, NonNegativeFloat, PositiveFloat, Strict, StrictBool, model_validator

from edge.capture.errors import CaptureError
from edge.capture.spool import OverflowPolicy
from vision.options import Count, Options

MIN_SIDE = 8  # a frame shrunk below this many pixels a side shows the model nothing
# A side a frame may be shrunk to (a bool is not one).
Side = Annotated[int, Strict(), Field(ge=MIN_SIDE)]


class FrameSource(Options):
    """The camera (a file, an RTSP or HTTP URL, a USB device), how it is read and how each frame is encoded."""

    error = CaptureError

    source: str  # a video file, an rtsp:// (or http://) URL, or a USB device index (0, /dev/video0)
    fps: PositiveFloat | None = None  # frame-rate cap; a file is decimated deterministically
    max_width: Side | None = None  # wider frames are shrunk to this width before encoding, keeping the aspect
    max_height: Side | None = None
    jpeg_quality: Annotated[int, Strict(), Field(ge=1, le=100)] = 90
    realtime: StrictBool = True  # a file: replay at its frame rate, or as fast as the service acks
    from_start: StrictBool = False  # a file: replay from frame 0 even if this spool sent part of it
    max_frames: Count | None = None  # stop after capturing this many frames in this run
    stall_seconds: PositiveFloat = 10.0  # reopen a live source that gave no frame for this long
    rtsp_transport: Literal["tcp", "udp"] = "tcp"


class SpoolSettings(Options):
    """The camera's on-disk spool, where every frame stays until the service acks it."""

    error = CaptureError

    spool_dir: Path  # one per camera
    max_bytes: Count = 1024**3  # bound of the frame files; when full, ``overflow`` decides
    overflow: OverflowPolicy = OverflowPolicy.DROP_OLDEST
    fsync: StrictBool = True  # every write survives power loss (off: a crash of the daemon only)


class ServiceLink(Options):
    """The connection to `qc serve`: where, as whom, how many frames in flight, and how long to wait or back off."""

    error = CaptureError

    service: str  # the service's base URL, ws://host:port (or http://)
    token: str | None = None  # the camera's bearer token
    window: Count = 32  # frames in flight (sent, not yet acked)
    ack_timeout: PositiveFloat = 30.0  # reconnect when a frame in flight waited this long for its ack
    drain_timeout: NonNegativeFloat = 30.0  # at the end of a file or max_frames: how long to wait for the last acks
    backoff_initial: PositiveFloat = 0.5  # first reconnect delay; doubles per failure, jittered
    backoff_max: PositiveFloat = 30.0  # longest reconnect delay

    @model_validator(mode="after")
    def _backoff_grows(self) -> ServiceLink:
        if self.backoff_initial > self.backoff_max:
            raise ValueError(f"backoff_initial {self.backoff_initial} is above backoff_max {self.backoff_max}")
        return self
