"""Waste feed: aggregates against numbers worked out by hand (tests/edge/ops/feed/history.py), on SQLite and PostgreSQL;
an export run twice changes nothing (table rows, Parquet bytes); a late review changes exactly the right row."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest
import typer
from history import DAILY, DAY1, DAY2, HISTORY, HOURLY, build_history
from sqlalchemy import create_engine, select
from store_tx import read, write
from typer.testing import CliRunner

from edge.cli import register
from edge.ops.feed.export import ExportResult, export_waste, export_window, run_periodic
from edge.store import Store, StoreValueError, WasteRow
from edge.store.review_repo import apply_review
from edge.store.schema import waste_feed
from edge.store.waste import ItemFact, aggregate_waste, dashboard, waste_rows
from edge.store.waste_feed import read_feed, write_window
from vision.errors import InputError


def _by_key(rows: list[WasteRow]) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    return {
        (r.camera_id, r.product, r.day, r.hour): (
            r.produce, r.items_inspected, r.predicted_waste, r.confirmed_waste, r.false_flags, r.pending_review,
            r.model_versions,
        )
        for r in rows
    }


def _table(store_url: str) -> list[dict[str, Any]]:
    """The waste_feed table as the forecasting side reads it: every row, every column, in id order."""
    engine = create_engine(store_url)
    try:
        with engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(select(waste_feed).order_by(waste_feed.c.id))]
    finally:
        engine.dispose()


@pytest.mark.parametrize(("hourly", "expected"), [(False, DAILY), (True, HOURLY)], ids=["daily", "hourly"])
def test_aggregates_match_hand_counts(store: Store, hourly: bool, expected: dict[Any, Any]) -> None:
    build_history(store)
    rows = read(store, waste_rows, DAY1, DAY2, hourly=hourly, site="s1")
    assert _by_key(rows) == expected
    assert {r.site for r in rows} == {"s1"}
    # Items before 00:00 of the first day and from 00:00 after the last day are outside the window.
    assert sum(r.items_inspected for r in rows) == len(HISTORY) - 2


def test_export_writes_table_and_parquet_and_is_idempotent(store: Store, store_url: str, tmp_path: Path) -> None:
    build_history(store)
    out = tmp_path / "feed"
    first = export_waste(store, DAY1, DAY2, site="s1", out=out)
    assert first.table.to_dict() == {"inserted": 6, "updated": 0, "deleted": 0, "unchanged": 0}
    table = _table(store_url)
    assert {(r["camera_id"], r["product"], r["day"], r["hour"]) for r in table} == set(DAILY)
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.parquet"))
    assert files == ["daily/date=2026-11-20/s1.parquet", "daily/date=2026-11-21/s1.parquet"]
    before = {f: (out / f).read_bytes() for f in files}

    second = export_waste(store, DAY1, DAY2, site="s1", out=out)
    assert second.table.to_dict() == {"inserted": 0, "updated": 0, "deleted": 0, "unchanged": 6}
    assert second.parquet is not None and second.parquet.written == () and len(second.parquet.unchanged) == 2
    assert _table(store_url) == table  # identical rows, updated_at included
    assert {f: (out / f).read_bytes() for f in files} == before  # identical bytes
    export_waste(store, DAY1, DAY2, site="s1", out=tmp_path / "fresh")  # written anew: still the same bytes
    assert {f: (tmp_path / "fresh" / f).read_bytes() for f in files} == before

    # The Parquet content is the feed: read back as a hive-partitioned data set.
    read = pads.dataset(out / "daily", partitioning="hive").to_table().to_pylist()
    assert {(r["camera_id"], r["product"], str(r["date"]), None) for r in read} == {
        (c, p, d.isoformat(), h) for c, p, d, h in DAILY
    }
    assert {(r["camera_id"], r["product"], str(r["date"])): r["confirmed_waste"] for r in read}[
        ("cam2", "orange", "2026-11-20")
    ] == 1


def test_late_review_changes_exactly_the_right_row(store: Store, store_url: str, tmp_path: Path) -> None:
    flag_ids = build_history(store)
    out = tmp_path / "feed"
    export_waste(store, DAY1, DAY2, site="s1", out=out)
    before = {(r["camera_id"], r["product"], r["day"], r["hour"]): r for r in _table(store_url)}
    day1_file = (out / "daily/date=2026-11-20/s1.parquet").read_bytes()

    write(store, apply_review, flag_ids["a5"], "confirm_waste", "late-reviewer")  # day 2, cam1, apple: was pending
    result = export_waste(store, DAY1, DAY2, site="s1", out=out)

    assert result.table.to_dict() == {"inserted": 0, "updated": 1, "deleted": 0, "unchanged": 5}
    after = {(r["camera_id"], r["product"], r["day"], r["hour"]): r for r in _table(store_url)}
    changed = {k for k in before if before[k] != after[k]}
    assert changed == {("cam1", "apple", DAY2, None)}
    old, new = before[("cam1", "apple", DAY2, None)], after[("cam1", "apple", DAY2, None)]
    assert (old["confirmed_waste"], old["pending_review"]) == (0, 1)
    assert (new["confirmed_waste"], new["pending_review"]) == (1, 0)
    assert {k: v for k, v in new.items() if k not in ("confirmed_waste", "pending_review", "updated_at")} == {
        k: v for k, v in old.items() if k not in ("confirmed_waste", "pending_review", "updated_at")
    }
    assert new["updated_at"] > old["updated_at"]
    assert result.parquet is not None and result.parquet.written == ("daily/date=2026-11-21/s1.parquet",)
    assert (out / "daily/date=2026-11-20/s1.parquet").read_bytes() == day1_file


def test_relabel_moves_the_item_and_an_emptied_row_is_deleted(store: Store, store_url: str) -> None:
    flag_ids = build_history(store)
    export_waste(store, DAY1, DAY2, site="s1")
    # cam2's only orange item (a relabelled tomato) relabelled again, to banana: the orange row of cam2 disappears.
    write(store, apply_review, flag_ids["t1"], "relabel", "ops2", produce="banana")
    result = export_waste(store, DAY1, DAY2, site="s1")
    assert result.table.to_dict() == {"inserted": 1, "updated": 0, "deleted": 1, "unchanged": 5}
    keys = {(r["camera_id"], r["product"], r["day"], r["hour"]) for r in _table(store_url)}
    assert ("cam2", "orange", DAY1, None) not in keys and ("cam2", "banana", DAY1, None) in keys


def test_sites_and_granularities_do_not_touch_each_other(store: Store, store_url: str) -> None:
    build_history(store)
    export_waste(store, DAY1, DAY2, site="s1")
    export_waste(store, DAY1, DAY2, site="s1", hourly=True)
    export_waste(store, DAY1, DAY1, site="s2")
    rows = _table(store_url)
    assert sum(r["site"] == "s1" and r["hour"] is None for r in rows) == len(DAILY)
    assert sum(r["site"] == "s1" and r["hour"] is not None for r in rows) == len(HOURLY)
    assert sum(r["site"] == "s2" for r in rows) == 4
    assert _by_key(read(store, read_feed, DAY1, DAY2, site="s1")) == DAILY  # read back through the store


def test_periodic_mode_exports_until_stopped(store: Store, tmp_path: Path) -> None:
    build_history(store)
    stop = threading.Event()
    results: list[ExportResult] = []

    def collect(result: ExportResult) -> None:
        results.append(result)
        if len(results) == 2:
            stop.set()

    run_periodic(store, 0.01, stop, collect, since=DAY1, until=DAY2, site="s1", out=tmp_path / "feed")
    assert [r.table.inserted for r in results] == [6, 0]
    assert [r.table.unchanged for r in results] == [0, 6]


def test_cli_export_prints_a_summary_and_writes_parquet(store_url: str, tmp_path: Path) -> None:
    with Store.open(store_url) as store:
        build_history(store)
    app = typer.Typer()
    register(app)
    args = ["waste", "export", "--since", "2026-11-20", "--until", "2026-11-21", "--hourly", "--db", store_url,
            "--site", "s1", "--out", str(tmp_path / "feed")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["rows"] == len(HOURLY) and summary["table"]["inserted"] == len(HOURLY)
    assert len(list((tmp_path / "feed" / "hourly").rglob("*.parquet"))) == 2


@pytest.mark.parametrize(
    ("since", "until", "site", "error"),
    [
        (DAY2, DAY1, "s1", "before since"),
        (date(2020, 1, 1), DAY2, "s1", "longer than"),
        (DAY1, DAY2, "../etc", "site must be"),
        (DAY1, DAY2, "", "site must be"),
    ],
)
def test_bad_windows_and_sites_are_refused(store: Store, since: date, until: date, site: str, error: str) -> None:
    with pytest.raises(StoreValueError, match=error):
        write(store, write_window, since, until, site=site)


@pytest.mark.parametrize(
    ("since", "until", "days", "expected"),
    [
        (None, None, 7, (date(2026, 11, 20), date(2026, 11, 26))),
        (DAY1, None, 7, (DAY1, date(2026, 11, 26))),
        (None, DAY2, 2, (DAY1, DAY2)),
        (DAY2, DAY1, 7, InputError),
        (None, None, 0, InputError),
    ],
)
def test_export_window(since: date | None, until: date | None, days: int, expected: Any) -> None:
    if expected is InputError:
        with pytest.raises(InputError):
            export_window(since, until, days=days, today=date(2026, 11, 26))
    else:
        assert export_window(since, until, days=days, today=date(2026, 11, 26)) == expected


def test_aggregate_is_pure_and_order_independent() -> None:
    facts = [
        ItemFact("cam1", HISTORY[1].at, "apple", None, False, None, "v1"),
        ItemFact("cam1", HISTORY[2].at, "apple", None, True, "confirmed", "v2"),
        ItemFact("cam1", HISTORY[3].at, "pear", "SKU-9", True, "rejected", None),
        ItemFact("cam1", HISTORY[4].at, "apple", "SKU-9", True, "pending", "v1"),
        ItemFact("cam1", HISTORY[5].at, "apple", "SKU-9", False, None, "v1"),
    ]
    rows = aggregate_waste(facts, site="s")
    assert rows == aggregate_waste(list(reversed(facts)), site="s")
    by = {r.product: r for r in rows}
    assert replace(by["apple"], site="x") == WasteRow("x", "cam1", "apple", "apple", DAY1, None, 2, 1, 1, 0, 0, "v1,v2")
    # An SKU row's produce is its most common produce; model versions skip unknown ones.
    assert by["SKU-9"] == WasteRow("s", "cam1", "SKU-9", "apple", DAY1, None, 3, 2, 0, 1, 1, "v1")
    assert by["SKU-9"].to_dict()["day"] == "2026-11-20"


def test_dashboard_per_produce_per_day_and_precision(store: Store) -> None:
    build_history(store)
    dash = read(store, dashboard, DAY1, DAY2)
    assert [(r.day, r.produce, r.inspected, r.flagged, r.confirmed, r.rejected, r.pending) for r in dash.rows] == [
        (DAY1, "apple", 5, 4, 2, 1, 1),  # the SKU item is an apple too
        (DAY1, "banana", 2, 1, 1, 0, 0),
        (DAY1, "orange", 1, 1, 1, 0, 0),  # the relabelled tomato
        (DAY2, "apple", 2, 1, 0, 0, 1),
        (DAY2, "orange", 1, 0, 0, 0, 0),
    ]
    assert [(p.day, p.confirmed, p.reviewed, p.precision) for p in dash.precision] == [
        (DAY1, 4, 5, 0.8), (DAY2, 0, 0, None)
    ]


def test_json_api_form_matches_the_export(store: Store) -> None:
    from edge.ops.feed.api import parse_day, waste_json

    build_history(store)
    since, until = parse_day("2026-11-20", "since"), parse_day("2026-11-21", "until")
    body = read(store, waste_json, since, until, hourly=True, site="s1").model_dump(mode="json")  # as served
    assert body["since"] == "2026-11-20" and body["hourly"] is True
    assert body["rows"] == [r.to_dict() for r in read(store, waste_rows, DAY1, DAY2, hourly=True, site="s1")]
    assert len(body["rows"]) == len(HOURLY)
    json.dumps(body)  # plain JSON
    assert read(store, waste_json, None, None, today=DAY2).since == "2026-11-15"


@pytest.mark.parametrize(
    ("since", "until", "error"),
    [
        ("2026-13-01", None, "'since' must be a date"),
        ("<script>", None, "'since' must be a date"),
        ("20260105", None, "'since' must be a date"),  # date.fromisoformat takes it (3.11+); YYYY-MM-DD only
        ("2026-11-01", "2026-W47-1", "'until' must be a date"),
        ("2026-11-21", "2026-11-20", "before"),
        ("2026-01-01", "2026-11-20", "longer than 92 days"),
    ],
)
def test_json_api_refuses_bad_windows_without_echoing_them(
    tmp_path: Path, since: str, until: str | None, error: str
) -> None:
    from edge.ops.feed.api import parse_day, waste_json

    with Store.open(f"sqlite:///{tmp_path / 'qc.db'}") as store, pytest.raises(InputError, match=error) as caught:
        read(store, waste_json, parse_day(since, "since"), parse_day(until, "until"))
    assert "<script>" not in str(caught.value)


@pytest.mark.parametrize("hourly", [False, True], ids=["daily", "hourly"])
def test_a_parquet_file_read_alone_carries_its_date(store: Store, tmp_path: Path, hourly: bool) -> None:
    """The day used to be only in the folder name: a file copied or read alone had no date. Daily files also carried
    an `hour` column that was null in every row."""
    build_history(store)
    out = tmp_path / "feed"
    export_waste(store, DAY1, DAY2, site="s1", out=out, hourly=hourly)
    expected = HOURLY if hourly else DAILY
    seen = set()
    for path in sorted(out.rglob("*.parquet")):
        table = pq.read_table(path, partitioning=None)  # the file by itself, no folder names involved
        assert ("hour" in table.column_names) is hourly
        folder_day = path.parent.name.removeprefix("date=")
        rows = table.to_pylist()
        assert rows and {r["date"] for r in rows} == {folder_day}
        seen |= {(r["camera_id"], r["product"], date.fromisoformat(r["date"]), r.get("hour")) for r in rows}
    assert seen == set(expected)
    # The whole folder still reads as one hive-partitioned data set (the column and the key agree).
    whole = pads.dataset(out / ("hourly" if hourly else "daily"), partitioning="hive").to_table()
    assert whole.num_rows == len(expected) and whole.schema.field("date").type == "string"


def test_export_refuses_a_store_that_does_not_exist(tmp_path: Path) -> None:
    """`qc waste export --out DIR` without --config used to read a new, empty store in the per-user data folder,
    print "rows": 0, exit 0 and leave that store behind."""
    data_home = tmp_path / "xdg-data"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("QC_")}, "XDG_DATA_HOME": str(data_home)}
    done = subprocess.run([sys.executable, "-m", "vision.cli", "waste", "export", "--out", str(tmp_path / "feed")],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    default_store = data_home / "conveyor-qc" / "qc.sqlite3"
    assert len(lines) == 1 and lines[0].startswith(f"error: no store at {default_store}"), done.stderr
    assert "--config" in lines[0]
    assert done.stdout == ""
    assert not data_home.exists() and not (tmp_path / "feed").exists()

    missing = tmp_path / "typo.sqlite3"
    app = typer.Typer()
    register(app)
    named = CliRunner().invoke(app, ["waste", "export", "--db", f"sqlite:///{missing}"])
    assert named.exit_code != 0 and f"no store at {missing}" in str(named.exception)
    assert not missing.exists()


@pytest.mark.parametrize("day", ["20260105", "2026-W02-1", "2026-02-30"])
def test_export_refuses_a_day_that_is_not_yyyy_mm_dd(tmp_path: Path, day: str) -> None:
    """The export's --since/--until follow the query strings' rule: only YYYY-MM-DD (Python's own parser also takes
    the basic and week forms), refused before any store is opened."""
    app = typer.Typer()
    register(app)
    got = CliRunner().invoke(app, ["waste", "export", "--since", day, "--db", f"sqlite:///{tmp_path / 'none.sqlite3'}"])
    assert got.exit_code != 0 and "--since must be a date YYYY-MM-DD" in str(got.exception)
