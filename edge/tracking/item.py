"""`Item`: one physical item that rode through a camera's view and was counted, as the counter hands it on."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MAX_CROP_BYTES = 64 * 1024  # a crop is a thumbnail for a person to confirm, not a training frame


@dataclass(frozen=True)
class Item:
    """A counted item: its identity on the camera, when it was seen and counted, and what it is.

    ``track_id`` is the counter's item id (stable across the tracker id switches the counter merged).
    ``first_seq``/``last_seq`` and ``first_seen_at``/``last_seen_at`` are the first and last frames that observed it;
    ``counted_seq`` the frame at which its crossing of the line was decided (once, ever).
    ``produce`` is the vote over its frames, or the produce of the warehouse's ``sku`` tag when one came with its
    frames; ``condition`` the condition vote within that produce; ``freshness`` the weighted median of its
    frames' freshness; ``flagged`` whether that is below its produce kind's threshold.
    ``votes``: frames per produce kind as detected. ``frames``: number of observations.
    ``best_box`` (x0, y0, x1, y1) in frame ``best_seq`` is the most confident complete view; ``best_crop_jpeg``
    its JPEG crop, kept for flagged items only (at most `MAX_CROP_BYTES`). ``graded_views``: how many crops of
    the item the served model's grader scored its freshness and condition from (0: the detector's alone).
    """

    camera_id: str
    track_id: int
    first_seq: int
    last_seq: int
    first_seen_at: float
    last_seen_at: float
    counted_seq: int
    produce: str
    condition: str
    freshness: float
    flagged: bool
    votes: dict[str, int]
    frames: int
    best_box: tuple[float, float, float, float]
    best_seq: int
    sku: str | None = None
    model_version: str | None = None
    best_crop_jpeg: bytes | None = field(default=None, repr=False)
    inferred: bool = False  # counted by belt-motion extrapolation (left the view or was missed before the line)
    graded_views: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON form, without the crop bytes (``has_crop`` says whether there is one)."""
        return {
            "camera_id": self.camera_id,
            "track_id": self.track_id,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "first_seen_at": self.first_seen_at,
            "last_seen_at": self.last_seen_at,
            "counted_seq": self.counted_seq,
            "produce": self.produce,
            "condition": self.condition,
            "freshness": self.freshness,
            "flagged": self.flagged,
            "votes": dict(self.votes),
            "frames": self.frames,
            "best_box": [round(float(v), 1) for v in self.best_box],
            "best_seq": self.best_seq,
            "sku": self.sku,
            "model_version": self.model_version,
            "inferred": self.inferred,
            "graded_views": self.graded_views,
            "has_crop": self.best_crop_jpeg is not None,
        }
