"""Review-page fixtures: a seeded SQLite store, the review app on a real uvicorn, signed-in HTTP clients."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from browser import chromium, chromium_missing
from review_world import (
    ADMIN_PASSWORD,
    ADMIN_USER,
    OPS_PASSWORD,
    OPS_USER,
    review_app,
    review_settings,
    seed_store,
    serve,
    sign_in,
)
from store_tx import write

from edge.store.store import Store
from edge.store.users import create_user, hash_password


@pytest.fixture(scope="session")
def seeded_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file with the seeded items and an admin user in the store, built once; tests work on copies."""
    path = tmp_path_factory.mktemp("review_seed") / "qc.sqlite3"
    with Store.open(f"sqlite:///{path}") as store:
        seed_store(store)
        write(store, create_user, ADMIN_USER, hash_password(ADMIN_PASSWORD), role="admin")
    return path


@pytest.fixture
def review_store(seeded_database: Path, tmp_path: Path) -> Iterator[Store]:
    """A fresh copy of the seeded store, for one test."""
    path = tmp_path / "qc.sqlite3"
    shutil.copyfile(seeded_database, path)
    store = Store.open(f"sqlite:///{path}")
    try:
        yield store
    finally:
        store.close()


class StoreSlot:
    """The store the shared server works on; each test puts its own fresh copy in."""

    def __init__(self) -> None:
        self.store: Store | None = None

    def __call__(self, request: object) -> Store:
        if self.store is None:
            raise RuntimeError("no store in the slot")
        return self.store


@pytest.fixture(scope="session")
def review_server() -> Iterator[tuple[str, StoreSlot]]:
    """The review app on uvicorn (one server for the session: starting one per test costs more than the tests)."""
    slot = StoreSlot()
    with serve(review_app(slot, review_settings())) as url:
        yield url, slot


@pytest.fixture
def review_url(review_server: tuple[str, StoreSlot], review_store: Store) -> Iterator[str]:
    """Base URL of the review app, serving this test's fresh store."""
    url, slot = review_server
    slot.store = review_store
    try:
        yield url
    finally:
        slot.store = None


@pytest.fixture
def ops_client(review_url: str) -> Iterator[tuple[httpx.Client, str]]:
    """Signed in as the ops user (from the config file)."""
    client, csrf = sign_in(review_url, OPS_USER, OPS_PASSWORD)
    try:
        yield client, csrf
    finally:
        client.close()


@pytest.fixture
def admin_client(review_url: str) -> Iterator[tuple[httpx.Client, str]]:
    """Signed in as the admin user (from the store)."""
    client, csrf = sign_in(review_url, ADMIN_USER, ADMIN_PASSWORD)
    try:
        yield client, csrf
    finally:
        client.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium; skipped with the reason when it is not installed, unless QC_TEST_BROWSER_REQUIRED=1 (CI)."""
    reason = chromium_missing()
    if reason is not None:
        if os.environ.get("QC_TEST_BROWSER_REQUIRED") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    with chromium() as b:
        yield b
