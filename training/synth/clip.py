"""`qc synth clip`: a video of items riding the belt through the camera's view, with per-item truth.

Items ride the belt at a constant speed (+x in the image); each physical item keeps one id across frames.
``truth.json`` lists every item that was ever labelled-visible, with the frames and boxes where it was, and marks
with ``crosses_line`` the items that cross the default counting line (``counting_line``: x at
`vision.counting_line.DEFAULT_LINE_X` of the width): only those are counted by `qc inspect` and `qc count-table`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from training.synth.belt import belt_view, make_belt
from training.synth.distractors import random_distractor
from training.synth.frames import PX_PER_M_AT_640, RealAppearance, draw_item
from training.synth.items import SPOILED_SHARE_DEFAULT, ItemSpec, sample_item
from training.synth.produce import Sprite
from training.synth.scene import Camera, Placed, compose
from vision.counting_line import DEFAULT_LINE_X, crosses_vertical_line
from vision.taxonomy import Taxonomy


@dataclass(frozen=True)
class WorldObject:
    """Something lying on the belt at belt position ``x`` (pixels at t=0, +x downstream) and row ``y``."""

    sprite: Sprite
    x: float
    y: int
    item: int | None  # index into the clip's items; None for distractors


def _layout(
    taxonomy: Taxonomy,
    travel_px: float,
    width: int,
    rows: tuple[int, int],
    px_per_m: float,
    density: float,
    spoiled_share: float,
    rng: np.random.Generator,
    real: RealAppearance | None = None,
    produce: bool = True,
) -> tuple[list[ItemSpec], list[WorldObject], list[bool]]:
    """Lay items along the stretch of belt that passes the view: Poisson spacing at ``density`` items/m,
    random lateral position, neighbours allowed to touch but not to hide each other. Also returns, per item,
    whether it is a real cut-out. ``produce=False`` lays no items at all (a clip of clutter only)."""
    real_rng = np.random.default_rng(int(rng.integers(2**63))) if real is not None else rng
    is_real: list[bool] = []
    specs: list[ItemSpec] = []
    objects: list[WorldObject] = []
    boxes: list[tuple[float, float, float, float]] = []
    x = -travel_px - 0.3 * px_per_m
    end = width + 0.1 * px_per_m
    while produce:
        x += rng.exponential(px_per_m / density)
        if x > end:
            break
        spec = sample_item(taxonomy, px_per_m, spoiled_share, rng)
        sprite, from_photo = draw_item(spec, rng, real, real_rng)
        sh, sw = sprite.alpha.shape
        for attempt in range(12):
            y = int(rng.uniform(rows[0] - 0.1 * sh, rows[1] - 0.9 * sh))
            bx = x + (attempt // 4) * sw * 0.5  # nudge downstream when the lane is crowded
            box = (bx, y, bx + sw, y + sh)
            if all(_hidden(box, b) < 0.25 for b in boxes):
                break
        specs.append(spec)
        is_real.append(from_photo)
        objects.append(WorldObject(sprite, bx, y, len(specs) - 1))
        boxes.append(box)
    for _ in range(int(rng.poisson(max(1.0, (travel_px + width) / px_per_m * 1.5)))):
        d = random_distractor(px_per_m, rng)
        objects.insert(0, WorldObject(d, float(rng.uniform(-travel_px, width)), int(rng.uniform(0, rows[1])), None))
    if real is not None and real.sprites.clutter:
        stretch_m = (travel_px + width) / px_per_m
        for _ in range(int(real_rng.poisson(stretch_m * real.clutter_per_frame))):
            d = real.sprites.clutter_patch(px_per_m, real_rng)
            objects.insert(0, WorldObject(d, float(real_rng.uniform(-travel_px, width)),
                                          int(real_rng.uniform(rows[0] - 0.3 * d.alpha.shape[0], rows[1])), None))
    return specs, objects, is_real


def _hidden(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Intersection over the smaller box."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    small = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return iw * ih / max(small, 1.0)


def generate_clip(
    out: Path,
    seconds: float,
    fps: float,
    seed: int,
    taxonomy: Taxonomy,
    speed: float = 1.0,
    density: float = 3.0,
    width: int = 640,
    height: int = 360,
    spoiled_share: float = SPOILED_SHARE_DEFAULT,
    on_frame: Callable[[int, int], None] | None = None,
    real: RealAppearance | None = None,
    produce: bool = True,
) -> dict:
    """Write ``out/clip.mp4`` and ``out/truth.json``; returns the truth document. ``real`` draws items from real
    cut-outs and lays real clutter (``clutter_per_frame`` is then patches per metre of belt); ``produce=False``
    renders a clip with no produce at all (clutter and distractors only: nothing may be counted)."""
    if seconds <= 0 or fps <= 0 or speed <= 0 or density <= 0:
        raise ValueError("seconds, fps, speed and density must all be > 0")
    rng = np.random.default_rng(seed)
    px_per_m = PX_PER_M_AT_640 * width / 640
    n_frames = max(1, int(round(seconds * fps)))
    step_px = speed * px_per_m / fps
    travel = step_px * n_frames
    belt = make_belt(height, max(4096, width * 4), px_per_m, rng)
    specs, objects, is_real = _layout(taxonomy, travel, width, belt.belt_rows, px_per_m, density, spoiled_share, rng,
                                      real, produce)
    camera = Camera.random(height, width, rng)
    exposure = rng.uniform(1 / 1000, 1 / 300)
    blur = speed * px_per_m * exposure
    flicker_hz = rng.uniform(0.5, 3.0)  # mains flicker aliased by the frame rate: a slow beat

    out.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(out / "clip.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    if not writer.isOpened():
        raise RuntimeError("OpenCV cannot write mp4 here (no mp4v encoder)")
    seen: dict[int, dict[str, list]] = {}
    try:
        for k in range(n_frames):
            shift = step_px * k
            placed = []
            for o in objects:
                sx = int(round(o.x + shift))
                if sx > width or sx + o.sprite.alpha.shape[1] < 0:
                    continue
                placed.append(Placed(o.sprite, sx, o.y, o.item))
            # compose() numbers items 0..n-1 in its box list; map clip item ids onto that.
            ids = [p.label for p in placed if p.label is not None]
            local = {item: i for i, item in enumerate(ids)}
            placed = [Placed(p.sprite, p.x, p.y, None if p.label is None else local[p.label]) for p in placed]
            flicker = 1.0 + 0.04 * np.sin(2 * np.pi * flicker_hz * k / fps) + rng.normal(0, 0.01)
            image, boxes = compose(belt_view(belt, width, shift), placed, camera, len(ids), rng, flicker, blur)
            writer.write(image)
            for item, box in zip(ids, boxes):
                if box is not None:
                    rec = seen.setdefault(item, {"frames": [], "boxes": []})
                    rec["frames"].append(k)
                    rec["boxes"].append([round(v, 1) for v in box])
            if on_frame:
                on_frame(k, n_frames)
    finally:
        writer.release()
    line_x = DEFAULT_LINE_X * width
    truth = {
        "seed": seed,
        "fps": fps,
        "seconds": seconds,
        "frames": n_frames,
        "width": width,
        "height": height,
        "speed_m_per_s": speed,
        "density_items_per_m": density,
        "px_per_m": px_per_m,
        "direction": "+x",
        # Where the counter counts by default; items whose centre crosses it are the ones a count should find.
        "counting_line": {"x": round(line_x, 2), "fraction_of_width": DEFAULT_LINE_X},
        "items": [
            {
                "id": item,
                "produce": specs[item].produce,
                "condition": specs[item].condition,
                "class_id": specs[item].class_id(taxonomy),
                "severity": round(specs[item].severity, 3),
                "appearance": "real" if is_real[item] else "rendered",
                "frames": rec["frames"],
                "boxes": rec["boxes"],
                "crosses_line": crosses_vertical_line(rec["boxes"], line_x, "+x"),
            }
            for item, rec in sorted(seen.items())
        ],
    }
    (out / "truth.json").write_text(json.dumps(truth, indent=1))
    return truth
