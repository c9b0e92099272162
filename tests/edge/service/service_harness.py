"""A real uvicorn running the real app in a thread, real clients for it, and real JPEG frames.

Imported by sibling test modules (pytest puts this folder on sys.path).
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import uvicorn
from websockets.sync.client import ClientConnection, connect

from edge.config import ServeConfig, load_config
from edge.protocol import Ack, FrameHeader, encode_frame, parse_ack
from edge.service.server import uvicorn_config

TOKENS = {"cam1": "token-cam1-secret", "cam2": "token-cam2-secret"}


def frame_jpeg(seq: int, w: int = 320, h: int = 240, seed: int = 0) -> bytes:
    """A conveyor-ish JPEG: grey belt with a round 'item' moving left to right with ``seq``."""
    rng = np.random.default_rng(seed)
    img = np.full((h, w, 3), 90, np.uint8)
    img += rng.integers(0, 12, img.shape, dtype=np.uint8)
    cx = int((seq * 12) % (w + 60)) - 30
    cv2.circle(img, (cx, h // 2), 28, (40, 80, 200), -1)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:
        raise RuntimeError("cv2.imencode failed")
    return buf.tobytes()


def message(camera_id: str, seq: int, payload: bytes | None = None, **tags: str) -> bytes:
    """A frame message for ``camera_id``/``seq`` (a real JPEG unless ``payload`` is given)."""
    header = FrameHeader(camera_id=camera_id, seq=seq, captured_at=1_800_000_000.0 + seq / 10, tags=tags)
    return encode_frame(header, frame_jpeg(seq) if payload is None else payload)


def raw_message(header: dict[str, Any] | bytes, payload: bytes) -> bytes:
    """A frame message built by hand (to break the format on purpose)."""
    head = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack(">I", len(head)) + head + payload


def service_config(tmp: Path, registry_root: Path, **sections: Any) -> ServeConfig:
    """Two cameras, a SQLite store under ``tmp``, the test registry; ``sections`` override whole sections."""
    raw: dict[str, Any] = {
        "data_dir": str(tmp),
        "cameras": [{"id": cam, "token": tok, "line": {"x": 0.5}} for cam, tok in TOKENS.items()],
        # imgsz 320 whatever the model was trained at: these tests check plumbing, on a shared 2-core CPU
        "model": {"registry_root": str(registry_root), "providers": ["CPUExecutionProvider"], "imgsz": 320},
        "service": {"host": "127.0.0.1", "port": 0, "log_level": "warning", "shutdown_grace_s": 5},
        "batcher": {"max_batch": 4, "max_wait_ms": 5, "queue_limit": 32},
    }
    raw.update(sections)
    return load_config(None, **raw)


class RunningService:
    """uvicorn serving `create_app(config)` on a free port, in a daemon thread."""

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self.server = uvicorn.Server(uvicorn_config(config))
        self._thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self._sock]}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ws_url(self, camera_id: str) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/{camera_id}"

    def start(self, ready_timeout: float = 60.0, expect_ready: bool = True) -> RunningService:
        """Start and wait until the model step is over: ready (or, with ``expect_ready=False``, settled)."""
        self._thread.start()
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if not self._thread.is_alive():
                raise RuntimeError("the service thread died during start-up")
            try:
                r = httpx.get(f"{self.url}/readyz", timeout=2)
            except httpx.TransportError:
                time.sleep(0.05)
                continue
            settled = r.json()["checks"]["model"] != "loading" and r.json()["checks"]["pipeline"] != "not started"
            if r.status_code == 200 or (not expect_ready and (settled or "not loaded" in r.json()["checks"]["model"])):
                return self
            if expect_ready and r.json()["checks"]["model"].startswith("not loaded"):
                raise RuntimeError(f"model failed to load: {r.json()}")
            time.sleep(0.05)
        raise RuntimeError("the service did not become ready")

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=30)
        self._sock.close()


@contextmanager
def running(config: ServeConfig, expect_ready: bool = True) -> Iterator[RunningService]:
    """A started service, stopped at exit."""
    svc = RunningService(config).start(expect_ready=expect_ready)
    try:
        yield svc
    finally:
        svc.stop()


def open_stream(svc: RunningService, camera_id: str, token: str | None = None) -> ClientConnection:
    """A WebSocket stream for ``camera_id`` with its token (or ``token``)."""
    tok = TOKENS.get(camera_id, "") if token is None else token
    return connect(svc.ws_url(camera_id), additional_headers={"Authorization": f"Bearer {tok}"},
                   max_size=2**20, open_timeout=10)


def send_and_ack(ws: ClientConnection, data: bytes, timeout: float = 30.0) -> Ack:
    """Send one message and read one ack."""
    ws.send(data)
    return parse_ack(ws.recv(timeout=timeout))


def metric_value(exposition: str, name: str, **labels: str) -> float | None:
    """The value of one series in a Prometheus text exposition (None if absent)."""
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in exposition.splitlines():
        if line.startswith("#"):
            continue
        series, _, value = line.rpartition(" ")
        if series == (f"{name}{{{want}}}" if want else name):
            return float(value)
    return None


def clip_as_jpegs(out: Path, seconds: float, seed: int, density: float) -> list[bytes]:
    """A synthetic conveyor clip (10 fps, 320x180, 1 m/s) rendered into ``out``, as the JPEGs a capture daemon sends."""
    from training.synth.clip import generate_clip
    from vision.taxonomy import Taxonomy

    generate_clip(out, seconds, 10.0, seed=seed, taxonomy=Taxonomy.load(), speed=1.0, density=density,
                  width=320, height=180)
    cap = cv2.VideoCapture(str(out / "clip.mp4"))
    jpegs: list[bytes] = []
    while True:
        ok, image = cap.read()
        if not ok:
            break
        jpegs.append(cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes())
    cap.release()
    return jpegs


def wait_for(check: Callable[[], Any], timeout: float = 60.0) -> Any:
    """Poll ``check`` every 0.1 s until it returns something truthy, and return that; TimeoutError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise TimeoutError("condition not reached")
