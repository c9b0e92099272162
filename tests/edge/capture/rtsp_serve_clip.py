"""Serve a video file over RTSP with GStreamer's RTSP server (Debian: gir1.2-gst-rtsp-server-1.0, python3-gi).

Run with the system Python that has PyGObject (not the project's venv):
    /usr/bin/python3 rtsp_serve_clip.py CLIP.avi PORT [MOUNT]
The clip (MJPEG AVI, as the tests write it) is decoded and re-encoded as RTP/JPEG (RFC 2435), which
OpenCV's FFmpeg backend reads; every client session plays the clip once from its first frame, then ends.
Prints "ready" on stdout once it listens. With --probe, only checks that everything it needs is installed.
"""

import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

NEEDED = ("filesrc", "avidemux", "jpegdec", "videoconvert", "jpegenc", "rtpjpegpay")


def main() -> int:
    Gst.init(None)
    missing = [name for name in NEEDED if Gst.ElementFactory.find(name) is None]
    if missing:
        print(f"missing GStreamer elements: {missing}", file=sys.stderr)
        return 3
    if sys.argv[1:2] == ["--probe"]:
        return 0
    clip, port = sys.argv[1], sys.argv[2]
    mount = sys.argv[3] if len(sys.argv) > 3 else "/clip"
    server = GstRtspServer.RTSPServer()
    server.set_service(port)
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(
        f'( filesrc location="{clip}" ! avidemux ! jpegdec ! videoconvert ! jpegenc quality=90 '
        "! rtpjpegpay name=pay0 pt=26 )"
    )
    server.get_mount_points().add_factory(mount, factory)
    if server.attach(None) == 0:
        print(f"cannot listen on port {port}", file=sys.stderr)
        return 4
    print("ready", flush=True)
    GLib.MainLoop().run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
