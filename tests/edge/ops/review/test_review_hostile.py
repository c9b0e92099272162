"""Hostile input on the review page, over real HTTP against a real uvicorn: every one gets a 4xx JSON (or HTML
error page) with the security headers, never a 500; sign-in is throttled per user name and per client address."""

from __future__ import annotations

import json
import logging
import re

import httpx
import pytest
from review_world import OPS_PASSWORD, OPS_USER, review_app, review_settings, serve
from store_tx import read

from edge.store.review_repo import list_reviews
from edge.store.store import Store

NESTED_30000 = ("[" * 30_000 + "]" * 30_000).encode()


def assert_guarded(r: httpx.Response) -> None:
    """The review page's security headers are on the answer."""
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["content-security-policy"].startswith("default-src 'self'")
    assert r.headers["x-content-type-options"] == "nosniff"


def assert_untouched(store: Store) -> None:
    assert read(store, list_reviews) == []


def test_non_ascii_session_cookie_is_not_signed_in(review_url: str) -> None:
    for cookie in (b"qc_review_session=eyJ1Ijoib2xnYSJ9.\xc3\xa9\xc3\xa9", b"qc_review_session=\xff.\xfe"):
        r = httpx.get(review_url + "/review/api/queue", headers={"cookie": cookie})
        assert (r.status_code, r.json()) == (401, {"error": "sign in first"})
        assert_guarded(r)
        page = httpx.get(review_url + "/review", headers={"cookie": cookie}, follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"].startswith("/review/login")


def test_non_ascii_csrf_token_is_refused(ops_client: tuple[httpx.Client, str], review_store: Store) -> None:
    client, csrf = ops_client
    r = client.post("/review/api/flags/1/confirm", json={}, headers={"x-csrf-token": ("\u00e9" + csrf[1:]).encode()})
    assert r.status_code == 403 and "CSRF" in r.json()["error"]
    assert_guarded(r)
    assert_untouched(review_store)


@pytest.mark.parametrize(("path", "body"), [
    ("/review/api/flags/1/box", json.dumps({"box": [10**400, 0, 50, 50]}).encode()),
    ("/review/api/flags/1/box", json.dumps({"box": [0, 0, -(10**400), 50]}).encode()),
    ("/review/api/bulk-confirm", json.dumps({"flag_ids": [1, 2**63]}).encode()),
    ("/review/api/bulk-confirm", json.dumps({"flag_ids": [10**400]}).encode()),
    ("/review/api/flags/1/relabel", NESTED_30000),
    ("/review/api/bulk-confirm", b'{"flag_ids": ' + NESTED_30000 + b"}"),
])
def test_hostile_json_bodies_are_400(ops_client: tuple[httpx.Client, str], review_store: Store, path: str,
                                     body: bytes) -> None:
    client, csrf = ops_client
    r = client.post(path, content=body, headers={"x-csrf-token": csrf, "content-type": "application/json"})
    assert r.status_code == 400, r.text
    assert set(r.json()) == {"error"} and "400" not in r.json()["error"] and "[[" not in r.text
    assert_guarded(r)
    assert_untouched(review_store)


@pytest.mark.parametrize(("path", "status"), [
    ("/review/api/queue?page=\u00b2", 400),
    ("/review/api/queue?page=%C2%B2", 400),
    ("/review/dashboard?days=\u00b2", 400),
    ("/review/dashboard?days=%D9%A3", 400),  # Arabic-Indic three: isdigit() says yes, as does int()
    ("/review/crops/1%0A", 404),
    ("/review/frames/1%0A", 404),
    ("/review/api/flags/1%0A", 404),
    ("/review/crops/%C2%B9", 404),
])
def test_hostile_parameters_are_4xx(ops_client: tuple[httpx.Client, str], path: str, status: int) -> None:
    client, _ = ops_client
    r = client.get(path)
    assert r.status_code == status, r.text
    assert_guarded(r)
    assert r.headers["content-type"].startswith(("application/json", "text/html"))
    assert client.get("/review/crops/1").status_code == 200  # the real id still works


def test_origin_of_another_scheme_is_refused(ops_client: tuple[httpx.Client, str], review_url: str,
                                             review_store: Store) -> None:
    client, csrf = ops_client
    host = review_url.split("://", 1)[1]
    r = client.post("/review/api/flags/1/confirm", json={}, headers={"x-csrf-token": csrf, "origin": f"https://{host}"})
    assert r.status_code == 403
    assert_guarded(r)
    assert_untouched(review_store)
    ok = client.post("/review/api/flags/1/confirm", json={}, headers={"x-csrf-token": csrf, "origin": review_url})
    assert ok.status_code == 200


def login(client: httpx.Client, user: str, password: str) -> httpx.Response:
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/review/login").text)
    assert token is not None
    return client.post("/review/login", data={"username": user, "password": password, "csrf_token": token.group(1)})


def test_sign_in_is_throttled_per_user_and_per_address(review_store: Store,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="edge.ops.review.auth_routes")
    settings = review_settings(signin_failures_per_user=3, signin_failures_per_address=6, signin_lockout_s=30)
    with serve(review_app(review_store, settings)) as url, httpx.Client(base_url=url, timeout=20) as client:
        assert [login(client, OPS_USER, "wrong-password").status_code for _ in range(3)] == [401] * 3
        locked = login(client, OPS_USER, OPS_PASSWORD)  # the right password too: nothing is checked while locked
        assert locked.status_code == 429
        wait = int(locked.headers["retry-after"])
        assert 1 <= wait <= 30
        assert f"Try again in {wait} s" in locked.text or f"Try again in {wait - 1} s" in locked.text
        assert_guarded(locked)
        assert "qc_review_session" not in locked.headers.get("set-cookie", "")
        # other names from the same address go on until the address's allowance is spent
        assert [login(client, f"nobody{i}", "x-password").status_code for i in range(3)] == [401] * 3
        assert login(client, "ada", "wrong-password").status_code == 429  # address locked: any user name
    messages = [r.getMessage() for r in caplog.records]
    assert any("locked out" in m and "olga" in m for m in messages), messages
    assert any("sign-in refused" in m and "127.0.0.1" in m for m in messages), messages


def test_a_successful_sign_in_clears_the_user_s_failures(review_store: Store) -> None:
    settings = review_settings(signin_failures_per_user=3, signin_failures_per_address=50)
    with serve(review_app(review_store, settings)) as url, httpx.Client(base_url=url, timeout=20) as client:
        for _ in range(2):
            assert login(client, OPS_USER, "wrong-password").status_code == 401
        assert login(client, OPS_USER, OPS_PASSWORD).status_code == 303
        client.cookies.clear()  # signed out of this client: the form again
        for _ in range(2):
            assert login(client, OPS_USER, "wrong-password").status_code == 401  # counting starts over
        assert login(client, OPS_USER, OPS_PASSWORD).status_code == 303
