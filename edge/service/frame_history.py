"""A camera's recent frames (JPEG + tracked boxes), so the frame a flagged item was seen best in can be stored.

A counted item is handed on when its track ends, frames after its best view; the review page and the training
loop want that whole frame with every box in it, so the worker keeps the last ``size`` frames of each camera (their
JPEG bytes as received: a few tens of KB each, never the decoded image) and stores ``best_seq``'s when it is flagged.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from vision.detections import Detections


@dataclass(frozen=True)
class PastFrame:
    """One processed frame as the store's `save_frame_image` wants it."""

    seq: int
    jpeg: bytes
    width: int
    height: int
    captured_at: float
    tracked: Detections  # the counter's CountResult.tracked: tracker_id = item id


class FrameHistory:
    """The last ``size`` frames of one camera by seq (bounded; a re-processed seq replaces its entry)."""

    def __init__(self, size: int) -> None:
        if size < 0:
            raise ValueError(f"frame history size must be >= 0, got {size}")
        self.size = size
        self._frames: OrderedDict[int, PastFrame] = OrderedDict()

    def add(self, frame: PastFrame) -> None:
        """Remember ``frame``, forgetting the oldest beyond ``size``."""
        if self.size == 0:
            return
        self._frames.pop(frame.seq, None)
        self._frames[frame.seq] = frame
        while len(self._frames) > self.size:
            self._frames.popitem(last=False)

    def get(self, seq: int) -> PastFrame | None:
        """The frame ``seq`` if it is still remembered."""
        return self._frames.get(seq)

    def __len__(self) -> int:
        return len(self._frames)
