"""Composing a camera image: belt view, shadows, items and distractors in z-order, then the camera's effects.

Labels are exact: each item's box is the bounding box of the pixels where it is the top-most object,
and an item is labelled only while at least ``MIN_VISIBLE`` of it is in view and unoccluded.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from training.synth.produce import Sprite

MIN_VISIBLE = 0.4  # below this fraction visible, the condition cue may be hidden: not labelled, not counted


@dataclass(frozen=True)
class Placed:
    """A sprite at an integer top-left position in the frame; ``label`` is None for distractors."""

    sprite: Sprite
    x: int
    y: int
    label: int | None  # index into the caller's item list


@dataclass(frozen=True)
class Camera:
    """The camera's look for one scene or clip: lighting field, white balance, shadow direction, noise."""

    light: np.ndarray  # float32 (H, W) gain
    white_balance: np.ndarray  # float32 (3,) per-channel gain
    shadow_offset: tuple[int, int]
    shadow_strength: float
    noise_sigma: float

    @classmethod
    def random(cls, height: int, width: int, rng: np.random.Generator) -> Camera:
        """A plausible lighting/exposure setup: uneven light from one side, vignetting, a colour cast."""
        yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
        ang = rng.uniform(0, 2 * np.pi)
        ramp = (np.cos(ang) * (xx / width - 0.5) + np.sin(ang) * (yy / height - 0.5)) * rng.uniform(0.1, 0.45)
        vignette = ((xx / width - 0.5) ** 2 + (yy / height - 0.5) ** 2) * rng.uniform(0.2, 0.8)
        light = (rng.uniform(0.8, 1.2) + ramp - vignette).astype(np.float32)
        wb = rng.uniform(0.88, 1.12, 3).astype(np.float32)
        return cls(
            light=light,
            white_balance=wb,
            shadow_offset=(int(rng.integers(-6, 7)), int(rng.integers(2, 9))),
            shadow_strength=float(rng.uniform(0.25, 0.55)),
            noise_sigma=float(rng.uniform(1.5, 6.0)),
        )


def _paste_region(h: int, w: int, p: Placed) -> tuple[slice, slice, slice, slice] | None:
    """Frame slices and sprite slices where sprite ``p`` overlaps the frame, or None if outside."""
    sh, sw = p.sprite.alpha.shape
    x0, y0, x1, y1 = max(p.x, 0), max(p.y, 0), min(p.x + sw, w), min(p.y + sh, h)
    if x0 >= x1 or y0 >= y1:
        return None
    return slice(y0, y1), slice(x0, x1), slice(y0 - p.y, y1 - p.y), slice(x0 - p.x, x1 - p.x)


def compose(
    background: np.ndarray,
    objects: list[Placed],
    camera: Camera,
    n_items: int,
    rng: np.random.Generator,
    flicker: float = 1.0,
    blur_px: float = 0.0,
) -> tuple[np.ndarray, list[tuple[float, float, float, float] | None]]:
    """Render ``objects`` (bottom to top) over ``background``; returns the BGR uint8 image and, for each item
    label 0..n_items-1, its visible box (x0, y0, x1, y1) in pixels, or None when too little of it shows."""
    h, w = background.shape[:2]
    img = background.astype(np.float32).copy()
    # Shadows first: every object darkens the belt below and beside it.
    shadow = np.zeros((h, w), np.float32)
    dx, dy = camera.shadow_offset
    for p in objects:
        moved = Placed(p.sprite, p.x + dx, p.y + dy, None)
        reg = _paste_region(h, w, moved)
        if reg:
            fy, fx, sy, sx = reg
            shadow[fy, fx] = np.maximum(shadow[fy, fx], p.sprite.alpha[sy, sx])
    shadow = cv2.GaussianBlur(shadow, (0, 0), 3.0)
    img *= (1 - camera.shadow_strength * shadow)[..., None]

    owner = np.full((h, w), -1, np.int32)
    full_area = np.zeros(n_items, np.float64)
    for p in objects:
        if p.label is not None:
            full_area[p.label] = float((p.sprite.alpha > 0.5).sum())
        reg = _paste_region(h, w, p)
        if reg is None:
            continue
        fy, fx, sy, sx = reg
        a = p.sprite.alpha[sy, sx][..., None]
        img[fy, fx] = img[fy, fx] * (1 - a) + p.sprite.bgr[sy, sx] * a
        solid = p.sprite.alpha[sy, sx] > 0.5
        owner[fy, fx][solid] = -1 if p.label is None else p.label

    img *= (camera.light * flicker)[..., None] * camera.white_balance
    if blur_px >= 1.5:  # motion blur along the belt
        k = int(round(blur_px)) | 1
        kernel = np.zeros((1, k), np.float32)
        kernel[0, :] = 1.0 / k
        img = cv2.filter2D(img, -1, kernel)
    img += rng.normal(0, camera.noise_sigma, img.shape).astype(np.float32)
    out = np.clip(img, 0, 255).astype(np.uint8)

    boxes: list[tuple[float, float, float, float] | None] = [None] * n_items
    labels_present = np.unique(owner[owner >= 0])
    for label in labels_present:
        ys, xs = np.nonzero(owner == label)
        if len(xs) < MIN_VISIBLE * full_area[label] or len(xs) < 25:
            continue
        boxes[label] = (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))
    return out, boxes


def jpeg_roundtrip(image: np.ndarray, quality: int) -> np.ndarray:
    """Encode and decode as JPEG: the artefacts a camera stream adds."""
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)
