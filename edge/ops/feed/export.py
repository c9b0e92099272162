"""One waste-feed export: compute the window's rows from the store, upsert them into ``waste_feed``, write Parquet.

Also the periodic mode (`run_periodic`), used by `qc waste export --every` and available to the service: each run
re-exports a rolling window, so reviews made days after the items were counted still reach the feed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from edge.ops.feed.parquet import ParquetWrite, write_partitions
from edge.store import Store
from edge.store.waste import WasteRow, check_site
from edge.store.waste_feed import FeedWrite, write_window
from vision.errors import InputError

DEFAULT_DAYS = 7  # rolling window: reviews usually land within a week of the item being counted


@dataclass(frozen=True)
class ExportResult:
    """What one export covered and changed."""

    site: str
    since: date
    until: date
    hourly: bool
    rows: tuple[WasteRow, ...]
    table: FeedWrite
    parquet: ParquetWrite | None

    def to_dict(self) -> dict[str, Any]:
        """JSON summary (without the rows themselves)."""
        return {
            "site": self.site,
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "hourly": self.hourly,
            "rows": len(self.rows),
            "table": self.table.to_dict(),
            "parquet": None if self.parquet is None else self.parquet.to_dict(),
        }


def export_window(
    since: date | None, until: date | None, *, days: int = DEFAULT_DAYS, today: date | None = None
) -> tuple[date, date]:
    """The window to export: the given dates, else the ``days`` days ending today (UTC)."""
    if days < 1:
        raise InputError(f"the window must be at least 1 day long, got {days}")
    end = until if until is not None else (today or datetime.now(timezone.utc).date())
    start = since if since is not None else end - timedelta(days=days - 1)
    if end < start:
        raise InputError(f"until {end} is before since {start}")
    return start, end


def export_waste(
    store: Store, since: date, until: date, *, hourly: bool = False, site: str = "default", out: Path | None = None
) -> ExportResult:
    """Upsert the window's rows into the store's ``waste_feed`` table and, with ``out``, write its Parquet files.

    Idempotent: a second run with nothing new changes no row and no file. The table and the files get the same rows
    (computed once, inside the upsert's transaction).
    """
    check_site(site)
    with store.transaction(write=True) as conn:
        rows, table = write_window(conn, since, until, hourly=hourly, site=site)
    parquet = None
    if out is not None:
        parquet = write_partitions(Path(out), rows, site=site, since=since, until=until, hourly=hourly)
    return ExportResult(site, since, until, hourly, tuple(rows), table, parquet)


def run_periodic(
    store: Store,
    every_s: float,
    stop: threading.Event,
    on_result: Callable[[ExportResult], None],
    *,
    since: date | None = None,
    until: date | None = None,
    days: int = DEFAULT_DAYS,
    hourly: bool = False,
    site: str = "default",
    out: Path | None = None,
    on_error: Callable[[Exception], None] | None = None,
) -> None:
    """Export every ``every_s`` seconds until ``stop`` is set (first run at once).

    Without fixed dates the window rolls with the clock. A failing run (store unavailable) is handed to ``on_error``
    and retried at the next tick; without ``on_error`` it propagates.
    """
    if every_s <= 0:
        raise InputError(f"--every must be > 0 seconds, got {every_s}")
    while not stop.is_set():
        try:
            start, end = export_window(since, until, days=days)
            on_result(export_waste(store, start, end, hourly=hourly, site=site, out=out))
        except Exception as exc:  # noqa: BLE001 - a periodic exporter outlives a transient failure
            if on_error is None:
                raise
            on_error(exc)
        stop.wait(every_s)
