"""Migrations: an empty database goes to head, re-opening changes nothing, schema.py and the scripts agree, concurrent
first opens are safe, an unknown (newer) revision is refused; plus the URLs `Store.open` accepts."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from store_builders import commit_args, make_item

from edge.store import Store, StoreError, StoreUnavailableError
from edge.store.engine import parse_url
from edge.store.migrate import alembic_config, current_revision, head_revision
from edge.store.schema import metadata

TABLES = {"frames", "items", "flags", "crops", "tracker_checkpoints", "model_versions", "model_loads"}


def test_empty_database_is_migrated_to_head(store_url: str) -> None:
    Store.open(store_url).close()
    engine = create_engine(store_url)
    try:
        assert set(inspect(engine).get_table_names()) >= TABLES
        assert current_revision(engine) == head_revision()
        uniques = {tuple(u["column_names"]) for u in inspect(engine).get_unique_constraints("frames")}
        assert ("camera_id", "seq") in uniques
    finally:
        engine.dispose()


def test_reopen_keeps_data_and_revision(store_url: str) -> None:
    with Store.open(store_url) as store:
        assert store.commit_frame(**commit_args(items=[make_item(flagged=True)]))
    with Store.open(store_url) as store:
        assert store.frame_status("cam1", 10) == "processed"
        assert len(store.items()) == 1 and len(store.flags()) == 1
    engine = create_engine(store_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [head_revision()]
    finally:
        engine.dispose()


def test_schema_module_matches_migrations(store: Store, store_url: str) -> None:
    engine = create_engine(store_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    finally:
        engine.dispose()
    assert diff == []


def test_downgrade_to_base_and_upgrade_again(store_url: str) -> None:
    Store.open(store_url).close()
    engine = create_engine(store_url)
    try:
        with engine.begin() as conn:
            command.downgrade(alembic_config(conn), "base")
        assert not TABLES & set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    with Store.open(store_url) as store:
        assert store.commit_frame(**commit_args())


def test_concurrent_first_opens_migrate_once(store_url: str) -> None:
    # Several nodes starting at once against an empty database: every open succeeds, the schema is created once.
    n = 4
    barrier = threading.Barrier(n)
    errors: list[BaseException] = []

    def open_store() -> None:
        barrier.wait()
        try:
            Store.open(store_url).close()
        except Exception as exc:  # noqa: BLE001 - surfaced in the main thread by the assertion on `errors`
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    engine = create_engine(store_url)
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_unknown_newer_revision_is_refused(store_url: str) -> None:
    Store.open(store_url).close()
    engine = create_engine(store_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
    finally:
        engine.dispose()
    with pytest.raises(StoreError, match="9999_from_the_future"):
        Store.open(store_url)


def test_sqlite_store_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "qc.db"
    with Store.open(str(path)) as store:  # a bare path is a SQLite file; parents are created
        assert store.dialect == "sqlite"
        assert store.commit_frame(**commit_args())
        with store._engine.connect() as conn:  # the pragmas are per connection: ask one of the store's own
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10_000
    assert path.exists()


@pytest.mark.parametrize(
    ("url", "expected", "error"),
    [
        ("data/qc.db", "sqlite:///data/qc.db", None),
        ("sqlite:///data/qc.db", "sqlite:///data/qc.db", None),
        ("postgresql://u:secret@db:5432/qc", "postgresql+psycopg://u:***@db:5432/qc", None),
        ("postgres://u@db/qc", "postgresql+psycopg://u@db/qc", None),
        ("postgresql+psycopg://u@db/qc", "postgresql+psycopg://u@db/qc", None),
        ("", None, "empty"),
        ("sqlite://", None, "in-memory"),
        ("sqlite:///:memory:", None, "in-memory"),
        ("mysql://u@db/qc", None, "scheme 'mysql' is not supported"),
        ("postgresql://u@db:notaport/qc", None, "not a database URL"),
    ],
)
def test_store_urls(url: str, expected: str | None, error: str | None) -> None:
    if error is not None:
        with pytest.raises(StoreError, match=error):
            parse_url(url)
        return
    assert parse_url(url).render_as_string(hide_password=True) == expected


def test_unreachable_postgres_names_the_store_without_password() -> None:
    with pytest.raises(StoreUnavailableError, match=r"postgresql\+psycopg://postgres:\*\*\*@127\.0\.0\.1:1/test"):
        Store.open("postgresql://postgres:hunter2@127.0.0.1:1/test")
