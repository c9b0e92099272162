"""Repository functions for the ``waste_feed`` table: an upsert of one exported window, and reading it back.

An export owns the rows of its (site, granularity, day window): rows whose counts changed are updated (updated_at
set), new keys inserted, keys that no longer exist (every item of a row relabelled away) deleted, equal rows left
untouched. So running an export twice changes nothing, and a late review updates exactly the rows it affects.
Concurrent exports are serialised: SQLite has one writer; PostgreSQL takes a transaction-level advisory lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime

from sqlalchemy import Connection, func, select

from edge.store.schema import waste_feed
from edge.store.timestamps import utc_now
from edge.store.waste import WasteRow, aggregate_waste, check_site, check_window, item_facts

_PG_FEED_LOCK = 0x5143_5746  # "QCWF"


@dataclass(frozen=True)
class FeedWrite:
    """What one export did to the feed table."""

    inserted: int
    updated: int
    deleted: int
    unchanged: int

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def _row(r: object) -> WasteRow:
    m = r._mapping  # type: ignore[attr-defined]
    return WasteRow(**{k: m[k] for k in WasteRow.__dataclass_fields__})


def read_feed(
    conn: Connection, since: date, until: date, *, hourly: bool = False, site: str | None = None
) -> list[WasteRow]:
    """The rows stored in the table for a day window (inclusive), daily or hourly, in key order, as forecasting reads
    them (every site when ``site`` is None)."""
    check_window(since, until)
    stmt = select(waste_feed).where(waste_feed.c.day >= since, waste_feed.c.day <= until)
    stmt = stmt.where(waste_feed.c.hour.is_not(None) if hourly else waste_feed.c.hour.is_(None))
    if site is not None:
        stmt = stmt.where(waste_feed.c.site == site)
    c = waste_feed.c
    stmt = stmt.order_by(c.day, func.coalesce(c.hour, -1), c.camera_id, c.product, c.site)
    return [_row(r) for r in conn.execute(stmt)]


def write_window(
    conn: Connection, since: date, until: date, *, hourly: bool = False, site: str = "default",
    now: datetime | None = None,
) -> tuple[list[WasteRow], FeedWrite]:
    """Compute the window's rows from the items and upsert them into the table (what `qc waste export` runs), in
    the caller's transaction; idempotent."""
    check_site(site)
    start, end = check_window(since, until)
    rows = aggregate_waste(item_facts(conn, start, end), site=site, hourly=hourly)
    written = upsert_window(conn, rows, site=site, since=since, until=until, hourly=hourly, now=now or utc_now())
    return rows, written


def upsert_window(
    conn: Connection,
    rows: Sequence[WasteRow],
    *,
    site: str,
    since: date,
    until: date,
    hourly: bool,
    now: datetime,
) -> FeedWrite:
    """Make the table's (site, granularity, [since, until]) rows equal to ``rows`` (which must lie in that window)."""
    if conn.dialect.name == "postgresql":
        conn.execute(select(func.pg_advisory_xact_lock(_PG_FEED_LOCK)))
    for r in rows:
        if r.site != site or not since <= r.day <= until or (r.hour is not None) != hourly:
            raise ValueError(f"feed row {r.key} lies outside the export window {site} {since}..{until}")
    stored: dict[tuple[object, ...], tuple[int, WasteRow]] = {}
    stmt = select(waste_feed).where(waste_feed.c.site == site, waste_feed.c.day >= since, waste_feed.c.day <= until)
    stmt = stmt.where(waste_feed.c.hour.is_not(None) if hourly else waste_feed.c.hour.is_(None))
    for r in conn.execute(stmt):
        row = _row(r)
        stored[row.key] = (r.id, row)
    inserted = updated = unchanged = 0
    new_rows = []
    for row in rows:
        old = stored.pop(row.key, None)
        if old is None:
            new_rows.append({**asdict(row), "updated_at": now})
            inserted += 1
        elif old[1].counts() != row.counts():
            conn.execute(
                waste_feed.update()
                .where(waste_feed.c.id == old[0])
                .values(
                    produce=row.produce,
                    items_inspected=row.items_inspected,
                    predicted_waste=row.predicted_waste,
                    confirmed_waste=row.confirmed_waste,
                    false_flags=row.false_flags,
                    pending_review=row.pending_review,
                    model_versions=row.model_versions,
                    updated_at=now,
                )
            )
            updated += 1
        else:
            unchanged += 1
    if new_rows:
        conn.execute(waste_feed.insert(), new_rows)
    if stored:
        conn.execute(waste_feed.delete().where(waste_feed.c.id.in_([rid for rid, _ in stored.values()])))
    return FeedWrite(inserted=inserted, updated=updated, deleted=len(stored), unchanged=unchanged)
