"""Developer tool: write the next migration script from the difference between ``schema.py`` and the migrations.

    python -m edge.store.new_revision "add frame images"

migrates a scratch SQLite database to head, autogenerates ``migrations/versions/NNNN_<slug>.py`` (numbered after
the head) and prints its path. Review it before committing: keep it backend-neutral (SQLite runs it in batch mode),
give constraints explicit names, and never import ``schema.py`` from it (migrations are frozen).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from alembic import command

from edge.store.engine import create_store_engine, parse_url
from edge.store.migrate import alembic_config, head_revision, upgrade_to_head


def new_revision(message: str) -> list[Path]:
    """Autogenerate the next numbered revision with ``message``; returns the written file(s)."""
    next_id = f"{int(head_revision()) + 1:04d}"
    with tempfile.TemporaryDirectory() as scratch:
        engine = create_store_engine(parse_url(str(Path(scratch) / "dev.db")), busy_timeout_s=10.0)
        try:
            upgrade_to_head(engine)
            with engine.begin() as conn:
                written = command.revision(alembic_config(conn), message=message, autogenerate=True, rev_id=next_id)
        finally:
            engine.dispose()
    scripts = written if isinstance(written, list) else [written]
    return [Path(s.path) for s in scripts if s is not None]


if __name__ == "__main__":
    if len(sys.argv) != 2 or not sys.argv[1].strip():
        sys.exit('usage: python -m edge.store.new_revision "what changed"')
    for path in new_revision(sys.argv[1]):
        print(path)
