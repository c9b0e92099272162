"""Real fresh fruit with the renderer's rot painted on: rotten examples whose skin, stem and shape are real.

The real photos hold few rotten fruit of each kind (the shared set: 60 rotten apples and 40 rotten bananas, a
quarter held out), and a grader trained on them calls some new rotten apples and bananas another produce: decay
hides the kind's cues it learned from so few. Painting the renderer's rotten cue (`training.synth.produce.paint_rot`)
inside the checked mask of a real *fresh* fruit gives a rotten example that keeps that fruit's real skin and
outline, so the kind must be read from what decay leaves visible. The cue is a render, not real decay: these
examples add to the real rotten photos, never replace them.

Measured once (README, "A grader with painted rot"): a grader trained with four such crops per fresh photo flagged
fewer real rotten photos, on its own and averaged with the shipped grader, so no shipped grader uses them; the
option stays for a cue that looks more like real decay.
"""

from __future__ import annotations

import cv2
import numpy as np

from training.real.cutout import Cutout
from training.synth.produce import paint_rot

# The photo is shrunk so the fruit's longer side is at most this many pixels (the grader sees a 160-px crop), and
# the cue is drawn at `PAINT_SIDE` and its change scaled up: the renderer's noise is tuned for items of 30-100
# pixels and turns streaky when drawn hundreds of pixels wide.
MAX_FRUIT_SIDE = 400
PAINT_SIDE = 96
CHANGE_BLUR = 1.5  # pixels at `PAINT_SIDE`: smooths the renderer's box-filtered noise, whose streaks show when scaled up
DARK_DECAY = (15, 25, 35)  # BGR: the renderer's rot
BROWN_DECAY = (35, 70, 115)  # BGR: a soft brown rot patch
DECAY_STRENGTH = (0.7, 0.92)
ELONGATED_THICKNESS = 0.55  # a banana's half-thickness over the radius of a disc of its area (a crescent ~ 4:1)


def painted_rot(
    image: np.ndarray, cut: Cutout, elongated: bool, rng: np.random.Generator,
) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """``image`` (BGR uint8) with a random-severity rotten cue painted inside ``cut``'s mask, shrunk so the fruit
    is at most `MAX_FRUIT_SIDE` pixels long, and the fruit's box (x0, y0, x1, y1) in the returned image."""
    if not cut.ok:
        raise ValueError(f"a cut-out whose mask failed its check cannot be painted: {cut.problem}")
    x0, y0, x1, y1 = cut.box
    scale = min(1.0, MAX_FRUIT_SIDE / max(x1 - x0, y1 - y0))
    out = image.copy() if scale == 1.0 else cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    h, w = out.shape[:2]
    bx0, by0 = int(x0 * scale), int(y0 * scale)
    bx1, by1 = min(w, max(bx0 + 1, round(x1 * scale))), min(h, max(by0 + 1, round(y1 * scale)))
    alpha = cv2.resize(cut.alpha, (bx1 - bx0, by1 - by0), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    r = float(np.sqrt(alpha.sum() / np.pi)) * (ELONGATED_THICKNESS if elongated else 1.0)
    region = out[by0:by1, bx0:bx1].astype(np.float32)
    f = min(1.0, PAINT_SIDE / max(alpha.shape))
    small_size = (max(4, round(alpha.shape[1] * f)), max(4, round(alpha.shape[0] * f)))
    small = cv2.resize(region, small_size, interpolation=cv2.INTER_AREA)
    small_alpha = cv2.resize(alpha, small_size, interpolation=cv2.INTER_AREA)
    if not (small_alpha > 0.9).any():
        raise ValueError("the cut-out's mask has no solid pixels to paint")
    r *= f
    # Real decay runs from near-black to soft brown and lets the skin's texture show through: both drawn at random.
    colour = tuple(float(v) for v in np.array(DARK_DECAY) + rng.uniform(0, 1) * (np.array(BROWN_DECAY) - DARK_DECAY))
    painted, _ = paint_rot(small, small_alpha, r, float(rng.uniform(0.0, 1.0)), elongated, rng,
                           decay_colour=colour, decay_strength=float(rng.uniform(*DECAY_STRENGTH)))
    change = cv2.GaussianBlur(painted - small, (0, 0), CHANGE_BLUR)
    change = cv2.resize(change, (region.shape[1], region.shape[0]), interpolation=cv2.INTER_CUBIC)
    out[by0:by1, bx0:bx1] = np.clip(region + change * alpha[..., None], 0, 255).astype(np.uint8)
    return out, (bx0, by0, bx1, by1)
