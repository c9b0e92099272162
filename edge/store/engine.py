"""Turn a store URL into a configured SQLAlchemy engine: SQLite (WAL) by default, PostgreSQL (psycopg 3) by URL."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from edge.store.errors import StoreError

# Execution option that marks a connection's next transaction as a writer (SQLite: BEGIN IMMEDIATE).
WRITE_OPTION = "qc_store_write"

_POSTGRES_ALIASES = {"postgres", "postgresql", "postgresql+psycopg", "postgres+psycopg"}


def parse_url(url: str) -> URL:
    """Parse and normalise a store URL; a bare path means a SQLite file, ``postgresql://`` means psycopg 3."""
    text = url.strip()
    if not text:
        raise StoreError("store URL is empty; use sqlite:///path/to/qc.db or postgresql+psycopg://user@host/db")
    if "://" not in text:
        return URL.create("sqlite", database=str(Path(text).expanduser()))
    try:
        parsed = make_url(text)
    except (ArgumentError, ValueError) as exc:
        raise StoreError(f"store URL {_hide_password(text)!r} is not a database URL: {exc}") from exc
    if parsed.drivername in _POSTGRES_ALIASES:
        return parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername in ("sqlite", "sqlite+pysqlite"):
        if parsed.database in (None, "", ":memory:") or (parsed.query.get("mode") == "memory"):
            raise StoreError(
                f"store URL {text!r} is an in-memory SQLite database, which every connection would see empty; "
                "use a file: sqlite:///path/to/qc.db"
            )
        return parsed.set(drivername="sqlite")
    raise StoreError(
        f"store URL scheme {parsed.drivername!r} is not supported; use sqlite:///path/to/qc.db "
        "or postgresql+psycopg://user@host:5432/db"
    )


def dumps_strict(value: Any) -> str:
    """JSON for the store's JSON columns; NaN/Infinity are refused because PostgreSQL's json rejects them."""
    return json.dumps(value, allow_nan=False, separators=(",", ":"))


def display_url(url: URL) -> str:
    """The URL as text with any password hidden, for messages and logs."""
    return url.render_as_string(hide_password=True)


def create_store_engine(url: URL, *, busy_timeout_s: float) -> Engine:
    """An engine for ``url`` with the per-backend settings the store relies on."""
    try:
        if url.get_backend_name() == "sqlite":
            return _sqlite_engine(url, busy_timeout_s=busy_timeout_s)
        return create_engine(url, pool_pre_ping=True, json_serializer=dumps_strict)
    except (NoSuchModuleError, ModuleNotFoundError) as exc:
        raise StoreError(
            f"no database driver for store URL {display_url(url)!r} ({exc}); "
            "install the PostgreSQL extra: pip install 'conveyor-qc[postgres]'"
        ) from exc


def _switch_to_wal(cursor: Any, timeout_s: float) -> None:
    """``PRAGMA journal_mode = WAL``, retried while another connection holds the lock it needs.

    Switching a new database file to WAL needs an exclusive lock that SQLite does not wait for with the busy handler:
    nodes opening one new database at the same moment got "database is locked" here (about 1 run in 10 of
    tests/edge/store/test_store_migrations.py's concurrent opens). WAL is a property of the file, so once one
    connection has switched it the others' pragma is a no-op.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)


def _sqlite_engine(url: URL, *, busy_timeout_s: float) -> Engine:
    path = Path(url.database or "")
    try:
        path.expanduser().parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create the directory for SQLite store {path}: {exc}") from exc
    engine = create_engine(
        url,
        json_serializer=dumps_strict,
        # Pooled connections move between the service's worker threads; each is used by one thread at a time.
        connect_args={"check_same_thread": False, "timeout": busy_timeout_s},
    )
    busy_ms = int(busy_timeout_s * 1000)

    @event.listens_for(engine, "connect")
    def _configure(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself instead of pysqlite's implicit, statement-sniffing one.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {busy_ms}")
        _switch_to_wal(cur, busy_timeout_s)
        cur.execute("PRAGMA foreign_keys = ON")
        # FULL: a frame acked to a camera must survive a power cut, not only a process crash.
        cur.execute("PRAGMA synchronous = FULL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        # A writer takes the write lock up front: a deferred transaction that reads and then writes fails at once with
        # SQLITE_BUSY when another writer committed in between, and the busy timeout cannot help it.
        immediate = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _hide_password(text: str) -> str:
    try:
        return display_url(make_url(text))
    except (ArgumentError, ValueError):
        return text.split("@")[-1] if "@" in text else text
