"""Conveyor frames as cameras deliver them: 16:9 JPEG bytes, rendered by `qc synth clip` in a separate process.

Edge never imports `training`; on a node without the training extra (no renderer) the bench draws plain frames
(grey belt, coloured discs) instead and says so, or reads a video or folder of JPEGs the user names.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vision.errors import InputError

JPEG_QUALITY = 90  # what the capture daemon sends
RENDER_FPS = 15.0


@dataclass(frozen=True)
class BenchFrames:
    """The JPEG payloads every measurement uses, and where they came from."""

    jpegs: list[bytes]
    width: int
    height: int
    source: str  # "qc synth clip", "drawn" or the path read

    @property
    def mean_bytes(self) -> float:
        """Mean JPEG size."""
        return sum(len(j) for j in self.jpegs) / max(len(self.jpegs), 1)


def encode(image: np.ndarray) -> bytes:
    """One frame as the capture daemon encodes it."""
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise InputError(f"cannot JPEG-encode a frame of shape {image.shape}")
    return buf.tobytes()


def read_video_frames(path: Path, count: int) -> list[np.ndarray]:
    """Up to ``count`` BGR frames of a video file."""
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise InputError(f"cannot open video {path}")
    frames: list[np.ndarray] = []
    try:
        while len(frames) < count:
            ok, image = cap.read()
            if not ok:
                break
            frames.append(image)
    finally:
        cap.release()
    if not frames:
        raise InputError(f"video {path} has no decodable frames")
    return frames


def render_clip(count: int, width: int, height: int, seed: int) -> list[np.ndarray] | None:
    """``count`` frames of a `qc synth clip` rendered in a subprocess; None when the renderer is not installed."""
    with tempfile.TemporaryDirectory(prefix="qc-bench-clip-") as tmp:
        cmd = [sys.executable, "-m", "vision.cli", "synth", "clip", "--out", tmp, "--seconds",
               f"{count / RENDER_FPS:.3f}", "--fps", str(RENDER_FPS), "--seed", str(seed),
               "--imgsz", str(width), str(height)]
        done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if done.returncode != 0:
            return None
        return read_video_frames(Path(tmp) / "clip.mp4", count)


def drawn_frames(count: int, width: int, height: int, seed: int) -> list[np.ndarray]:
    """Plain stand-ins when nothing can render: a grey belt with coloured discs moving along it."""
    rng = np.random.default_rng(seed)
    items = [(int(rng.integers(0, width)), int(rng.integers(height // 5, 4 * height // 5)),
              int(rng.integers(height // 12, height // 6)), tuple(int(c) for c in rng.integers(30, 230, 3)))
             for _ in range(8)]
    frames = []
    for k in range(count):
        image = np.full((height, width, 3), 70, np.uint8)
        for x, y, r, colour in items:
            cv2.circle(image, ((x + 12 * k) % (width + 2 * r) - r, y), r, colour, -1)
        frames.append(image)
    return frames


def load_frames(count: int, width: int, height: int, seed: int, source: Path | None = None) -> BenchFrames:
    """``count`` JPEG frames: from ``source`` (a video or a folder of .jpg), else rendered, else drawn.

    Frames are resized to ``width`` x ``height`` when a source has another size, and cycled when it has fewer.
    """
    if count < 1:
        raise InputError(f"frames must be >= 1, got {count}")
    if source is not None:
        if source.is_dir():
            files = sorted(source.glob("*.jpg")) + sorted(source.glob("*.jpeg"))
            images = [im for im in (cv2.imread(str(f)) for f in files[:count]) if im is not None]
            if not images:
                raise InputError(f"no readable .jpg files in {source}")
        elif source.is_file():
            images = read_video_frames(source, count)
        else:
            raise InputError(f"frame source not found: {source}")
        label = str(source)
    else:
        rendered = render_clip(count, width, height, seed)
        images, label = (rendered, "qc synth clip") if rendered else (drawn_frames(count, width, height, seed), "drawn")
    images = [im if im.shape[:2] == (height, width) else cv2.resize(im, (width, height)) for im in images]
    jpegs = [encode(images[k % len(images)]) for k in range(count)]
    return BenchFrames(jpegs=jpegs, width=width, height=height, source=label)
