"""Rot painted on a real fresh fruit: inside its mask only, darker, at a bounded size, refused on a bad mask."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from training.real.cutout import Cutout, cut_out
from training.real.painted_rot import MAX_FRUIT_SIDE, painted_rot


def _photo(side: int, radius: int) -> np.ndarray:
    """A red fruit-like disc with a lighter highlight on a plain, slightly noisy white background."""
    rng = np.random.default_rng(0)
    image = np.full((side, side, 3), 235, np.uint8)
    image = np.clip(image.astype(np.int16) + rng.integers(-6, 7, image.shape), 0, 255).astype(np.uint8)
    cv2.circle(image, (side // 2, side // 2), radius, (40, 40, 190), -1, cv2.LINE_AA)
    cv2.circle(image, (side // 2 - radius // 3, side // 2 - radius // 3), radius // 5, (120, 120, 230), -1)
    return image


def test_painted_rot_darkens_the_fruit_and_leaves_the_background() -> None:
    image = _photo(300, 100)
    cut = cut_out(image)
    assert cut.ok, cut.problem
    out, box = painted_rot(image, cut, elongated=False, rng=np.random.default_rng(1))
    assert out.shape == image.shape and box == cut.box  # small enough: not shrunk
    x0, y0, x1, y1 = box
    inside = cut.alpha > 250
    before, after = image[y0:y1, x0:x1][inside], out[y0:y1, x0:x1][inside]
    assert (np.abs(after.astype(int) - before).sum(axis=1) > 30).mean() > 0.1  # a real share of the fruit changed
    outside = np.ones(image.shape[:2], bool)
    outside[y0:y1, x0:x1] = cut.alpha == 0
    assert np.array_equal(out[outside], image[outside])
    # Different draws paint different rot.
    other, _ = painted_rot(image, cut, elongated=False, rng=np.random.default_rng(2))
    assert not np.array_equal(other, out)


def test_painted_rot_shrinks_a_large_photo_to_the_fruit_size_it_paints() -> None:
    image = _photo(1400, 500)
    cut = cut_out(image)
    assert cut.ok, cut.problem
    out, (x0, y0, x1, y1) = painted_rot(image, cut, elongated=False, rng=np.random.default_rng(0))
    assert max(x1 - x0, y1 - y0) <= MAX_FRUIT_SIDE
    assert out.shape[0] < image.shape[0] and 0 <= x0 < x1 <= out.shape[1] and 0 <= y0 < y1 <= out.shape[0]


def test_painted_rot_refuses_a_cut_out_whose_mask_failed() -> None:
    bad = Cutout(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4), np.uint8), (0, 0, 4, 4), "no fruit found")
    with pytest.raises(ValueError, match="no fruit found"):
        painted_rot(np.zeros((10, 10, 3), np.uint8), bad, elongated=False, rng=np.random.default_rng(0))
