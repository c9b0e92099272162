"""Repository functions for the review queue: flagged items with their current labels, filtered and paged."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, and_, func, select

from edge.store.errors import NotFoundError, StoreValueError
from edge.store.reviews import QUEUE_STATUSES, Box, QueueEntry
from edge.store.schema import crops, flag_labels, flags, frame_images, items
from vision.options import is_int

MAX_PAGE = 500
DEFAULT_PAGE = 50
BOX_COLUMNS = ("box_x0", "box_y0", "box_x1", "box_y1")


def check_id(value: Any, what: str, minimum: int = 1) -> int:
    """``value`` if it is an integer >= ``minimum`` (a flag id, a seq); StoreValueError naming ``what`` otherwise."""
    if not is_int(value) or value < minimum:
        raise StoreValueError(f"{what} must be an integer >= {minimum}, got {value!r}")
    return value


def box_of(m: Any, prefix: str = "") -> Box | None:
    """The box in columns ``<prefix>box_x0`` ... of a row mapping; None when they are NULL."""
    values = [m[f"{prefix}{c}"] for c in BOX_COLUMNS]
    return None if values[0] is None else (values[0], values[1], values[2], values[3])


def _queue_select() -> Select[Any]:
    has_crop = crops.c.flag_id.is_not(None)
    has_frame = frame_images.c.id.is_not(None)
    return (
        select(
            flags.c.id.label("flag_id"),
            flags.c.status,
            items.c.id.label("item_id"),
            items.c.camera_id,
            items.c.produce.label("detected_produce"),
            items.c.condition.label("detected_condition"),
            *(items.c[c] for c in BOX_COLUMNS),
            items.c.freshness,
            items.c.sku,
            items.c.first_seen_at,
            items.c.last_seen_at,
            items.c.counted_at,
            items.c.best_seq,
            items.c.model_version,
            flag_labels.c.produce.label("label_produce"),
            flag_labels.c.condition.label("label_condition"),
            *(flag_labels.c[c].label(f"label_{c}") for c in BOX_COLUMNS),
            flag_labels.c.reviewed_by,
            flag_labels.c.reviewed_at,
            has_crop.label("has_crop"),
            has_frame.label("has_frame"),
        )
        .select_from(flags)
        .join(items, items.c.id == flags.c.item_id)
        .outerjoin(flag_labels, flag_labels.c.flag_id == flags.c.id)
        .outerjoin(crops, crops.c.flag_id == flags.c.id)
        .outerjoin(
            frame_images,
            and_(frame_images.c.camera_id == items.c.camera_id, frame_images.c.seq == items.c.best_seq),
        )
    )


def current_produce() -> ColumnElement[Any]:
    """The produce a flagged item is now known as: the reviewer's relabel, else the model's."""
    return func.coalesce(flag_labels.c.produce, items.c.produce)


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), tzinfo=timezone.utc)
    return start, start + timedelta(days=1)


def _queue_filters(
    stmt: Select[Any], camera: str | None, produce: str | None, status: str, day: date | None
) -> Select[Any]:
    if status not in QUEUE_STATUSES:
        raise StoreValueError(f"queue status must be one of {', '.join(QUEUE_STATUSES)}, got {status!r}")
    if status == "pending":
        stmt = stmt.where(flags.c.status == "pending")
    elif status == "reviewed":
        stmt = stmt.where(flags.c.status.in_(("confirmed", "rejected")))
    if camera is not None:
        stmt = stmt.where(items.c.camera_id == camera)
    if produce is not None:
        stmt = stmt.where(current_produce() == produce)
    if day is not None:
        if not isinstance(day, date) or isinstance(day, datetime):
            raise StoreValueError(f"queue date must be a datetime.date, got {type(day).__name__}")
        start, end = _day_bounds(day)
        stmt = stmt.where(items.c.counted_at >= start, items.c.counted_at < end)
    return stmt


def _entry(row: Any) -> QueueEntry:
    m = row._mapping
    detected_box = box_of(m)
    label_box = box_of(m, "label_")
    return QueueEntry(
        flag_id=m["flag_id"],
        item_id=m["item_id"],
        camera_id=m["camera_id"],
        status=m["status"],
        produce=m["label_produce"] or m["detected_produce"],
        condition=m["label_condition"] or m["detected_condition"],
        box=label_box if label_box is not None else detected_box,
        detected_produce=m["detected_produce"],
        detected_condition=m["detected_condition"],
        detected_box=detected_box,
        freshness=m["freshness"],
        sku=m["sku"],
        first_seen_at=m["first_seen_at"],
        last_seen_at=m["last_seen_at"],
        counted_at=m["counted_at"],
        best_seq=m["best_seq"],
        model_version=m["model_version"],
        has_crop=bool(m["has_crop"]),
        has_frame=bool(m["has_frame"]),
        reviewed_by=m["reviewed_by"],
        reviewed_at=m["reviewed_at"],
    )


def query_queue(
    conn: Connection,
    *,
    camera: str | None = None,
    produce: str | None = None,
    status: str = "pending",
    day: date | None = None,
    offset: int = 0,
    limit: int = DEFAULT_PAGE,
) -> list[QueueEntry]:
    """One page of the queue, oldest item first (counted_at, then flag id: a stable order for paging); ``limit``
    within [1, 500], ``offset`` >= 0."""
    if not is_int(offset) or offset < 0:
        raise StoreValueError(f"queue offset must be an integer >= 0, got {offset!r}")
    if not is_int(limit) or not 1 <= limit <= MAX_PAGE:
        raise StoreValueError(f"queue limit must be an integer within [1, {MAX_PAGE}], got {limit!r}")
    stmt = _queue_filters(_queue_select(), camera, produce, status, day)
    stmt = stmt.order_by(items.c.counted_at, flags.c.id).offset(offset).limit(limit)
    return [_entry(r) for r in conn.execute(stmt)]


def count_queue(
    conn: Connection,
    *,
    camera: str | None = None,
    produce: str | None = None,
    status: str = "pending",
    day: date | None = None,
) -> int:
    """How many flags `query_queue` with the same filters pages through (for the pager)."""
    base = (
        select(func.count())
        .select_from(flags)
        .join(items, items.c.id == flags.c.item_id)
        .outerjoin(flag_labels, flag_labels.c.flag_id == flags.c.id)
    )
    return int(conn.execute(_queue_filters(base, camera, produce, status, day)).scalar_one())


def get_entry(conn: Connection, flag_id: int) -> QueueEntry:
    """One flag as a queue entry; NotFoundError when there is none."""
    check_id(flag_id, "flag id")
    row = conn.execute(_queue_select().where(flags.c.id == flag_id)).one_or_none()
    if row is None:
        raise NotFoundError(f"no flag with id {flag_id}")
    return _entry(row)
