"""The not-produce squares of the grader's training set stay off the produce."""

from __future__ import annotations

import numpy as np

from training.real.grader_data import MAX_PRODUCE_OVERLAP, MIN_BOX_PX, free_squares


def test_squares_keep_off_every_box_and_inside_the_image() -> None:
    rng = np.random.default_rng(3)
    boxes = [(0.0, 0.0, 200.0, 150.0), (300.0, 100.0, 420.0, 240.0)]
    squares = free_squares(640, 360, boxes, 40, rng)
    assert len(squares) >= 10  # there is room: the boxes cover a fraction of the frame
    for x0, y0, x1, y1 in squares:
        side = x1 - x0
        assert side == y1 - y0 and side >= MIN_BOX_PX and 0 <= x0 and x1 <= 640 and 0 <= y0 and y1 <= 360
        for b in boxes:
            inter = max(0.0, min(x1, b[2]) - max(x0, b[0])) * max(0.0, min(y1, b[3]) - max(y0, b[1]))
            assert inter <= MAX_PRODUCE_OVERLAP * side * side


def test_a_frame_full_of_produce_gives_no_square() -> None:
    assert free_squares(320, 320, [(0.0, 0.0, 320.0, 320.0)], 5, np.random.default_rng(0)) == []
