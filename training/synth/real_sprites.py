"""Real appearance on the rendered belt: cut-outs of real produce as items, real non-produce photos as clutter.

A folder of cut-outs (``qc dataset real-prep`` writes one per split) is laid out as
``<folder>/<produce>_<condition>/*.png`` with an alpha channel. An item whose produce and condition have cut-outs
is drawn from a random one of them, scaled to the item's physical size and rotated; everything else about the
frame (belt, light, shadows, motion blur, noise, JPEG) is the renderer's, so the label stays exact: the box is the
cut-out's visible mask. A folder of clutter photos (any images) gives distractors: irregular patches of real
scenes (people, animals, paper, text, tools) riding the belt, never labelled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from training.synth.produce import Sprite, rotate_sprite
from vision.errors import InputError

CLUTTER_SIZE_M = (0.05, 0.22)  # a label, a glove, a sheet of paper, a tool: from smaller to larger than a fruit


def _load_rgba(path: Path) -> Sprite:
    """A cut-out PNG as a `Sprite` (BGR float 0..255, alpha 0..1); InputError when it has no alpha channel."""
    im = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if im is None or im.ndim != 3 or im.shape[2] != 4:
        raise InputError(f"{path} is not a PNG with an alpha channel (a cut-out)")
    return Sprite(bgr=im[..., :3].astype(np.float32), alpha=im[..., 3].astype(np.float32) / 255.0)


@dataclass(frozen=True)
class RealSprites:
    """Cut-outs per detector class name (``apple_rotten`` …) and clutter photos, loaded once per run."""

    cutouts: dict[str, list[Sprite]] = field(default_factory=dict)
    clutter: list[np.ndarray] = field(default_factory=list)

    @classmethod
    def load(cls, cutouts: Path | None = None, clutter: Path | None = None) -> RealSprites:
        """Read ``cutouts/<produce>_<condition>/*.png`` and every image under ``clutter``; InputError naming an
        empty or missing folder."""
        found: dict[str, list[Sprite]] = {}
        if cutouts is not None:
            if not cutouts.is_dir():
                raise InputError(f"cut-out folder not found: {cutouts}")
            for folder in sorted(p for p in cutouts.iterdir() if p.is_dir()):
                sprites = [_load_rgba(p) for p in sorted(folder.glob("*.png"))]
                if sprites:
                    found[folder.name] = sprites
            if not found:
                raise InputError(f"no cut-outs in {cutouts} (expected <produce>_<condition>/*.png)")
        photos: list[np.ndarray] = []
        if clutter is not None:
            if not clutter.is_dir():
                raise InputError(f"clutter folder not found: {clutter}")
            for p in sorted(clutter.rglob("*")):
                if p.suffix.lower() in (".jpg", ".jpeg", ".png"):
                    im = cv2.imread(str(p), cv2.IMREAD_COLOR)
                    if im is not None:
                        photos.append(im)
            if not photos:
                raise InputError(f"no images in clutter folder {clutter}")
        return cls(found, photos)

    def has(self, produce: str, condition: str) -> bool:
        """Whether there is a cut-out of this produce in this condition."""
        return f"{produce}_{condition}" in self.cutouts

    def item(self, produce: str, condition: str, size_px: float, angle_deg: float, rng: np.random.Generator) -> Sprite:
        """A random cut-out of the class, its longer side scaled to ``size_px`` (the item's physical size on this
        camera), a little colour and brightness jitter (cameras differ), rotated by ``angle_deg``."""
        choices = self.cutouts[f"{produce}_{condition}"]
        src = choices[int(rng.integers(len(choices)))]
        h, w = src.alpha.shape
        scale = size_px / max(h, w)
        size = (max(4, round(w * scale)), max(4, round(h * scale)))
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        bgr = cv2.resize(src.bgr, size, interpolation=interp)
        alpha = cv2.resize(src.alpha, size, interpolation=interp)
        bgr = np.clip(bgr * rng.uniform(0.85, 1.15) * rng.uniform(0.95, 1.05, 3), 0, 255).astype(np.float32)
        return rotate_sprite(Sprite(bgr=bgr, alpha=alpha), angle_deg)

    def clutter_patch(self, px_per_m: float, rng: np.random.Generator) -> Sprite:
        """An irregular patch (a rough ellipse or a torn rectangle) cut from a random clutter photo."""
        photo = self.clutter[int(rng.integers(len(self.clutter)))]
        ph, pw = photo.shape[:2]
        side = int(np.clip(rng.uniform(*CLUTTER_SIZE_M) * px_per_m, 12, 0.9 * min(ph, pw, 4 * px_per_m)))
        aspect = rng.uniform(0.5, 1.0)
        w, h = side, max(8, int(side * aspect))
        src_side = int(rng.uniform(0.25, 1.0) * min(ph, pw))
        x, y = int(rng.integers(0, pw - src_side + 1)), int(rng.integers(0, ph - src_side + 1))
        bgr = cv2.resize(photo[y : y + src_side, x : x + src_side], (w, h), interpolation=cv2.INTER_AREA)
        alpha = np.zeros((h, w), np.float32)
        if rng.random() < 0.5:
            cv2.ellipse(alpha, (w // 2, h // 2), (w // 2 - 1, h // 2 - 1), 0, 0, 360, 1.0, -1, cv2.LINE_AA)
        else:
            pts = np.array([[rng.uniform(0, 0.1) * w, rng.uniform(0, 0.1) * h],
                            [w - rng.uniform(0, 0.1) * w, rng.uniform(0, 0.1) * h],
                            [w - rng.uniform(0, 0.1) * w, h - rng.uniform(0, 0.1) * h],
                            [rng.uniform(0, 0.1) * w, h - rng.uniform(0, 0.1) * h]], np.int32)
            cv2.fillPoly(alpha, [pts], 1.0, cv2.LINE_AA)
        return rotate_sprite(Sprite(bgr=bgr.astype(np.float32), alpha=alpha), float(rng.uniform(0, 360)))
