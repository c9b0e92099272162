"""A fruit's cut-out from a plain-background photo: GrabCut seeded from the border, then a check of the mask.

A cut-out pasted on the belt gets an exact box from its mask, so a bad mask teaches a bad box (half a fruit,
a fruit plus its plate). `check_mask` rejects a mask that is too small or too large for a single-fruit photo,
breaks into pieces, is ragged (low solidity), holds several round fruit (no disc inside it near its own size), or
runs along much of the photo's border (the fruit is cut off or the "fruit" is the background); the reason is kept
so a report can say how many were refused and why.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

MIN_AREA = 0.06  # share of the photo: smaller is a speck, not the photographed fruit
MAX_AREA = 0.90  # larger is the background taken for fruit
MIN_MAIN_SHARE = 0.9  # the largest piece holds at least this share of the mask
MIN_SOLIDITY = 0.80  # mask area over its convex hull; round fruit is above 0.9, torn masks fall far below
MIN_SOLIDITY_ELONGATED = 0.45  # a curved banana fills about 0.6 of its hull; a torn one far less
# The largest disc inside a round fruit's mask has nearly the radius of a disc of the mask's area (an ellipse of
# aspect 1.5: 0.82); touching fruit photographed together, whose masks merge into one piece, fall to 0.6-0.74. The
# real photos hold a few such "single fruit" photos (three oranges, a pile of mouldy ones): pasted on the belt as one
# item they would count three fruit as one, and their weak box would teach the detector a box around a group. One
# orange whose leaf cut a notch into its mask scores 0.71 and is refused too: losing a photo costs less.
MIN_ROUNDNESS = 0.75
MAX_BORDER_TOUCH = 0.25  # share of the photo's border pixels the mask may cover
GRABCUT_ITERATIONS = 5


@dataclass(frozen=True)
class Cutout:
    """The fruit's pixels: BGR uint8 (h, w, 3) and alpha uint8 (h, w) cropped to the mask's box, and that box
    (x0, y0, x1, y1) in the photo. ``problem`` is None for a mask that passed `check_mask`, else why it failed."""

    bgr: np.ndarray
    alpha: np.ndarray
    box: tuple[int, int, int, int]
    problem: str | None

    @property
    def ok(self) -> bool:
        """Whether the mask passed the check."""
        return self.problem is None

    def rgba_png(self) -> bytes:
        """The cut-out as PNG bytes with its alpha channel (BGRA, as OpenCV writes it)."""
        ok, buf = cv2.imencode(".png", np.dstack([self.bgr, self.alpha]))
        if not ok:
            raise RuntimeError("PNG encoding failed")
        return bytes(buf)


def fruit_mask(image: np.ndarray) -> np.ndarray:
    """uint8 0/255 mask of the photo's subject: GrabCut with the outer 4 % as sure background, then the largest
    piece's holes filled and its edge smoothed (mould and glare inside a fruit are still fruit)."""
    h, w = image.shape[:2]
    mx, my = max(2, int(0.04 * w)), max(2, int(0.04 * h))
    mask = np.zeros((h, w), np.uint8)
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    # GrabCut seeds its colour models from OpenCV's process-wide RNG: reset it (0 is OpenCV's start state) so a
    # photo's mask depends on the photo alone, not on which photos were cut before it in this process.
    cv2.setRNGSeed(0)
    cv2.grabCut(image, mask, (mx, my, w - 2 * mx, h - 2 * my), bgd, fgd, GRABCUT_ITERATIONS, cv2.GC_INIT_WITH_RECT)
    fg = np.where((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD), 255, 0).astype(np.uint8)
    fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5)))
    contours, _ = cv2.findContours(fg, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    filled = np.zeros_like(fg)
    cv2.drawContours(filled, contours, -1, 255, thickness=cv2.FILLED)
    return filled


def check_mask(mask: np.ndarray, elongated: bool = False) -> str | None:
    """None when ``mask`` (uint8 0/255) looks like one whole fruit in the photo, else the reason it does not;
    ``elongated`` (bananas) accepts the low solidity of a crescent."""
    h, w = mask.shape
    on = mask > 127
    area = float(on.mean())
    if area < MIN_AREA:
        return f"mask covers {area:.0%} of the photo (< {MIN_AREA:.0%}): no fruit found"
    if area > MAX_AREA:
        return f"mask covers {area:.0%} of the photo (> {MAX_AREA:.0%}): background taken for fruit"
    n, labels, stats, _ = cv2.connectedComponentsWithStats(on.astype(np.uint8), connectivity=8)
    sizes = stats[1:, cv2.CC_STAT_AREA]
    if sizes.max() < MIN_MAIN_SHARE * sizes.sum():
        return f"mask is in {n - 1} pieces, the largest only {sizes.max() / sizes.sum():.0%} of it"
    contours, _ = cv2.findContours(on.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    main = max(contours, key=cv2.contourArea)
    hull = cv2.contourArea(cv2.convexHull(main))
    solidity = cv2.contourArea(main) / max(hull, 1.0)
    least = MIN_SOLIDITY_ELONGATED if elongated else MIN_SOLIDITY
    if solidity < least:
        return f"mask is ragged (solidity {solidity:.2f} < {least})"
    if not elongated:
        roundness = inscribed_roundness(on)
        if roundness < MIN_ROUNDNESS:
            return (f"mask looks like several fruit (its largest inner disc has {roundness:.2f} of the radius of a "
                    f"disc of its area, < {MIN_ROUNDNESS})")
    border = np.concatenate([on[0], on[-1], on[:, 0], on[:, -1]])
    if border.mean() > MAX_BORDER_TOUCH:
        return f"mask runs along {border.mean():.0%} of the photo's border: the fruit is cut off or is the background"
    return None


def inscribed_roundness(on: np.ndarray) -> float:
    """Radius of the largest disc inside the boolean mask ``on`` over the radius of a disc of its area: 1 for a
    disc, lower for elongated shapes and for several round fruit merged into one mask."""
    inside = cv2.distanceTransform(on.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return float(inside.max() / max(np.sqrt(on.sum() / np.pi), 1e-9))


def cut_out(image: np.ndarray, elongated: bool = False) -> Cutout:
    """The subject of a single-fruit photo as a `Cutout` (checked with `check_mask`; see `Cutout.problem`)."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"cut_out needs a BGR uint8 image, got shape {image.shape} {image.dtype}")
    mask = fruit_mask(image)
    problem = check_mask(mask, elongated)
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        h, w = mask.shape
        return Cutout(image[:0, :0], mask[:0, :0], (0, 0, w, h), problem or "empty mask")
    x0, y0, x1, y1 = int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1
    alpha = cv2.GaussianBlur(mask, (3, 3), 0)[y0:y1, x0:x1]  # a soft edge, like the renderer's sprites
    return Cutout(image[y0:y1, x0:x1].copy(), alpha, (x0, y0, x1, y1), problem)
