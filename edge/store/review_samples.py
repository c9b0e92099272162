"""Reviewed frames for retraining: each stored frame that is the best frame of a decided flag, with what is known of
every item seen in it (the reviewers' corrections where there are any).

"Decided" means the flag's status is confirmed or rejected: a flag that was only relabelled is still waiting for a
person's decision and its frame is not a sample yet.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Connection, and_, select

from edge.store.frame_images import get_frame_image
from edge.store.reviews import Box, FrameImage
from edge.store.schema import flag_labels, flags, frame_images, items

if TYPE_CHECKING:
    from edge.store.store import Store


@dataclass(frozen=True)
class ReviewedItem:
    """An item seen in a sample frame: the model's labels, its flag's status and the reviewers' corrections."""

    item_id: int
    track_id: int
    best_seq: int | None
    detected_produce: str
    detected_condition: str
    detected_box: Box | None  # in frame best_seq
    status: str | None  # flag status; None when the item was not flagged
    produce: str | None  # corrections in force (None: the model's value stands)
    condition: str | None
    box: Box | None  # a fixed box, in frame best_seq

    @property
    def decided(self) -> bool:
        """A person confirmed or rejected the flag."""
        return self.status in ("confirmed", "rejected")


@dataclass(frozen=True)
class ReviewSample:
    """A stored frame with a decided flag, and every counted item whose track is in it or whose best frame it is."""

    frame: FrameImage
    items: tuple[ReviewedItem, ...]


def sample_frames(conn: Connection) -> list[tuple[str, int]]:
    """(camera_id, seq) of every stored frame that is the best frame of a decided flag, in key order."""
    stmt = (
        select(frame_images.c.camera_id, frame_images.c.seq)
        .select_from(flags)
        .join(items, items.c.id == flags.c.item_id)
        .join(
            frame_images,
            and_(frame_images.c.camera_id == items.c.camera_id, frame_images.c.seq == items.c.best_seq),
        )
        .where(flags.c.status.in_(("confirmed", "rejected")))
        .distinct()
        .order_by(frame_images.c.camera_id, frame_images.c.seq)
    )
    return [(r.camera_id, r.seq) for r in conn.execute(stmt)]


def load_sample(conn: Connection, camera_id: str, seq: int) -> ReviewSample:
    """The frame (camera_id, seq) with the items of its tracked detections and the items whose best frame it is."""
    frame = get_frame_image(conn, camera_id, seq)
    track_ids = sorted({d.track_id for d in frame.detections if d.track_id is not None})
    seen_here = and_(items.c.track_id.in_(track_ids), items.c.first_seq <= seq, items.c.last_seq >= seq)
    stmt = (
        select(items, flags.c.status, flag_labels.c.produce.label("label_produce"),
               flag_labels.c.condition.label("label_condition"),
               *(flag_labels.c[c].label(f"label_{c}") for c in ("box_x0", "box_y0", "box_x1", "box_y1")))
        .select_from(items)
        .outerjoin(flags, flags.c.item_id == items.c.id)
        .outerjoin(flag_labels, flag_labels.c.flag_id == flags.c.id)
        .where(items.c.camera_id == camera_id, seen_here | (items.c.best_seq == seq))
        .order_by(items.c.id)
    )
    found = []
    for r in conn.execute(stmt):
        m = r._mapping
        found.append(
            ReviewedItem(
                item_id=m["id"],
                track_id=m["track_id"],
                best_seq=m["best_seq"],
                detected_produce=m["produce"],
                detected_condition=m["condition"],
                detected_box=_box(m, ""),
                status=m["status"],
                produce=m["label_produce"],
                condition=m["label_condition"],
                box=_box(m, "label_"),
            )
        )
    return ReviewSample(frame=frame, items=tuple(found))


def read_samples(store: Store) -> Iterator[ReviewSample]:
    """Every sample of ``store`` in key order (`sample_frames`), one frame per short read transaction, so that a long
    export never holds a transaction open."""
    with store.transaction(write=False) as conn:
        keys = sample_frames(conn)
    for camera_id, seq in keys:
        with store.transaction(write=False) as conn:
            yield load_sample(conn, camera_id, seq)


def _box(m: object, prefix: str) -> Box | None:
    values = [m[f"{prefix}box_{c}"] for c in ("x0", "y0", "x1", "y1")]  # type: ignore[index]
    return None if values[0] is None else (values[0], values[1], values[2], values[3])

