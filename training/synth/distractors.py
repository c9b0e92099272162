"""Things on a conveyor that are not produce: leaves, price stickers, paper scraps. Never labelled."""

from __future__ import annotations

import cv2
import numpy as np

from training.synth.produce import Sprite


def render_leaf(size_px: float, rng: np.random.Generator) -> Sprite:
    """A green or withered leaf with a midrib."""
    w, h = max(6, int(size_px)), max(4, int(size_px * rng.uniform(0.35, 0.55)))
    alpha = np.zeros((h, w), np.float32)
    cv2.ellipse(alpha, (w // 2, h // 2), (w // 2 - 1, h // 2 - 1), 0, 0, 360, 1.0, -1, cv2.LINE_AA)
    green = rng.random() < 0.7
    colour = (40, rng.uniform(110, 160), 50) if green else (40, 90, 120)
    bgr = np.empty((h, w, 3), np.float32)
    bgr[:] = colour
    cv2.line(bgr, (1, h // 2), (w - 2, h // 2), tuple(c * 1.3 for c in colour), 1, cv2.LINE_AA)
    return Sprite(bgr=bgr, alpha=alpha)


def render_sticker(size_px: float, rng: np.random.Generator) -> Sprite:
    """A PLU/price sticker: a small light oval or rectangle with dark print lines."""
    w, h = max(5, int(size_px)), max(4, int(size_px * rng.uniform(0.6, 0.8)))
    alpha = np.zeros((h, w), np.float32)
    if rng.random() < 0.5:
        cv2.ellipse(alpha, (w // 2, h // 2), (w // 2 - 1, h // 2 - 1), 0, 0, 360, 1.0, -1, cv2.LINE_AA)
    else:
        alpha[1:-1, 1:-1] = 1.0
    paper = [(235, 235, 235), (80, 200, 240), (230, 180, 60), (90, 200, 90)][int(rng.integers(4))]
    bgr = np.empty((h, w, 3), np.float32)
    bgr[:] = paper
    for y in range(h // 4, h - 1, max(2, h // 4)):
        cv2.line(bgr, (w // 5, y), (w - w // 5, y), (40, 40, 40), 1)
    return Sprite(bgr=bgr, alpha=alpha)


def render_scrap(size_px: float, rng: np.random.Generator) -> Sprite:
    """A torn piece of paper or cardboard."""
    w, h = max(6, int(size_px)), max(6, int(size_px * rng.uniform(0.5, 1.0)))
    alpha = np.zeros((h, w), np.float32)
    pts = np.stack([rng.uniform(0, w, 6), rng.uniform(0, h, 6)], 1).astype(np.int32)
    cv2.fillPoly(alpha, [cv2.convexHull(pts)], 1.0, cv2.LINE_AA)
    colour = (200, 210, 215) if rng.random() < 0.5 else (90, 140, 170)
    bgr = np.empty((h, w, 3), np.float32)
    bgr[:] = colour
    return Sprite(bgr=bgr, alpha=alpha)


def random_distractor(px_per_m: float, rng: np.random.Generator) -> Sprite:
    """One distractor of a random kind at a plausible size."""
    kind = rng.choice(["leaf", "sticker", "scrap"], p=[0.45, 0.3, 0.25])
    if kind == "leaf":
        return render_leaf(px_per_m * rng.uniform(0.03, 0.07), rng)
    if kind == "sticker":
        return render_sticker(px_per_m * rng.uniform(0.015, 0.025), rng)
    return render_scrap(px_per_m * rng.uniform(0.02, 0.06), rng)
