"""Waste-feed rows as Parquet, one file per site and day: ``<out>/<daily|hourly>/date=YYYY-MM-DD/<site>.parquet``.

Hive-style partitions (``pyarrow.dataset.dataset(out / "daily", partitioning="hive")`` reads them back), and every
file also carries its rows' ``date`` itself, so one file copied or read alone still says which day it counts. The
column is the ISO text ``YYYY-MM-DD``, the type a hive reader infers for the ``date=`` folder name: a date-typed
column would clash with the partition key and make the folder unreadable as one data set. Daily files have no
``hour`` column (it would be null in every row); hourly files have it. Files are written byte-for-byte reproducibly
(fixed schema, sorted rows, no timestamps in the metadata) and only replaced when their bytes change, so an export
that changes nothing leaves every file alone.
"""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from edge.store.waste import WasteRow
from vision.atomic_file import write_bytes_atomic

HOURLY_SCHEMA = pa.schema(
    [
        pa.field("site", pa.string(), nullable=False),
        pa.field("date", pa.string(), nullable=False),  # YYYY-MM-DD (UTC), as in the folder name
        pa.field("camera_id", pa.string(), nullable=False),
        pa.field("product", pa.string(), nullable=False),
        pa.field("produce", pa.string(), nullable=False),
        pa.field("hour", pa.int8(), nullable=False),
        pa.field("items_inspected", pa.int64(), nullable=False),
        pa.field("predicted_waste", pa.int64(), nullable=False),
        pa.field("confirmed_waste", pa.int64(), nullable=False),
        pa.field("false_flags", pa.int64(), nullable=False),
        pa.field("pending_review", pa.int64(), nullable=False),
        pa.field("model_versions", pa.string(), nullable=False),
    ]
)
DAILY_SCHEMA = HOURLY_SCHEMA.remove(HOURLY_SCHEMA.get_field_index("hour"))


def schema(hourly: bool) -> pa.Schema:
    """The columns of an hourly or a daily file."""
    return HOURLY_SCHEMA if hourly else DAILY_SCHEMA


@dataclass(frozen=True)
class ParquetWrite:
    """What one export did to the Parquet folder (paths relative to it)."""

    written: tuple[str, ...]
    unchanged: tuple[str, ...]
    removed: tuple[str, ...]

    def to_dict(self) -> dict[str, list[str]]:
        return {"written": list(self.written), "unchanged": list(self.unchanged), "removed": list(self.removed)}


def partition_path(out: Path, day: date, site: str, hourly: bool) -> Path:
    """The file holding ``site``'s rows of ``day``."""
    return out / ("hourly" if hourly else "daily") / f"date={day.isoformat()}" / f"{site}.parquet"


def _value(row: WasteRow, name: str) -> object:
    return row.day.isoformat() if name == "date" else getattr(row, name)


def table_bytes(rows: Sequence[WasteRow], *, hourly: bool) -> bytes:
    """The Parquet file content for rows of one day (in the order given), hourly or daily columns."""
    columns = schema(hourly)
    table = pa.Table.from_pydict({name: [_value(r, name) for r in rows] for name in columns.names}, schema=columns)
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd", store_schema=False)
    return buf.getvalue()


def write_partitions(
    out: Path, rows: Sequence[WasteRow], *, site: str, since: date, until: date, hourly: bool
) -> ParquetWrite:
    """Make ``site``'s files of every day in [since, until] hold exactly ``rows`` (a day without rows: no file)."""
    by_day: dict[date, list[WasteRow]] = defaultdict(list)
    for r in rows:
        by_day[r.day].append(r)
    written, unchanged, removed = [], [], []
    day = since
    while day <= until:
        path = partition_path(out, day, site, hourly)
        rel = path.relative_to(out).as_posix()
        if day in by_day:
            data = table_bytes(by_day[day], hourly=hourly)
            if path.is_file() and path.read_bytes() == data:
                unchanged.append(rel)
            else:
                write_bytes_atomic(path, data)
                written.append(rel)
        elif path.is_file():
            path.unlink()
            removed.append(rel)
        day += timedelta(days=1)
    return ParquetWrite(tuple(written), tuple(unchanged), tuple(removed))


