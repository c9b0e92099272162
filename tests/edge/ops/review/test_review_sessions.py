"""Sessions are revoked for real: signed out (or the password changed) means out on every node sharing the store and
after a restart; a session not signed out survives a restart. Real uvicorn servers, a real SQLite file and the real
PostgreSQL server (two nodes), and Debian's Chromium for the sign-out button."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
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
from store_backends import empty_database
from store_tx import write

from edge.store.sessions import change_password
from edge.store.store import Store
from edge.store.users import create_user, hash_password

KEY = "k" * 40  # a configured key: cookies outlive a restart, so only the store can say "signed out"
COOKIE = "qc_review_session"


def works(base_url: str, cookie: str) -> bool:
    """Whether ``cookie`` is a signed-in session on the server at ``base_url``."""
    r = httpx.get(base_url + "/review/api/queue", cookies={COOKIE: cookie})
    assert r.status_code in (200, 401), r.text
    return r.status_code == 200


def sign_out(client: httpx.Client, csrf: str) -> None:
    assert client.post("/review/logout", data={"csrf_token": csrf}).status_code == 303


def test_sign_out_holds_across_a_restart(seeded_database: Path, tmp_path: Path) -> None:
    path = tmp_path / "qc.sqlite3"
    shutil.copyfile(seeded_database, path)
    settings = review_settings(secret_key=KEY)
    with Store.open(f"sqlite:///{path}") as store, serve(review_app(store, settings)) as url:
        leaving, leaving_csrf = sign_in(url, OPS_USER, OPS_PASSWORD)
        staying, _ = sign_in(url, OPS_USER, OPS_PASSWORD)
        gone, kept = leaving.cookies[COOKIE], staying.cookies[COOKIE]
        sign_out(leaving, leaving_csrf)
        assert not works(url, gone) and works(url, kept)
    with Store.open(f"sqlite:///{path}") as store, serve(review_app(store, settings)) as url:  # the restart
        assert not works(url, gone)
        assert works(url, kept)


@pytest.fixture
def postgres_url(tmp_path: Path) -> Iterator[str]:
    """A throw-away schema on the real PostgreSQL server (skipped when unreachable, unless required)."""
    with empty_database("postgresql", tmp_path) as url:
        yield url


def test_two_nodes_on_one_postgresql_agree(postgres_url: str) -> None:
    settings = review_settings(secret_key=KEY)
    with Store.open(postgres_url) as store_a, Store.open(postgres_url) as store_b:
        seed_store(store_a)
        write(store_a, create_user, ADMIN_USER, hash_password(ADMIN_PASSWORD), role="admin")
        with serve(review_app(store_a, settings)) as node_a, serve(review_app(store_b, settings)) as node_b:
            ops, ops_csrf = sign_in(node_a, OPS_USER, OPS_PASSWORD)
            admin, _ = sign_in(node_b, ADMIN_USER, ADMIN_PASSWORD)
            ops_cookie, admin_cookie = ops.cookies[COOKIE], admin.cookies[COOKIE]
            assert works(node_b, ops_cookie) and works(node_a, admin_cookie)
            sign_out(ops, ops_csrf)  # on node A ...
            assert not works(node_b, ops_cookie)  # ... is out on node B
            write(store_b, change_password, ADMIN_USER, hash_password("a-new-admin-password"))  # `qc users set-password` on any node
            assert not works(node_a, admin_cookie) and not works(node_b, admin_cookie)
            _, _ = sign_in(node_a, ADMIN_USER, "a-new-admin-password")


def test_the_sign_out_button_revokes_the_session_for_good(browser: Any, seeded_database: Path,
                                                          tmp_path: Path) -> None:
    path = tmp_path / "qc.sqlite3"
    shutil.copyfile(seeded_database, path)
    settings = review_settings(secret_key=KEY)
    context = browser.new_context()
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        with Store.open(f"sqlite:///{path}") as store, serve(review_app(store, settings)) as url:
            page.goto(f"{url}/review")
            page.fill("input[name=username]", OPS_USER)
            page.fill("input[name=password]", OPS_PASSWORD)
            page.click("form.login button[type=submit]")
            page.wait_for_selector("#queue tr.entry")
            cookie = next(c["value"] for c in context.cookies() if c["name"] == COOKIE)
            page.click("form.signout button")
            page.wait_for_url("**/review/login")
            assert not works(url, cookie)
        with Store.open(f"sqlite:///{path}") as store, serve(review_app(store, settings)) as url:
            assert not works(url, cookie)
            context.add_cookies([{"name": COOKIE, "value": cookie, "url": f"{url}/review"}])
            page.goto(f"{url}/review")  # the stolen or remembered cookie gets the sign-in form, not the queue
            assert "/review/login" in page.url
    finally:
        context.close()
