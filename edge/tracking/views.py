"""The few best views of an item that the grader will look at: `grader_crop`s of the original frames, bounded.

While a grader serves, each sighting of an item that would rank among its `GRADE_VIEWS` best (confidence times
completeness, as the item's best crop is chosen) is cropped at the grader's input size and kept; the worst is
dropped. The crop is made only when it would be kept, so the cost per sighting is a comparison. When the item is
handed on, the grader runs once on these crops (`edge.tracking.grading`).

In a counter snapshot (`CameraCounter.state`) the crops travel as JPEG at `VIEW_JPEG_QUALITY`: a raw 224 x 224 crop
is 150 KB, and the snapshot is written with every frame. An item restored from a snapshot is graded on the decoded
crops (a JPEG round trip at this quality moves pixels by a level or two).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from vision.errors import InputError
from vision.grader import grader_crop

GRADE_VIEWS = 3  # crops graded per item: enough for a median to outvote one bad view, cheap enough per item
VIEW_JPEG_QUALITY = 95


@dataclass(frozen=True)
class View:
    """One kept view of an item: its rank score, the frame it came from, and the grader's crop of it."""

    score: float
    seq: int
    crop: np.ndarray  # (S, S, 3) BGR uint8, vision.grader.grader_crop at the grader's input size


def wants(views: Sequence[View], score: float, limit: int = GRADE_VIEWS) -> bool:
    """Whether a view scoring ``score`` would be kept among ``views``."""
    return len(views) < limit or score > min(v.score for v in views)


def keep_best(views: Sequence[View], new: Sequence[View], limit: int = GRADE_VIEWS) -> tuple[View, ...]:
    """The ``limit`` best of ``views`` and ``new``, best first (ties: the earlier frame)."""
    return tuple(sorted([*views, *new], key=lambda v: (-v.score, v.seq))[:limit])


def offer(
    views: tuple[View, ...], score: float, seq: int, make_crop: Callable[[], np.ndarray | None],
    limit: int = GRADE_VIEWS,
) -> tuple[View, ...]:
    """``views`` with a new sighting kept if it ranks among the best; ``make_crop`` runs only then (None: the
    sighting has no crop to give, e.g. a degenerate box, and is not kept)."""
    if not wants(views, score, limit):
        return views
    crop = make_crop()
    if crop is None:
        return views
    return keep_best(views, [View(float(score), int(seq), crop)], limit)


def view_of(image: np.ndarray, box: np.ndarray, size: int, pad: float) -> np.ndarray | None:
    """The grader's crop of ``box`` in ``image`` (`vision.grader.grader_crop`); None for a box with no area or
    wholly outside the image (a detector may draw one): such a sighting gives no view, and never fails its frame."""
    b = np.asarray(box, dtype=np.float64)
    if not (np.all(np.isfinite(b)) and b[2] > b[0] and b[3] > b[1]):
        return None
    try:
        return grader_crop(image, b, size, pad)
    except InputError:
        return None


def view_crops(views: Sequence[View], size: int) -> np.ndarray:
    """(k, size, size, 3) uint8: the crops of ``views`` made at ``size`` (a view cropped for a grader of another
    size, before a model swap, is left out)."""
    crops = [v.crop for v in views if v.crop.shape == (size, size, 3)]
    return np.stack(crops) if crops else np.zeros((0, size, size, 3), np.uint8)


def views_to_state(views: Sequence[View]) -> list[dict[str, Any]]:
    """JSON-serialisable form: score, frame and the crop as base64 JPEG."""
    out = []
    for v in views:
        ok, buf = cv2.imencode(".jpg", v.crop, [cv2.IMWRITE_JPEG_QUALITY, VIEW_JPEG_QUALITY])
        if ok:
            out.append({"score": v.score, "seq": v.seq, "jpeg": base64.b64encode(bytes(buf)).decode("ascii")})
    return out


def views_from_state(raw: Sequence[Mapping[str, Any]]) -> tuple[View, ...]:
    """Inverse of `views_to_state`; raises KeyError/TypeError/ValueError on a malformed entry."""
    views = []
    for entry in raw:
        data = np.frombuffer(base64.b64decode(entry["jpeg"]), np.uint8)
        crop = cv2.imdecode(data, cv2.IMREAD_COLOR)
        if crop is None:
            raise ValueError("an item view in the snapshot is not a decodable JPEG")
        views.append(View(float(entry["score"]), int(entry["seq"]), crop))
    return keep_best([], views)
