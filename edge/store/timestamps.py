"""UTC timestamps in both databases: aware UTC datetimes in Python, ``timestamptz`` in PostgreSQL, naive UTC in SQLite.

SQLite has no time zone type; storing every value as naive UTC keeps its text ordering equal to time ordering, and
the column type gives the zone back on read, so callers see the same aware values from either backend.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from edge.store.errors import StoreValueError
from vision.options import is_number

Timestamp = float | datetime  # unix seconds (as in vision.Frame.captured_at) or an aware datetime


def to_utc(value: Timestamp, what: str = "timestamp") -> datetime:
    """Return ``value`` as an aware UTC datetime; unix seconds are accepted, naive datetimes are refused."""
    if isinstance(value, datetime):
        if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
            raise StoreValueError(f"{what} {value.isoformat()} has no time zone; pass an aware (UTC) datetime")
        return value.astimezone(timezone.utc)
    if not is_number(value):
        raise StoreValueError(f"{what} must be unix seconds or an aware datetime, got {type(value).__name__}")
    try:
        return datetime.fromtimestamp(float(value), tz=timezone.utc)
    except (OverflowError, OSError, ValueError) as exc:
        raise StoreValueError(f"{what} {value!r} is not a valid unix time: {exc}") from exc


def utc_now() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp column that only takes and only returns aware UTC datetimes."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        utc = to_utc(value)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        stored: datetime = value
        if stored.tzinfo is None:  # SQLite: stored as naive UTC
            return stored.replace(tzinfo=timezone.utc)
        return stored.astimezone(timezone.utc)
