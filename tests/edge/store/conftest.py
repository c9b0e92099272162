"""Store fixtures: every store test runs on a real SQLite file and on the real PostgreSQL server (store_backends)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from store_backends import BACKENDS, empty_database

from edge.store import Store


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
