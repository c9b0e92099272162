"""Waste aggregates: per (site, camera, product, day[, hour]) items inspected, flagged, confirmed, false flags, pending.

One pure function (`aggregate_waste`) turns per-item facts into feed rows; the store reads the facts (`item_facts`),
the JSON API and `qc waste export` call it (`waste_rows`, `edge.store.waste_feed.write_window`), and the dashboard is a
coarser view of the same facts (`dashboard_of`, `dashboard`).

Rules (documented for the forecasting side):
- Days and hours are UTC, of the item's ``counted_at`` (when it crossed the line). Hourly rows let a reader re-bucket
  to local days.
- ``product`` is the item's SKU when its frames carried one, else its *current* produce kind: a relabel moves the
  item, with its flag, from the model's produce row to the corrected one. ``produce`` is the row's produce kind (for
  an SKU row, the most common current produce among its items, ties by name).
- predicted_waste = flagged items; confirmed_waste = flags confirmed; false_flags = flags rejected ("not waste");
  pending_review = flagged - confirmed - rejected. Unflagged items are never reviewed.
- model_versions: the sorted distinct versions that scored the row's items, comma-joined ('' when unknown).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from sqlalchemy import Connection, select

from edge.store.errors import StoreValueError
from edge.store.reviews import Dashboard, DashboardRow, PrecisionPoint
from edge.store.schema import flag_labels, flags, items

_SITE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MAX_WINDOW_DAYS = 366


@dataclass(frozen=True)
class ItemFact:
    """What the aggregates need of one counted item (current produce: after relabels)."""

    camera_id: str
    counted_at: datetime
    produce: str
    sku: str | None
    flagged: bool
    status: str | None  # the flag's status; None for an unflagged item
    model_version: str | None


@dataclass(frozen=True)
class WasteRow:
    """One row of the waste feed; ``hour`` is None in daily rows."""

    site: str
    camera_id: str
    product: str
    produce: str
    day: date
    hour: int | None
    items_inspected: int
    predicted_waste: int
    confirmed_waste: int
    false_flags: int
    pending_review: int
    model_versions: str

    @property
    def key(self) -> tuple[str, str, str, date, int | None]:
        """The row's identity in the feed table."""
        return (self.site, self.camera_id, self.product, self.day, self.hour)

    def counts(self) -> tuple[Any, ...]:
        """Everything but the key: what an upsert compares."""
        return (
            self.produce,
            self.items_inspected,
            self.predicted_waste,
            self.confirmed_waste,
            self.false_flags,
            self.pending_review,
            self.model_versions,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON form (``day`` as ISO date)."""
        out = asdict(self)
        out["day"] = self.day.isoformat()
        return out


def check_site(site: str) -> str:
    """``site`` if it is 1-64 characters of letters, digits, ``_ . -`` (it names Parquet files too)."""
    if not isinstance(site, str) or not _SITE.match(site):
        raise StoreValueError(f"site must be 1-64 letters, digits, '_', '.', '-' (starting alphanumeric), got {site!r}")
    return site


def check_window(since: date, until: date) -> tuple[datetime, datetime]:
    """The UTC instants [since 00:00, until+1 00:00) of an inclusive day window; refuses reversed or huge ones."""
    for what, d in (("since", since), ("until", until)):
        if not isinstance(d, date) or isinstance(d, datetime):
            raise StoreValueError(f"{what} must be a date (YYYY-MM-DD), got {d!r}")
    if until < since:
        raise StoreValueError(f"until {until} is before since {since}")
    if (until - since).days + 1 > MAX_WINDOW_DAYS:
        raise StoreValueError(f"window {since}..{until} is longer than {MAX_WINDOW_DAYS} days")
    start = datetime.combine(since, time(0), tzinfo=timezone.utc)
    return start, datetime.combine(until + timedelta(days=1), time(0), tzinfo=timezone.utc)


def item_facts(conn: Connection, start: datetime, end: datetime) -> Iterator[ItemFact]:
    """Every item counted in [start, end), with its flag's status and current produce, streamed."""
    stmt = (
        select(
            items.c.camera_id,
            items.c.counted_at,
            items.c.produce,
            flag_labels.c.produce.label("label_produce"),
            items.c.sku,
            items.c.flagged,
            flags.c.status,
            items.c.model_version,
        )
        .select_from(items)
        .outerjoin(flags, flags.c.item_id == items.c.id)
        .outerjoin(flag_labels, flag_labels.c.flag_id == flags.c.id)
        .where(items.c.counted_at >= start, items.c.counted_at < end)
        .order_by(items.c.id)
    )
    # Statement-level, not connection-level: the same connection then writes the feed rows (no server cursor).
    for r in conn.execute(stmt.execution_options(yield_per=2000)):
        yield ItemFact(
            camera_id=r.camera_id,
            counted_at=r.counted_at,
            produce=r.label_produce or r.produce,
            sku=r.sku,
            # An item flagged by the counter always has a flag row; trust the row if the two ever disagree.
            flagged=bool(r.flagged) or r.status is not None,
            status=r.status,
            model_version=r.model_version,
        )


@dataclass
class _Acc:
    inspected: int = 0
    flagged: int = 0
    confirmed: int = 0
    rejected: int = 0

    def add(self, fact: ItemFact) -> None:
        self.inspected += 1
        if fact.flagged:
            self.flagged += 1
            self.confirmed += fact.status == "confirmed"
            self.rejected += fact.status == "rejected"


def aggregate_waste(facts: Iterable[ItemFact], *, site: str, hourly: bool = False) -> list[WasteRow]:
    """Feed rows from item facts, sorted by key (day, hour, camera, product): a pure function."""
    check_site(site)
    accs: dict[tuple[str, str, date, int | None], _Acc] = defaultdict(_Acc)
    produces: dict[tuple[str, str, date, int | None], Counter[str]] = defaultdict(Counter)
    versions: dict[tuple[str, str, date, int | None], set[str]] = defaultdict(set)
    for fact in facts:
        at = fact.counted_at.astimezone(timezone.utc)
        key = (fact.camera_id, fact.sku or fact.produce, at.date(), at.hour if hourly else None)
        accs[key].add(fact)
        produces[key][fact.produce] += 1
        if fact.model_version:
            versions[key].add(fact.model_version)
    rows = []
    for key, acc in accs.items():
        camera_id, product, day, hour = key
        top = min(produces[key].items(), key=lambda kv: (-kv[1], kv[0]))[0]  # most common; ties by name
        rows.append(
            WasteRow(
                site=site,
                camera_id=camera_id,
                product=product,
                produce=top,
                day=day,
                hour=hour,
                items_inspected=acc.inspected,
                predicted_waste=acc.flagged,
                confirmed_waste=acc.confirmed,
                false_flags=acc.rejected,
                pending_review=acc.flagged - acc.confirmed - acc.rejected,
                model_versions=",".join(sorted(versions[key])),
            )
        )
    rows.sort(key=lambda r: (r.day, -1 if r.hour is None else r.hour, r.camera_id, r.product))
    return rows


def dashboard_of(facts: Iterable[ItemFact]) -> Dashboard:
    """Per produce (current) per UTC day: inspected, flagged, confirmed, rejected, pending; and per day precision."""
    accs: dict[tuple[date, str], _Acc] = defaultdict(_Acc)
    for fact in facts:
        accs[(fact.counted_at.astimezone(timezone.utc).date(), fact.produce)].add(fact)
    rows = tuple(
        DashboardRow(
            day=day,
            produce=produce,
            inspected=a.inspected,
            flagged=a.flagged,
            confirmed=a.confirmed,
            rejected=a.rejected,
            pending=a.flagged - a.confirmed - a.rejected,
        )
        for (day, produce), a in sorted(accs.items())
    )
    per_day: dict[date, list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        per_day[row.day][0] += row.confirmed
        per_day[row.day][1] += row.confirmed + row.rejected
    precision = tuple(
        PrecisionPoint(day=day, confirmed=c, reviewed=n, precision=(c / n if n else None))
        for day, (c, n) in sorted(per_day.items())
    )
    return Dashboard(rows=rows, precision=precision)


def waste_rows(
    conn: Connection, since: date, until: date, *, hourly: bool = False, site: str = "default"
) -> list[WasteRow]:
    """The feed rows of a day window (``since``..``until`` inclusive, at most 366 days), computed from the items now
    (not read from the ``waste_feed`` table); StoreValueError for a bad site or window."""
    check_site(site)
    start, end = check_window(since, until)
    return aggregate_waste(item_facts(conn, start, end), site=site, hourly=hourly)


def dashboard(conn: Connection, since: date, until: date) -> Dashboard:
    """The dashboard of a day window (inclusive): `dashboard_of` the items counted in it."""
    start, end = check_window(since, until)
    return dashboard_of(item_facts(conn, start, end))
