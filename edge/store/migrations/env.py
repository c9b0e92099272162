"""Alembic environment: always run from code (edge.store.migrate) with an open connection in config.attributes."""

from __future__ import annotations

from alembic import context

from edge.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run store migrations through edge.store.migrate (Store.open), which supplies a connection")

context.configure(
    connection=connection,
    target_metadata=metadata,
    # SQLite cannot ALTER most things; batch mode rebuilds the table, so one script serves both backends.
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
# The caller's transaction wraps the whole upgrade; begin_transaction() joins it rather than committing per step.
with context.begin_transaction():
    context.run_migrations()
