"""Versioned schema migrations (alembic), run from code: ``Store.open`` upgrades every database to head.

No alembic.ini: the script location is this package's ``migrations`` folder. To write a new migration, change
``schema.py`` and run ``python -m edge.store.new_revision "what changed"`` (see there).
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, func, select

from edge.store.engine import WRITE_OPTION, display_url
from edge.store.errors import StoreError

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# pg_advisory_xact_lock key: nodes that open one PostgreSQL database at the same time migrate one after the other.
_PG_MIGRATION_LOCK = 0x5143_4D47  # "QCMG"


def alembic_config(connection: Connection | None = None) -> Config:
    """An alembic Config pointing at the shipped migrations; ``connection`` is handed to env.py."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest migration this code ships."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # only if the versions folder was not packaged
        raise StoreError(f"no store migrations found under {MIGRATIONS_DIR}; the package is incomplete")
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at; None for an empty database."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade_to_head(engine: Engine) -> None:
    """Bring the database to the head revision in one transaction, serialised against other nodes doing the same."""
    head = head_revision()
    with engine.connect() as conn:
        conn.execution_options(**{WRITE_OPTION: True})
        with conn.begin():
            if conn.dialect.name == "postgresql":
                conn.execute(select(func.pg_advisory_xact_lock(_PG_MIGRATION_LOCK)))
            current = MigrationContext.configure(conn).get_current_revision()
            if current == head:
                return
            try:
                command.upgrade(alembic_config(conn), "head")
            except CommandError as exc:
                raise StoreError(
                    f"store {display_url(engine.url)!r} is at schema revision {current!r}, which this version of qc "
                    f"does not know (its newest is {head!r}); upgrade qc or point it at another database: {exc}"
                ) from exc
