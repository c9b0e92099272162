"""Edge fixtures shared by the store, feed and retraining-data tests: a store on each backend (a real SQLite file and
the real PostgreSQL server, see tests/edge/store/store_backends.py)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "store"))  # the store tests' backend helpers
from store_backends import BACKENDS, empty_database  # noqa: E402

from edge.store import Store  # noqa: E402


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database on each backend, for one test."""
    with empty_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """An opened store (migrated to head) on each backend."""
    opened = Store.open(store_url)
    try:
        yield opened
    finally:
        opened.close()
