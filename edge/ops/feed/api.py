"""The JSON form of the waste feed, for ``GET /review/api/waste?since=&until=&hourly=`` (mounted by the review page).

`waste_json` returns the same rows `qc waste export` writes, computed from the store at request time (not read from
the ``waste_feed`` table, so it is never staler than the last review), as a `WasteOut` response model.
"""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel
from sqlalchemy import Connection

from edge.ops.feed.export import DEFAULT_DAYS, export_window
from edge.store.waste import WasteRow, waste_rows
from vision.errors import InputError

MAX_API_DAYS = 92  # one request stays cheap; longer spans go through the export


class WasteRowOut(BaseModel):
    """One feed row as JSON (`edge.store.waste.WasteRow`, ``day`` as an ISO date)."""

    site: str
    camera_id: str
    product: str
    produce: str
    day: str
    hour: int | None
    items_inspected: int
    predicted_waste: int
    confirmed_waste: int
    false_flags: int
    pending_review: int
    model_versions: str

    @classmethod
    def of(cls, row: WasteRow) -> WasteRowOut:
        """The JSON form of ``row``."""
        return cls(**row.to_dict())


class WasteOut(BaseModel):
    """The window served (days inclusive, ISO dates), its granularity and site, and its rows in key order."""

    since: str
    until: str
    hourly: bool
    site: str
    rows: list[WasteRowOut]


def parse_day(value: str | None, name: str) -> date | None:
    """A YYYY-MM-DD query parameter; InputError naming the parameter (never echoing the value) when malformed."""
    if value is None or value == "":
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InputError(f"query parameter {name!r} must be a date YYYY-MM-DD") from None


def waste_json(
    conn: Connection,
    since: date | None = None,
    until: date | None = None,
    hourly: bool = False,
    *,
    site: str = "default",
    today: date | None = None,
) -> WasteOut:
    """The feed rows of the window (default: the last 7 days through today, UTC) read with ``conn``. InputError for
    a reversed window or one longer than 92 days."""
    first, last = export_window(since, until, days=DEFAULT_DAYS, today=today)
    if (last - first).days + 1 > MAX_API_DAYS:
        raise InputError(f"the window is longer than {MAX_API_DAYS} days; use `qc waste export` for long spans")
    rows = waste_rows(conn, first, last, hourly=hourly, site=site)
    return WasteOut(
        since=first.isoformat(), until=last.isoformat(), hourly=hourly, site=site,
        rows=[WasteRowOut.of(r) for r in rows],
    )
