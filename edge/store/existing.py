"""Open a store that must already exist: for commands that read or manage the service's store (`qc waste export`,
`qc users`), never create one.

`Store.open` creates a missing SQLite file, which is right for `qc serve` (creating the store is the service's job) but
wrong for a command pointed at the wrong place: it would read a new, empty store, report nothing, exit 0 and leave that
empty store behind. `open_existing` refuses instead, naming the path and how to point at the service's store.
"""

from __future__ import annotations

from pathlib import Path

from edge.store.engine import parse_url
from edge.store.errors import StoreError
from edge.store.store import Store


class NoStoreError(StoreError):
    """The store a command was pointed at does not exist (a SQLite file that is not there)."""


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite store URL (or bare path); None for a server database such as PostgreSQL."""
    parsed = parse_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database is None:
        return None
    return Path(parsed.database).expanduser()


def open_existing(url: str, *, how_to_point: str, busy_timeout_s: float = 10.0) -> Store:
    """`Store.open` for a store that must exist; `NoStoreError` (a user error: exit code 2) when a SQLite store's
    file is missing, its message naming the file and ``how_to_point`` (the command's options for choosing a store).

    A PostgreSQL database cannot be created by opening it, so it is opened as it is (an unreachable one fails there).
    """
    path = sqlite_path(url)
    if path is not None and not path.is_file():
        raise NoStoreError(
            f"no store at {path}; {how_to_point}. "
            "`qc serve` creates the store when it first starts"
        )
    return Store.open(url, busy_timeout_s=busy_timeout_s)
