"""The two backends every store test runs on: a real SQLite file and the real PostgreSQL server.

PostgreSQL: ``QC_TEST_POSTGRES_URL`` (default the project machines' server); each database is a throw-away schema,
so parallel runs and leftovers never collide. When the server cannot be reached the PostgreSQL cases are skipped with
the reason, unless ``QC_TEST_POSTGRES_REQUIRED=1`` (CI), which turns that into a failure.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from edge.store.engine import parse_url
from tests.edge.store.scratch import scratch_postgres_schema

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def postgres_base_url() -> str:
    """The PostgreSQL server the tests use."""
    return os.environ.get("QC_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


@cache
def _postgres_unreachable() -> str | None:
    engine = create_engine(parse_url(postgres_base_url()), connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except (DBAPIError, ImportError) as exc:  # no server there, or no driver installed
        return f"PostgreSQL at {postgres_base_url()} unreachable: {type(exc).__name__}: {exc}".splitlines()[0]
    finally:
        engine.dispose()
    return None


BACKENDS = ["sqlite", "postgresql"]


@contextmanager
def empty_database(backend: str, tmp_dir: Path) -> Iterator[str]:
    """A URL for an empty, never-migrated database: a SQLite file under tmp_dir, or a fresh PostgreSQL schema."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_dir / 'store' / 'qc.db'}"
        return
    reason = _postgres_unreachable()
    if reason is not None:
        if os.environ.get("QC_TEST_POSTGRES_REQUIRED") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    with scratch_postgres_schema(postgres_base_url()) as url:
        yield url
