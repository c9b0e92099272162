"""Tests call the store's repository functions as the review page does: with a connection of one `Store.transaction`
(a read or a write), one call per transaction."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from edge.store import Store

T = TypeVar("T")


def read(store: Store, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(conn, *args, **kwargs)`` in a read transaction of ``store``."""
    with store.transaction(write=False) as conn:
        return fn(conn, *args, **kwargs)


def write(store: Store, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(conn, *args, **kwargs)`` in a write transaction of ``store`` (committed when it returns)."""
    with store.transaction(write=True) as conn:
        return fn(conn, *args, **kwargs)
