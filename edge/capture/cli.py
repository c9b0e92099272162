"""`qc capture`: stream one camera (file, RTSP URL or USB device) to the service, store-and-forward."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from edge.capture.daemon import CaptureConfig, run_capture
from edge.capture.errors import CaptureError
from edge.capture.settings import FrameSource, ServiceLink, SpoolSettings
from edge.capture.spool import OverflowPolicy


def _parse_tags(values: list[str]) -> dict[str, str]:
    tags: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise CaptureError(f"--tag {item!r} must look like KEY=VALUE, e.g. --tag sku=4011")
        tags[key.strip()] = value.strip()
    return tags


SourceArg = Annotated[
    str, typer.Argument(help="A video file, an rtsp:// (or http://) URL, or a USB device index (0, /dev/video0).")
]
CameraOpt = Annotated[
    str, typer.Option("--camera", "-c", help="Camera id (as configured in the service); 1-64 of [A-Za-z0-9_.-].")
]
ServiceOpt = Annotated[
    str,
    typer.Option(
        envvar="QC_CAPTURE_SERVICE",
        help="The service's base URL, ws://host:port (or http://); /ws/<camera> is added. A URL with a path is "
        "used as is.",
    ),
]
TokenOpt = Annotated[
    str | None,
    typer.Option(
        envvar="QC_CAPTURE_TOKEN",
        help="The camera's bearer token (prefer the QC_CAPTURE_TOKEN variable: arguments are visible in `ps`).",
    ),
]
SpoolOpt = Annotated[
    Path | None,
    typer.Option(help="This camera's spool directory (one per camera). Default: ./qc-spool/<camera>."),
]
SpoolMbOpt = Annotated[float, typer.Option(help="Spool bound in MB of frame files; when full, --overflow decides.")]
OverflowOpt = Annotated[
    OverflowPolicy,
    typer.Option(
        help="A full spool: drop-oldest deletes the oldest unacked frame; stop-capturing skips new frames. "
        "Both are logged and counted."
    ),
]
FsyncOpt = Annotated[
    bool,
    typer.Option(
        "--fsync/--no-fsync",
        help="fsync every spool write (survives power loss); --no-fsync survives a crash of the daemon only.",
    ),
]
FpsOpt = Annotated[
    float | None, typer.Option(help="Frame-rate cap in frames per second (a file is decimated deterministically).")
]
MaxWidthOpt = Annotated[
    int | None, typer.Option(help="Shrink wider frames to this width before JPEG encoding, keeping the aspect.")
]
MaxHeightOpt = Annotated[int | None, typer.Option(help="Shrink taller frames to this height, keeping the aspect.")]
QualityOpt = Annotated[int, typer.Option(help="JPEG quality 1-100.")]
TagOpt = Annotated[list[str], typer.Option(help="A tag sent with every frame: sku=... or tote=...; repeatable.")]
RealtimeOpt = Annotated[
    bool,
    typer.Option(
        "--realtime/--fast",
        help="A file: replay at its frame rate like a camera, or as fast as the service acks (the reader then "
        "waits for the spool instead of dropping).",
    ),
]
FromStartOpt = Annotated[
    bool,
    typer.Option(
        "--from-start",
        help="A file: replay from frame 0 even if this spool sent part of it (same seqs: answered duplicate).",
    ),
]
MaxFramesOpt = Annotated[
    int | None, typer.Option(help="Stop after capturing this many frames in this run, drain the spool, exit.")
]
StallOpt = Annotated[float, typer.Option(help="Reopen a live source that gave no frame for this many seconds.")]
WindowOpt = Annotated[int, typer.Option(help="Frames in flight (sent, not yet acked) on the connection.")]
DrainOpt = Annotated[
    float, typer.Option(help="At the end of a file or --max-frames: seconds to wait for the last acks.")
]
AckTimeoutOpt = Annotated[float, typer.Option(help="Reconnect when a frame in flight waited this long for its ack.")]
BackoffInitialOpt = Annotated[float, typer.Option(help="First reconnect delay (s); doubles per failure, jittered.")]
BackoffMaxOpt = Annotated[float, typer.Option(help="Longest reconnect delay (s).")]
TransportOpt = Annotated[str, typer.Option(help="RTSP transport: tcp (no packet loss) or udp.")]
ProgressOpt = Annotated[float, typer.Option(help="Seconds between progress lines on stderr.")]


def capture(
    source: SourceArg,
    camera: CameraOpt,
    service: ServiceOpt = "ws://127.0.0.1:8000",
    token: TokenOpt = None,
    spool: SpoolOpt = None,
    spool_max_mb: SpoolMbOpt = 1024.0,
    overflow: OverflowOpt = OverflowPolicy.DROP_OLDEST,
    fsync: FsyncOpt = True,
    fps: FpsOpt = None,
    max_width: MaxWidthOpt = None,
    max_height: MaxHeightOpt = None,
    jpeg_quality: QualityOpt = 90,
    tag: TagOpt = [],  # noqa: B006 (typer reads the default; it is never mutated)
    realtime: RealtimeOpt = True,
    from_start: FromStartOpt = False,
    max_frames: MaxFramesOpt = None,
    stall_seconds: StallOpt = 10.0,
    window: WindowOpt = 32,
    drain_timeout: DrainOpt = 30.0,
    ack_timeout: AckTimeoutOpt = 30.0,
    backoff_initial: BackoffInitialOpt = 0.5,
    backoff_max: BackoffMaxOpt = 30.0,
    rtsp_transport: TransportOpt = "tcp",
    progress_seconds: ProgressOpt = 5.0,
) -> None:
    """Capture frames from one camera and stream them to `qc serve`; every frame stays spooled on disk until acked.

    Prints a JSON summary on stdout at the end (also kept in <spool>/stats.json while running); exit code 0
    when the source ended and every frame was acked (or on SIGINT/SIGTERM), 1 when frames are still spooled
    after --drain-timeout (they are resent on the next start), 2 on a bad setting or a refused camera.
    """
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    config = CaptureConfig(
        camera_id=camera,
        tags=_parse_tags(tag),
        frames=FrameSource(
            source=source, fps=fps, max_width=max_width, max_height=max_height, jpeg_quality=jpeg_quality,
            realtime=realtime, from_start=from_start, max_frames=max_frames, stall_seconds=stall_seconds,
            rtsp_transport=rtsp_transport,
        ),
        spool=SpoolSettings(
            spool_dir=spool if spool is not None else Path("qc-spool") / camera,
            max_bytes=int(spool_max_mb * 1024 * 1024),
            overflow=overflow, fsync=fsync,
        ),
        link=ServiceLink(
            service=service, token=token, window=window, ack_timeout=ack_timeout, drain_timeout=drain_timeout,
            backoff_initial=backoff_initial, backoff_max=backoff_max,
        ),
        progress_seconds=progress_seconds,
    )
    summary = run_capture(config, handle_signals=True)
    typer.echo(json.dumps(summary.to_json()))
    total = summary.total
    typer.secho(
        f"camera {camera}: captured {total.counters.captured} = acked {total.counters.acked_ok} "
        f"+ duplicate {total.counters.acked_duplicate} + dropped {sum(total.counters.dropped.values())} "
        f"+ still spooled {total.spooled} ({summary.stopped_by})",
        err=True,
    )
    if summary.stopped_by in ("end_of_source", "max_frames") and not summary.drained:
        typer.secho(
            f"camera {camera}: {total.spooled} frame(s) still unacked after {drain_timeout:.0f} s; they stay "
            "in the spool and are resent on the next start",
            err=True,
            fg=typer.colors.YELLOW,
        )
        raise typer.Exit(1)
