"""The four top-down orientations of a photo: a camera above the belt sees an item any way round.

Training writes each real single fruit and each hard negative in all four (`training.real.grader_data`); `qc
eval-photos --clutter-dir` checks each no-produce photo in all four (`training.real.photo_eval`). The grader's own
test-time turns (`vision.grader`, card `grader.turns`) turn its crops through the same four.
"""

from __future__ import annotations

import cv2
import numpy as np

# None: the photo as it is; then a quarter, a half and three quarters of a turn.
QUARTER_TURNS: tuple[int | None, ...] = (
    None, cv2.ROTATE_90_CLOCKWISE, cv2.ROTATE_180, cv2.ROTATE_90_COUNTERCLOCKWISE,
)


def turned(image: np.ndarray, turn: int | None) -> np.ndarray:
    """``image`` rotated by ``turn``, one of `QUARTER_TURNS` (None: the image itself, not a copy)."""
    return image if turn is None else cv2.rotate(image, turn)
