"""The capture daemon: camera frames -> JPEG -> on-disk spool -> WebSocket to the service, kept until acked.

`source` reads a file / RTSP URL / USB device through OpenCV, `spool` (with its `ledger`) keeps every frame
on disk until the service's final ack, `sender` streams the spool over one WebSocket with a window of frames
in flight, `daemon` runs the two together (`run_capture`) with the values of `settings`, `cli` is `qc capture`.
"""

from edge.capture.daemon import CaptureConfig, CaptureDaemon, CaptureSummary, run_capture
from edge.capture.settings import FrameSource, ServiceLink, SpoolSettings
from edge.capture.spool import OverflowPolicy, Spool

__all__ = [
    "CaptureConfig", "CaptureDaemon", "CaptureSummary", "FrameSource", "OverflowPolicy", "ServiceLink", "Spool",
    "SpoolSettings", "run_capture",
]
