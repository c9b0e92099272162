"""The one backend difference the repository needs: INSERT ... ON CONFLICT, spelled per dialect."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


def insert_on_conflict(conn: Connection, table: Table) -> Any:
    """An INSERT for ``table`` that supports ``on_conflict_do_nothing`` / ``on_conflict_do_update`` on this backend.

    A conflict is decided against committed *and* in-flight rows: PostgreSQL makes a second writer of the same key
    wait for the first to commit (then it does nothing) or roll back (then it inserts); SQLite runs one writer at a
    time. Either way exactly one insert wins.
    """
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)
