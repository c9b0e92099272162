"""Repository functions for model versions and their loads."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, func, select

from edge.store.dialect import insert_on_conflict
from edge.store.errors import StoreError
from edge.store.records import ModelVersionRecord
from edge.store.schema import model_loads, model_versions


def record_model_version(
    conn: Connection, *, version: str, sha256: str, stage: str, loaded_at: datetime, provider: str
) -> None:
    """Record one load of ``version``; the first load registers it, a different digest under its name is refused."""
    conn.execute(
        insert_on_conflict(conn, model_versions)
        .values(version=version, sha256=sha256, first_loaded_at=loaded_at)
        .on_conflict_do_nothing(index_elements=[model_versions.c.version])
    )
    known = conn.execute(select(model_versions.c.sha256).where(model_versions.c.version == version)).scalar_one()
    if known != sha256:
        raise StoreError(
            f"model version {version!r} is already recorded with sha256 {known}, not {sha256}; "
            "a version name must always mean the same ONNX file"
        )
    conn.execute(model_loads.insert().values(version=version, stage=stage, provider=provider, loaded_at=loaded_at))


def list_model_versions(conn: Connection) -> list[ModelVersionRecord]:
    """Every recorded version with its latest load, most recently loaded first."""
    latest = (
        select(
            model_loads.c.version,
            model_loads.c.stage,
            model_loads.c.provider,
            model_loads.c.loaded_at,
            func.row_number()
            .over(
                partition_by=model_loads.c.version, order_by=(model_loads.c.loaded_at.desc(), model_loads.c.id.desc())
            )
            .label("rank"),
            func.count().over(partition_by=model_loads.c.version).label("loads"),
        )
    ).subquery()
    stmt = (
        select(
            model_versions.c.version,
            model_versions.c.sha256,
            model_versions.c.first_loaded_at,
            latest.c.loaded_at,
            latest.c.stage,
            latest.c.provider,
            latest.c.loads,
        )
        .join(latest, latest.c.version == model_versions.c.version)
        .where(latest.c.rank == 1)
        .order_by(latest.c.loaded_at.desc(), model_versions.c.version)
    )
    return [
        ModelVersionRecord(
            version=r.version,
            sha256=r.sha256,
            first_loaded_at=r.first_loaded_at,
            last_loaded_at=r.loaded_at,
            stage=r.stage,
            provider=r.provider,
            loads=r.loads,
        )
        for r in conn.execute(stmt)
    ]
