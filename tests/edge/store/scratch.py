"""A throw-away PostgreSQL schema, so that tests never share tables with anything else (test code, not shipped).

Parallel runs get different schemas; a run that crashed leaves a schema behind, which a later run drops once it is
older than `STALE_AFTER_S` (the creation time is part of the name).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import URL

from edge.store.engine import parse_url

PREFIX = "qc_scratch"
STALE_AFTER_S = 6 * 3600


def scratch_schema_url(base: URL, schema: str) -> URL:
    """``base`` with its search_path set to ``schema`` (any other libpq options kept)."""
    options = base.query.get("options")
    others = options if isinstance(options, str) else " ".join(options or ())
    return base.update_query_dict({"options": f"{others} -csearch_path={schema}".strip()})


@contextmanager
def scratch_postgres_schema(base_url: str) -> Iterator[str]:
    """Create a uniquely named schema in the PostgreSQL database at ``base_url`` and yield a store URL that uses it.

    The schema and everything in it are dropped on exit; schemas of crashed runs older than STALE_AFTER_S go too.
    """
    base = parse_url(base_url)
    name = f"{PREFIX}_{int(time.time())}_{secrets.token_hex(4)}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            _drop_stale(conn, time.time())
            conn.exec_driver_sql(f'CREATE SCHEMA "{name}"')
        try:
            yield scratch_schema_url(base, name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
    finally:
        admin.dispose()


def _drop_stale(conn: Connection, now: float) -> None:
    rows = conn.execute(
        text("SELECT nspname FROM pg_namespace WHERE left(nspname, :n) = :prefix"),
        {"n": len(PREFIX) + 1, "prefix": f"{PREFIX}_"},
    ).scalars()
    for schema in list(rows):
        try:
            created = int(schema.split("_")[-2])
        except (IndexError, ValueError):
            continue
        if now - created > STALE_AFTER_S:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
