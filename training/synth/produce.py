"""Produce sprites: one item of a produce kind in a condition, drawn top-down with a visual cue per condition.

A sprite is an RGB-free BGR float image plus an alpha mask, in the item's own frame (unrotated).
Each condition's cue scales with a severity in [0, 1] but stays visible at 0 (bruise: large soft mauve-brown matte patch;
overripe: dull, wrinkled, brown-spotted; rotten: dark decay and mould).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# Physical sizes in metres (mean, spread): what keeps items in a plausible scale against the belt.
SIZES_M: dict[str, tuple[float, float]] = {
    "apple": (0.076, 0.008),
    "orange": (0.082, 0.008),
    "tomato": (0.062, 0.006),
    "banana": (0.190, 0.018),  # length; thickness is about a fifth of it
}

# Base colours (BGR) a kind may take; apples vary by cultivar.
_BASE_COLOURS: dict[str, list[tuple[int, int, int]]] = {
    "apple": [(40, 40, 185), (45, 70, 200), (60, 170, 120), (70, 185, 200), (35, 30, 150)],
    "orange": [(20, 135, 245), (15, 115, 235), (30, 150, 250)],
    "tomato": [(35, 35, 215), (30, 45, 225), (40, 30, 195)],
    "banana": [(50, 205, 235), (60, 215, 240), (70, 200, 220)],
}


@dataclass(frozen=True)
class Sprite:
    """An item drawn in its own frame: ``bgr`` float32 (h, w, 3) in 0..255 and ``alpha`` float32 (h, w) in 0..1."""

    bgr: np.ndarray
    alpha: np.ndarray


def _smooth_noise(shape: tuple[int, int], rng: np.random.Generator, scale: float) -> np.ndarray:
    """Blobby noise in [0, 1]: white noise blurred at ``scale`` pixels, then stretched."""
    n = rng.random(shape).astype(np.float32)
    k = max(1, int(scale)) | 1
    n = cv2.GaussianBlur(n, (k * 2 + 1, k * 2 + 1), scale)
    lo, hi = float(n.min()), float(n.max())
    return (n - lo) / max(hi - lo, 1e-6)


def _body_mask(kind: str, w: int, h: int, rng: np.random.Generator) -> np.ndarray:
    """Filled silhouette (uint8 0/255) of a produce kind, drawn on a ``h`` x ``w`` canvas."""
    mask = np.zeros((h, w), np.uint8)
    c = (w // 2, h // 2)
    if kind == "banana":
        # A crescent: a thick arc whose thickness tapers towards both ends.
        length, thick = w * 0.9, h * 0.36
        bend = rng.uniform(0.18, 0.32)
        ts = np.linspace(-1, 1, 48)
        cx = c[0] + ts * length / 2
        cy = c[1] + (ts**2 - 0.35) * bend * length * 0.55
        half = thick / 2 * np.sqrt(np.clip(1 - ts**2, 0, 1)) ** 0.6 + 1
        # Normals of the centre line.
        dx, dy = np.gradient(cx), np.gradient(cy)
        norm = np.hypot(dx, dy)
        nx, ny = -dy / norm, dx / norm
        upper = np.stack([cx + nx * half, cy + ny * half], 1)
        lower = np.stack([cx - nx * half, cy - ny * half], 1)[::-1]
        cv2.fillPoly(mask, [np.concatenate([upper, lower]).astype(np.int32)], 255, cv2.LINE_AA)
    else:
        squash = {"apple": rng.uniform(0.9, 1.0), "orange": rng.uniform(0.95, 1.0), "tomato": rng.uniform(0.85, 0.95)}[kind]
        axes = (int(w * 0.47), int(h * 0.47 * squash))
        cv2.ellipse(mask, c, axes, 0, 0, 360, 255, -1, cv2.LINE_AA)
        if kind == "apple":  # slight lobes: apples are not perfect circles
            for ang in rng.uniform(0, 2 * np.pi, 3):
                off = (int(c[0] + np.cos(ang) * w * 0.06), int(c[1] + np.sin(ang) * h * 0.06))
                cv2.ellipse(mask, off, (int(w * 0.44), int(h * 0.44 * squash)), 0, 0, 360, 255, -1, cv2.LINE_AA)
    return mask


def _shade(bgr: np.ndarray, alpha: np.ndarray, rng: np.random.Generator, gloss: float) -> np.ndarray:
    """Round-body shading: darker towards the rim, a highlight towards the light."""
    h, w = alpha.shape
    dist = cv2.distanceTransform((alpha > 0.5).astype(np.uint8), cv2.DIST_L2, 5)
    depth = np.clip(dist / max(float(dist.max()), 1.0), 0, 1)
    shade = 0.62 + 0.38 * np.sqrt(depth)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    hx, hy = w * rng.uniform(0.3, 0.45), h * rng.uniform(0.3, 0.45)
    spot = np.exp(-((xx - hx) ** 2 + (yy - hy) ** 2) / (2 * (0.12 * max(w, h)) ** 2))
    out = bgr * shade[..., None] + 255 * gloss * spot[..., None]
    return out


def _apply_patch(bgr: np.ndarray, patch: np.ndarray, colour: tuple[float, float, float], strength: float) -> np.ndarray:
    """Blend ``colour`` into ``bgr`` where ``patch`` (0..1) is set."""
    m = np.clip(patch * strength, 0, 1)[..., None]
    return bgr * (1 - m) + np.array(colour, np.float32) * m


def _blob(h: int, w: int, centre: tuple[float, float], radius: float, rng: np.random.Generator, softness: float) -> np.ndarray:
    """An irregular soft blob (0..1) of about ``radius`` pixels around ``centre``."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r = np.hypot(xx - centre[0], yy - centre[1]) / max(radius, 1.0)
    wobble = _smooth_noise((h, w), rng, max(radius / 3, 1.5)) * 0.6
    edge = r + wobble - 0.3
    return np.clip((1.0 - edge) / max(softness, 1e-3), 0, 1).astype(np.float32)


def _spots(h: int, w: int, n: int, rmin: float, rmax: float, rng: np.random.Generator, inside: np.ndarray) -> np.ndarray:
    """``n`` small round spots (0..1) at random places inside the mask ``inside``."""
    out = np.zeros((h, w), np.float32)
    ys, xs = np.nonzero(inside > 0.6)
    if len(xs) == 0:
        return out
    for i in rng.integers(0, len(xs), n):
        r = max(1, int(round(rng.uniform(rmin, rmax))))
        cv2.circle(out, (int(xs[i]), int(ys[i])), r, 1.0, -1, cv2.LINE_AA)
    return cv2.GaussianBlur(out, (3, 3), 0.8)


def paint_rot(
    bgr: np.ndarray, alpha: np.ndarray, r: float, severity: float, elongated: bool, rng: np.random.Generator,
    decay_colour: tuple[float, float, float] = (15, 25, 35), decay_strength: float = 0.92,
) -> tuple[np.ndarray, np.ndarray]:
    """The renderer's rotten cue painted on an item: a large dark decay area and white or green mould inside
    ``alpha`` (0..1), ``r`` the item's radius (half its thickness for elongated kinds) in pixels; the decay's
    colour and opacity default to the renderer's near-black rot. Returns the painted BGR float image and the alpha
    with a soft, collapsing outline. `training.real.painted_rot` paints the same cue on real fresh fruit."""
    h, w = alpha.shape
    ys, xs = np.nonzero(alpha > 0.9)
    i = rng.integers(len(xs))
    rad = r * (0.7 + 0.6 * severity) * (2.0 if elongated else 1.0)
    decay = _blob(h, w, (xs[i], ys[i]), rad, rng, softness=0.35) * alpha
    bgr = _apply_patch(bgr, decay, decay_colour, decay_strength)
    mould = np.zeros((h, w), np.float32)
    for _ in range(int(rng.integers(2, 5))):
        j = rng.integers(len(xs))
        mould = np.maximum(mould, _blob(h, w, (xs[j], ys[j]), r * rng.uniform(0.15, 0.3), rng, 0.5))
    fuzz = _smooth_noise((h, w), rng, 1.0)
    mould_col = (200, 215, 205) if rng.random() < 0.6 else (120, 170, 130)
    bgr = _apply_patch(bgr, mould * fuzz * alpha, mould_col, 1.0)
    # A collapsing, soft item loses its crisp outline.
    eroded = _smooth_noise((h, w), rng, r / 5) > 0.85 - 0.1 * severity
    alpha = alpha * np.where(eroded & (alpha < 1), 0.0, 1.0).astype(np.float32)
    return bgr, alpha


def render_item(kind: str, condition: str, severity: float, size_px: float, rng: np.random.Generator) -> Sprite:
    """Draw one item of ``kind`` in ``condition``; ``size_px`` is its diameter (length for bananas) in pixels."""
    if kind not in SIZES_M:
        raise ValueError(f"no sprite for produce kind {kind!r}")
    ss = 2  # drawn at twice the size, then area-downsampled: anti-aliased edges and cues
    if kind == "banana":
        w, h = int(size_px * ss), int(size_px * ss * 0.42)
    else:
        w = h = int(size_px * ss)
    w, h = max(w, 8), max(h, 8)
    mask = _body_mask(kind, w, h, rng)
    alpha = mask.astype(np.float32) / 255.0
    base = np.array(_BASE_COLOURS[kind][rng.integers(len(_BASE_COLOURS[kind]))], np.float32)
    base = base * rng.uniform(0.9, 1.08, 3).astype(np.float32)
    bgr = np.empty((h, w, 3), np.float32)
    bgr[:] = base
    r = min(w, h) / 2

    # Kind-specific surface: what tells an apple from a tomato from an orange at a glance.
    if kind == "apple":
        streak = _smooth_noise((h, w), rng, r / 6)
        streak_col = base * np.array([0.8, 1.1, 1.15], np.float32) if base[2] > 150 else base * 0.85
        bgr = _apply_patch(bgr, streak, tuple(streak_col), 0.6)
        cv2.circle(bgr, (w // 2, h // 2), max(2, int(r * 0.13)), tuple(float(v) * 0.45 for v in base), -1, cv2.LINE_AA)
        stem_end = (int(w / 2 + r * rng.uniform(-0.25, 0.25)), int(h / 2 - r * rng.uniform(0.15, 0.3)))
        cv2.line(bgr, (w // 2, h // 2), stem_end, (30, 55, 80), max(2, int(r * 0.07)), cv2.LINE_AA)
        gloss = 0.18
    elif kind == "orange":
        dimples = _smooth_noise((h, w), rng, 1.2)
        bgr = bgr * (0.9 + 0.18 * dimples[..., None])
        cv2.circle(bgr, (w // 2 + int(rng.uniform(-0.2, 0.2) * r), h // 2), max(2, int(r * 0.08)), (20, 90, 150), -1, cv2.LINE_AA)
        gloss = 0.08
    elif kind == "tomato":
        centre = np.array([w / 2, h / 2])
        n_sep = int(rng.integers(5, 7))
        rot = rng.uniform(0, 2 * np.pi)
        pts = []
        for i in range(n_sep * 2):
            ang = rot + i * np.pi / n_sep
            rad = r * (0.42 if i % 2 == 0 else 0.1)
            pts.append(centre + rad * np.array([np.cos(ang), np.sin(ang)]))
        cv2.fillPoly(bgr, [np.array(pts, np.int32)], (40, 140, 60), cv2.LINE_AA)
        gloss = 0.45
    else:  # banana: longitudinal ridges, dark stem and tip
        ridges = (np.sin(np.linspace(0, np.pi * 6, h))[:, None] * 0.05 + 1).astype(np.float32)
        bgr = bgr * ridges[..., None]
        ends = np.zeros((h, w), np.float32)
        cv2.circle(ends, (int(w * 0.06), int(h * 0.35)), max(2, int(h * 0.1)), 1.0, -1)
        cv2.circle(ends, (int(w * 0.94), int(h * 0.35)), max(2, int(h * 0.08)), 1.0, -1)
        bgr = _apply_patch(bgr, ends, (25, 45, 60), 0.9)
        gloss = 0.1

    sev = float(np.clip(severity, 0.0, 1.0))
    if condition == "bruised":
        # A bruise must read as its own cue at 30-40 px, not as rim shading or overripe spots: a large, soft,
        # matte patch shifted towards a mauve-brown hue that no fresh skin has, with a slightly darker rim.
        ys, xs = np.nonzero(alpha > 0.9)
        bruise_col = np.array([80, 58, 92], np.float32) * (1.0 - 0.3 * sev)
        for _ in range(int(rng.integers(1, 3))):
            i = rng.integers(len(xs))
            rad = r * (0.45 + 0.2 * sev) * (1.6 if kind == "banana" else 1.0)
            patch = _blob(h, w, (xs[i], ys[i]), rad, rng, softness=0.5) * alpha
            dark = base * 0.25 + bruise_col * 0.75
            bgr = _apply_patch(bgr, patch, tuple(dark), 0.92)
            rim = np.clip(patch * (1.0 - patch) * 4.0, 0, 1)
            bgr = bgr * (1.0 - 0.25 * rim[..., None])
        gloss *= 0.4
    elif condition == "overripe":
        grey = bgr.mean(axis=2, keepdims=True)
        dull = 0.45 + 0.25 * sev
        bgr = bgr * (1 - dull) + (grey * 0.75 + np.array([20, 45, 70], np.float32) * 0.5) * dull
        wrinkle = _smooth_noise((h, w), rng, 1.5 + r / 12)
        ridge = np.abs(wrinkle - 0.5) < 0.06
        bgr = bgr * (1 - 0.35 * ridge[..., None].astype(np.float32))
        n = int((25 + 45 * sev) * (2.0 if kind == "banana" else 1.0))
        spots = _spots(h, w, n, r * 0.04, r * 0.1, rng, alpha)
        bgr = _apply_patch(bgr, spots, (25, 50, 80), 0.9)
        gloss *= 0.3
    elif condition == "rotten":
        bgr, alpha = paint_rot(bgr, alpha, r, sev, kind == "banana", rng)
        gloss = 0.0

    bgr = _shade(bgr, alpha, rng, gloss)
    size = (max(4, w // ss), max(4, h // ss))
    bgr = cv2.resize(np.clip(bgr, 0, 255), size, interpolation=cv2.INTER_AREA)
    alpha = cv2.resize(alpha, size, interpolation=cv2.INTER_AREA)
    return Sprite(bgr=bgr.astype(np.float32), alpha=alpha.astype(np.float32))


def rotate_sprite(sprite: Sprite, angle_deg: float) -> Sprite:
    """Rotate a sprite about its centre, growing the canvas so nothing is cut, then crop to the item."""
    h, w = sprite.alpha.shape
    diag = int(np.ceil(np.hypot(h, w))) + 2
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle_deg, 1.0)
    m[0, 2] += (diag - w) / 2
    m[1, 2] += (diag - h) / 2
    bgr = cv2.warpAffine(sprite.bgr, m, (diag, diag), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))
    alpha = cv2.warpAffine(sprite.alpha, m, (diag, diag), flags=cv2.INTER_LINEAR, borderValue=0)
    ys, xs = np.nonzero(alpha > 0.02)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    return Sprite(bgr=bgr[y0:y1, x0:x1].copy(), alpha=alpha[y0:y1, x0:x1].copy())
