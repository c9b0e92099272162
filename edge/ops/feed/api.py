"""The JSON form of the waste feed, for ``GET /api/waste?since=&until=&hourly=`` (mounted by the review page).

`waste_json` parses the query strings and returns the same rows `qc waste export` writes, computed from the store
at request time (not read from the ``waste_feed`` table, so it is never staler than the last review).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from edge.ops.feed.export import DEFAULT_DAYS, export_window
from edge.store import Store
from vision.errors import InputError

MAX_API_DAYS = 92  # one request stays cheap; longer spans go through the export


def parse_day(value: str | None, name: str) -> date | None:
    """A YYYY-MM-DD query parameter; InputError naming the parameter (never echoing the value) when malformed."""
    if value is None or value == "":
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InputError(f"query parameter {name!r} must be a date YYYY-MM-DD") from None


def waste_json(
    store: Store,
    since: str | None = None,
    until: str | None = None,
    hourly: bool = False,
    *,
    site: str = "default",
    today: date | None = None,
) -> dict[str, Any]:
    """``{"since", "until", "hourly", "site", "rows": [WasteRow.to_dict(), ...]}`` for the window (default: the last
    7 days through today, UTC). InputError for a malformed or reversed window or one longer than 92 days."""
    first, last = export_window(parse_day(since, "since"), parse_day(until, "until"), days=DEFAULT_DAYS, today=today)
    if (last - first).days + 1 > MAX_API_DAYS:
        raise InputError(f"the window is longer than {MAX_API_DAYS} days; use `qc waste export` for long spans")
    rows = store.waste_rows(first, last, hourly=hourly, site=site)
    return {
        "since": first.isoformat(),
        "until": last.isoformat(),
        "hourly": hourly,
        "site": site,
        "rows": [r.to_dict() for r in rows],
    }
