"""Repository functions for counted items, their flags and the flags' crops."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Row, Select, case, func, select

from edge.store.errors import NotFoundError, StoreValueError
from edge.store.records import FlagRecord, FlagStatus, ItemRecord, ProduceCount
from edge.store.schema import FLAG_STATUSES, crops, flags, frames, items
from edge.store.timestamps import to_utc

if TYPE_CHECKING:
    from edge.tracking.item import Item


def item_row(item: Item, *, model_version: str | None) -> dict[str, Any]:
    """The items-table row for a tracker `Item` (counted_at is resolved on insert); numpy scalars become plain
    numbers so both backends take them. An item without its own model version gets ``model_version``."""
    box = item.best_box
    x0, y0, x1, y1 = (None, None, None, None) if box is None else (float(v) for v in box)
    return {
        "camera_id": str(item.camera_id),
        "track_id": int(item.track_id),
        "first_seq": int(item.first_seq),
        "last_seq": int(item.last_seq),
        "counted_seq": int(item.counted_seq),
        "best_seq": None if item.best_seq is None else int(item.best_seq),
        "first_seen_at": to_utc(item.first_seen_at, "item first_seen_at"),
        "last_seen_at": to_utc(item.last_seen_at, "item last_seen_at"),
        "produce": item.produce,
        "condition": item.condition,
        "freshness": float(item.freshness),
        "flagged": bool(item.flagged),
        "votes": {str(k): int(v) for k, v in item.votes.items()},
        "frames": int(item.frames),
        "box_x0": x0,
        "box_y0": y0,
        "box_x1": x1,
        "box_y1": y1,
        "sku": item.sku,
        "inferred": bool(getattr(item, "inferred", False)),
        "model_version": item.model_version if item.model_version is not None else model_version,
    }


def insert_items(
    conn: Connection, rows: Sequence[dict[str, Any]], crops_jpeg: Sequence[bytes | None], now: datetime
) -> list[int]:
    """Insert item rows, a pending flag for each flagged one and its crop; returns the new item ids in order.

    Run after the frame's own row is inserted: an item's counted_at is read from its counted_seq frame.
    """
    ids: list[int] = []
    for row, jpeg in zip(rows, crops_jpeg, strict=True):
        values = {**row, "counted_at": _counted_at(conn, row)}
        item_id = conn.execute(items.insert().values(**values).returning(items.c.id)).scalar_one()
        ids.append(item_id)
        if not row["flagged"]:
            continue
        flag_id = conn.execute(
            flags.insert().values(item_id=item_id, status="pending", created_at=now).returning(flags.c.id)
        ).scalar_one()
        if jpeg is not None:
            conn.execute(crops.insert().values(flag_id=flag_id, jpeg=bytes(jpeg), created_at=now))
    return ids


def _counted_at(conn: Connection, row: dict[str, Any]) -> datetime:
    """When the item crossed the line: the capture time of its counted_seq frame.

    The counter hands an item on when its track ends, frames after the crossing, so the committing frame's time
    would be late (and could fall on the next day). A frame the store does not hold (a checkpoint restored from
    elsewhere) falls back to interpolating between the item's first and last sighting.
    """
    stmt = select(frames.c.captured_at).where(
        frames.c.camera_id == row["camera_id"], frames.c.seq == row["counted_seq"]
    )
    captured: datetime | None = conn.execute(stmt).scalar_one_or_none()
    if captured is not None:
        return captured
    first: datetime = row["first_seen_at"]
    last: datetime = row["last_seen_at"]
    span = row["last_seq"] - row["first_seq"]
    share = 0.0 if span <= 0 else min(max((row["counted_seq"] - row["first_seq"]) / span, 0.0), 1.0)
    return first + (last - first) * share


def _filtered(
    stmt: Select[Any],
    *,
    camera_id: str | None,
    since: datetime | float | None,
    until: datetime | float | None,
    produce: str | None = None,
) -> Select[Any]:
    # Half-open [since, until) on counted_at, so consecutive windows never count an item twice.
    if camera_id is not None:
        stmt = stmt.where(items.c.camera_id == camera_id)
    if since is not None:
        stmt = stmt.where(items.c.counted_at >= to_utc(since, "since"))
    if until is not None:
        stmt = stmt.where(items.c.counted_at < to_utc(until, "until"))
    if produce is not None:
        stmt = stmt.where(items.c.produce == produce)
    return stmt


def _item_record(row: Row[Any]) -> ItemRecord:
    m = row._mapping
    box = None if m["box_x0"] is None else (m["box_x0"], m["box_y0"], m["box_x1"], m["box_y1"])
    return ItemRecord(
        id=m["id"],
        camera_id=m["camera_id"],
        track_id=m["track_id"],
        first_seq=m["first_seq"],
        last_seq=m["last_seq"],
        counted_seq=m["counted_seq"],
        best_seq=m["best_seq"],
        first_seen_at=m["first_seen_at"],
        last_seen_at=m["last_seen_at"],
        counted_at=m["counted_at"],
        produce=m["produce"],
        condition=m["condition"],
        freshness=m["freshness"],
        flagged=bool(m["flagged"]),
        votes=dict(m["votes"]),
        frames=m["frames"],
        best_box=box,
        sku=m["sku"],
        model_version=m["model_version"],
        inferred=bool(m["inferred"]),
    )


def query_items(
    conn: Connection,
    *,
    camera_id: str | None = None,
    since: datetime | float | None = None,
    until: datetime | float | None = None,
    flagged: bool | None = None,
    produce: str | None = None,
    after_id: int | None = None,
    limit: int | None = None,
) -> list[ItemRecord]:
    """Items in id order (the order they were stored), filtered; ``after_id`` + ``limit`` page through them."""
    stmt = _filtered(select(items), camera_id=camera_id, since=since, until=until, produce=produce)
    if flagged is not None:
        stmt = stmt.where(items.c.flagged == flagged)
    if after_id is not None:
        stmt = stmt.where(items.c.id > after_id)
    stmt = stmt.order_by(items.c.id)
    if limit is not None:
        stmt = stmt.limit(limit)
    return [_item_record(r) for r in conn.execute(stmt)]


def get_item(conn: Connection, item_id: int) -> ItemRecord:
    """One item by id; NotFoundError when there is none."""
    row = conn.execute(select(items).where(items.c.id == item_id)).one_or_none()
    if row is None:
        raise NotFoundError(f"no item with id {item_id}")
    return _item_record(row)


def counts_by_produce(
    conn: Connection,
    *,
    camera_id: str | None = None,
    since: datetime | float | None = None,
    until: datetime | float | None = None,
) -> dict[str, ProduceCount]:
    """Items counted and flagged per produce kind (only kinds with at least one item)."""
    flagged_n = func.sum(case((items.c.flagged, 1), else_=0))
    stmt = _filtered(
        select(items.c.produce, func.count(), flagged_n).group_by(items.c.produce),
        camera_id=camera_id,
        since=since,
        until=until,
    )
    return {
        produce: ProduceCount(produce=produce, items=int(n), flagged=int(f or 0))
        for produce, n, f in conn.execute(stmt.order_by(items.c.produce))
    }


def query_flags(
    conn: Connection,
    *,
    camera_id: str | None = None,
    since: datetime | float | None = None,
    until: datetime | float | None = None,
    status: FlagStatus | None = None,
    produce: str | None = None,
    limit: int | None = None,
) -> list[FlagRecord]:
    """Flags joined with their items, oldest first (the review queue's order)."""
    if status is not None and status not in FLAG_STATUSES:
        raise StoreValueError(f"flag status must be one of {', '.join(FLAG_STATUSES)}, got {status!r}")
    has_crop = crops.c.flag_id.is_not(None).label("has_crop")
    stmt = (
        select(
            flags.c.id.label("flag_id"),
            flags.c.status.label("flag_status"),
            flags.c.created_at.label("flag_created_at"),
            has_crop,
            *items.c,
        )
        .join(items, items.c.id == flags.c.item_id)
        .outerjoin(crops, crops.c.flag_id == flags.c.id)
    )
    stmt = _filtered(stmt, camera_id=camera_id, since=since, until=until, produce=produce)
    if status is not None:
        stmt = stmt.where(flags.c.status == status)
    stmt = stmt.order_by(flags.c.created_at, flags.c.id)
    if limit is not None:
        stmt = stmt.limit(limit)
    return [
        FlagRecord(
            id=r.flag_id,
            status=r.flag_status,
            created_at=r.flag_created_at,
            has_crop=bool(r.has_crop),
            item=_item_record(r),
        )
        for r in conn.execute(stmt)
    ]


def get_crop(conn: Connection, flag_id: int) -> bytes:
    """The JPEG crop of a flag; NotFoundError when the flag does not exist or has no crop."""
    jpeg = conn.execute(select(crops.c.jpeg).where(crops.c.flag_id == flag_id)).scalar_one_or_none()
    if jpeg is None:
        raise NotFoundError(f"no crop for flag id {flag_id}")
    return bytes(jpeg)
