"""The JSON form of the waste feed, for ``GET /review/api/waste?since=&until=&hourly=`` (mounted by the review page).

`waste_json` returns the same rows `qc waste export` writes, computed from the store at request time (not read from
the ``waste_feed`` table, so it is never staler than the last review), as a `WasteOut` response model.
"""

from __future__ import annotations

import re
from datetime import date

from pydantic import BaseModel
from sqlalchemy import Connection

from edge.ops.feed.export import DEFAULT_DAYS, export_window
from edge.store.waste import WasteRow, waste_rows
from vision.errors import InputError

MAX_API_DAYS = 92  # one request stays cheap; longer spans go through the export
# fullmatch and ASCII digits only: since Python 3.11 ``date.fromisoformat`` also takes the basic and week forms
# ("20260105", "2026-W01-1"), neither the YYYY-MM-DD every query parameter documents.
DAY_PATTERN = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class WasteOut(BaseModel):
    """The window served (days inclusive, ISO dates), its granularity and site, and its rows in key order."""

    since: str
    until: str
    hourly: bool
    site: str
    # The store's own rows: pydantic serializes the dataclass field by field, ``day`` as its ISO date, so the
    # JSON form is declared once, in `edge.store.waste.WasteRow`.
    rows: list[WasteRow]


def iso_day(text: str) -> date:
    """The day ``text`` names, exactly YYYY-MM-DD: the one rule of a day in a query string (here and the review
    queue's ``date``). ValueError, never quoting ``text``, for anything else."""
    if not isinstance(text, str) or not DAY_PATTERN.fullmatch(text):
        raise ValueError("not a day as YYYY-MM-DD")
    try:
        return date.fromisoformat(text)
    except ValueError:  # a month or day out of range; its message would quote the text
        raise ValueError("not a day as YYYY-MM-DD") from None


def parse_day(value: str | None, name: str) -> date | None:
    """A YYYY-MM-DD query parameter (`iso_day`), None when absent or empty; InputError naming the parameter (never
    echoing the value) when malformed."""
    if value is None or value == "":
        return None
    try:
        return iso_day(value)
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
        rows=list(rows),
    )
