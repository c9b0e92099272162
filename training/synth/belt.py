"""The conveyor belt: a periodic texture (rubber grain, wear streaks, lacing seams, stains) and its side rails."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class BeltLook:
    """How one belt looks; drawn once per scene or clip."""

    tile: np.ndarray  # float32 (H, P, 3): one period of the moving belt, P >= frame width
    rail_top: int  # rows of static side rail at the top and bottom of the frame
    rail_bottom: int

    @property
    def belt_rows(self) -> tuple[int, int]:
        """First and last+1 row where items can ride."""
        return self.rail_top, self.tile.shape[0] - self.rail_bottom


def make_belt(height: int, period: int, px_per_m: float, rng: np.random.Generator) -> BeltLook:
    """Draw a belt tile ``period`` pixels long (it wraps around), with seams every 1.2-2.5 m and worn streaks."""
    base = rng.uniform(45, 95)
    tint = np.array([rng.uniform(0.92, 1.1), rng.uniform(0.95, 1.08), rng.uniform(0.9, 1.05)], np.float32)
    tile = np.full((height, period, 3), base, np.float32) * tint
    # Rubber grain: fine isotropic noise.
    grain = rng.normal(0, rng.uniform(3, 7), (height, period)).astype(np.float32)
    tile += cv2.GaussianBlur(grain, (3, 3), 0.7)[..., None]
    # Wear runs along the belt: streaks constant in x, varying across the belt.
    streaks = cv2.GaussianBlur(rng.normal(0, 1, (height, 1)).astype(np.float32), (1, 9), 3)
    tile += (streaks * rng.uniform(4, 10))[..., None]
    # Lighter scuffs in a few lanes, smeared along x.
    scuff = rng.random((height, period)).astype(np.float32) > 0.997
    scuff_img = cv2.GaussianBlur(scuff.astype(np.float32), (61, 3), 12) * rng.uniform(150, 350)
    tile += scuff_img[..., None]
    # Lacing seams across the belt; the period is a whole number of seam spacings so the tile wraps cleanly.
    n_seams = max(1, int(round(period / (px_per_m * rng.uniform(1.2, 2.5)))))
    seam_w = max(3, int(px_per_m * 0.008))
    for k in range(n_seams):
        x = int(k * period / n_seams + rng.uniform(0, period / n_seams * 0.3))
        colour = rng.uniform(110, 170) if rng.random() < 0.6 else rng.uniform(25, 40)
        tile[:, x : x + seam_w] = colour
        for y in range(0, height, max(4, seam_w * 2)):  # lacing pins
            cv2.circle(tile, (x + seam_w // 2, y), max(1, seam_w // 3), (colour * 1.3,) * 3, -1)
    # Stains that ride with the belt (oil, juice): distractors that are not produce.
    for _ in range(int(rng.integers(2, 7)) * max(1, period // 2000)):
        cx, cy = int(rng.uniform(0, period)), int(rng.uniform(0, height))
        ax = int(px_per_m * rng.uniform(0.01, 0.05))
        stain = np.zeros((height, period), np.float32)
        cv2.ellipse(stain, (cx, cy), (ax, int(ax * rng.uniform(0.4, 1))), rng.uniform(0, 180), 0, 360, 1.0, -1)
        stain = cv2.GaussianBlur(stain, (0, 0), max(1.0, ax / 4))
        tile *= (1 - stain * rng.uniform(0.25, 0.5))[..., None]
    rail = int(rng.choice([0, rng.integers(8, max(9, height // 12))]))
    rail_top, rail_bottom = rail, rail if rng.random() < 0.7 else int(rng.integers(0, max(1, height // 12)))
    return BeltLook(tile=np.clip(tile, 0, 255), rail_top=rail_top, rail_bottom=rail_bottom)


def belt_view(belt: BeltLook, width: int, offset_px: float) -> np.ndarray:
    """The visible window of the belt after it moved ``offset_px`` pixels (towards +x), rails drawn on top."""
    h, period = belt.tile.shape[:2]
    start = int(round(-offset_px)) % period
    cols = (np.arange(width) + start) % period
    view = belt.tile[:, cols].copy()
    metal = np.linspace(150, 110, max(belt.rail_top, 1), dtype=np.float32)
    if belt.rail_top:
        view[: belt.rail_top] = metal[:, None, None]
    if belt.rail_bottom:
        view[h - belt.rail_bottom :] = np.linspace(110, 150, belt.rail_bottom, dtype=np.float32)[:, None, None]
    return view
