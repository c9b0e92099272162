"""The jittered boxes of the grader's single-fruit views: inside the photo, about the box, never one framing."""

from __future__ import annotations

import numpy as np

from training.real.grader_data import JITTER_SCALE, JITTER_SHIFT, jittered_box


def test_jittered_boxes_stay_in_the_photo_and_near_the_box() -> None:
    rng = np.random.default_rng(3)
    box = (100.0, 80.0, 300.0, 200.0)  # 200 x 120
    seen = set()
    for _ in range(200):
        x0, y0, x1, y1 = jittered_box(box, 400, 260, rng)
        assert 0 <= x0 < x1 <= 400 and 0 <= y0 < y1 <= 260
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        # Clipping can move the centre further only where the box meets the border; this box stays inside at 1.25x.
        assert abs(cx - 200) <= JITTER_SHIFT * 200 + 1e-6 and abs(cy - 140) <= JITTER_SHIFT * 120 + 1e-6
        assert JITTER_SCALE[0] * 200 - 1e-6 <= x1 - x0 <= JITTER_SCALE[1] * 200 + 1e-6
        seen.add(round(x1 - x0))
    assert len(seen) > 20  # many framings, not one


def test_jittered_box_is_clipped_at_the_border() -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        x0, y0, x1, y1 = jittered_box((0.0, 0.0, 50.0, 50.0), 50, 50, rng)
        assert (x0, y0) >= (0.0, 0.0) and x1 <= 50 and y1 <= 50
