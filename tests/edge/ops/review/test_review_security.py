"""Security of the review page, over real HTTP against a real uvicorn: sign-in required, bearer (camera) tokens
refused, CSRF on every state change, ids not paths in image URLs, no-store caching, no input echoed unescaped."""

from __future__ import annotations

import http.client
from urllib.parse import urlsplit

import httpx
import pytest
from review_world import ADMIN_PASSWORD, ADMIN_USER, CAMERA_TOKEN, OPS_PASSWORD, OPS_USER, sign_in
from store_tx import read

from edge.store.review_queue import query_queue
from edge.store.review_repo import list_reviews
from edge.store.store import Store
from edge.store.users import get_user

# Every review endpoint: (method, path, what an anonymous request gets).
ENDPOINTS = [
    ("GET", "/review", 303),
    ("GET", "/review/dashboard", 303),
    ("GET", "/review/admin/users", 303),
    ("GET", "/review/queue", 401),
    ("GET", "/review/api/queue", 401),
    ("GET", "/review/api/flags/1", 401),
    ("GET", "/review/crops/1", 401),
    ("GET", "/review/frames/1", 401),
    ("POST", "/review/api/flags/1/confirm", 401),
    ("POST", "/review/api/flags/1/not-waste", 401),
    ("POST", "/review/api/flags/1/relabel", 401),
    ("POST", "/review/api/flags/1/box", 401),
    ("POST", "/review/api/undo", 401),
    ("POST", "/review/api/bulk-confirm", 401),
]
STATE_CHANGES = [  # (path, JSON body) of every action
    ("/review/api/flags/1/confirm", {}),
    ("/review/api/flags/1/not-waste", {}),
    ("/review/api/flags/1/relabel", {"produce": "banana"}),
    ("/review/api/flags/1/box", {"box": [10, 10, 60, 60]}),
    ("/review/api/undo", {}),
    ("/review/api/bulk-confirm", {"flag_ids": [1, 2]}),
]
XSS = '<script>alert("x")</script>'
XSS_ATTR = '"><img src=x onerror=alert(1)>'


def assert_untouched(store: Store) -> None:
    assert read(store, list_reviews) == []
    assert {e.status for e in read(store, query_queue, status="all", limit=500)} == {"pending"}


@pytest.mark.parametrize(("method", "path", "expected"), ENDPOINTS)
def test_unauthenticated_requests_are_refused(review_url: str, review_store: Store, method: str, path: str,
                                              expected: int) -> None:
    resp = httpx.request(method, review_url + path, json={}, follow_redirects=False)
    assert resp.status_code == expected
    if expected == 303:
        assert resp.headers["location"].startswith("/review/login?next=")
    else:
        assert resp.json() == {"error": "sign in first"}
    assert resp.headers["cache-control"] == "no-store"
    assert_untouched(review_store)


@pytest.mark.parametrize(("method", "path", "anonymous"), ENDPOINTS)
def test_a_camera_token_cannot_reach_review_endpoints(review_url: str, ops_client: tuple[httpx.Client, str],
                                                      review_store: Store, method: str, path: str,
                                                      anonymous: int) -> None:
    client, csrf = ops_client
    headers = {"Authorization": f"Bearer {CAMERA_TOKEN}", "X-CSRF-Token": csrf}
    # Alone, and even riding along with a valid session and CSRF token: a bearer token is never a reviewer.
    for send in (httpx.Client(base_url=review_url), client):
        resp = send.request(method, path, headers=headers, json={})
        assert resp.status_code == 403
        assert "bearer tokens (cameras) cannot use the review page" in resp.json()["error"]
    assert_untouched(review_store)


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        ({}, "no token"),
        ({"X-CSRF-Token": "forged"}, "wrong token"),
        ({"X-CSRF-Token": "<session>", "Origin": "http://evil.example"}, "cross-origin"),
        ({"X-CSRF-Token": "<session>", "Origin": "null"}, "opaque origin"),
        ({"X-CSRF-Token": "<session>", "Sec-Fetch-Site": "cross-site"}, "browser says cross-site"),
        ({"X-CSRF-Token": "<other session>"}, "another session's token"),
    ],
)
def test_state_changes_need_the_sessions_csrf_token(review_url: str, ops_client: tuple[httpx.Client, str],
                                                     review_store: Store, headers: dict, why: str) -> None:
    client, csrf = ops_client
    if headers.get("X-CSRF-Token") == "<session>":
        headers = {**headers, "X-CSRF-Token": csrf}
    elif headers.get("X-CSRF-Token") == "<other session>":
        other, other_csrf = sign_in(review_url, ADMIN_USER, ADMIN_PASSWORD)
        other.close()
        headers = {**headers, "X-CSRF-Token": other_csrf}
    for path, body in STATE_CHANGES:
        resp = client.post(path, json=body, headers=headers)
        assert resp.status_code == 403, (why, path)
        assert resp.json()["error"] in ("missing or wrong CSRF token: reload the page", "cross-site request refused")
    assert_untouched(review_store)
    # The same requests with the right token go through: the refusals above were the token's doing.
    for path, body in STATE_CHANGES:
        ok = client.post(path, json=body, headers={"X-CSRF-Token": csrf})
        assert ok.status_code == 200, (path, ok.text)
    assert len(read(review_store, list_reviews)) == 7  # confirm, not-waste, relabel, box, undo, 2 x bulk


def test_forms_need_their_csrf_field(review_url: str, ops_client: tuple[httpx.Client, str]) -> None:
    client, _ = ops_client
    # Sign-in form without its pre-session token (a login-CSRF attempt): refused, no session issued.
    fresh = httpx.Client(base_url=review_url)
    resp = fresh.post("/review/login", data={"username": OPS_USER, "password": OPS_PASSWORD})
    assert resp.status_code == 403 and "qc_review_session" not in resp.headers.get("set-cookie", "")
    # Sign-out without the token does not sign out.
    assert client.post("/review/logout", data={}).status_code == 403
    assert client.get("/review/api/queue").status_code == 200
    assert client.get("/review/logout").status_code == 403  # a GET never changes state


# Image URLs take a flag id. Raw request targets (sent verbatim, no client-side normalisation).
BAD_IDS = [
    "../../../../etc/passwd",
    "..%2F..%2F..%2Fetc%2Fpasswd",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "%252e%252e%252fetc%252fpasswd",
    "..\\..\\..\\etc\\passwd",
    "..%5C..%5Cetc%5Cpasswd",
    "1/../2",
    "1%2F..%2F2",
    "/etc/passwd",
    "%2Fetc%2Fpasswd",
    "1.jpg",
    "-1",
    "0",
    "1%00",
    "%EF%BC%91",  # a full-width digit one
    "99999999999999999999999",
    "abc",
]


@pytest.mark.parametrize("kind", ["crops", "frames"])
@pytest.mark.parametrize("bad", BAD_IDS)
def test_image_urls_take_ids_never_paths(review_url: str, ops_client: tuple[httpx.Client, str], kind: str,
                                         bad: str) -> None:
    client, _ = ops_client
    url = urlsplit(review_url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    cookie = "; ".join(f"{c.name}={c.value}" for c in client.cookies.jar)
    conn.request("GET", f"/review/{kind}/{bad}", headers={"Cookie": cookie})
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    assert resp.status in (400, 404), resp.status
    assert resp.getheader("content-type", "").split(";")[0] != "image/jpeg"
    assert b"passwd" not in body and b"root:" not in body
    # A good id works over the same route, so the refusal is the id's doing.
    assert client.get(f"/review/{kind}/1").headers["content-type"] == "image/jpeg"


def test_authenticated_responses_are_no_store(ops_client: tuple[httpx.Client, str],
                                              admin_client: tuple[httpx.Client, str]) -> None:
    client, csrf = ops_client
    responses = [client.get(p) for p in ("/review", "/review/queue", "/review/dashboard", "/review/api/queue",
                                         "/review/api/flags/1", "/review/crops/1", "/review/frames/1",
                                         "/review/crops/999", "/review?produce=nope", "/review/admin/users")]
    responses.append(client.post("/review/api/flags/1/confirm", headers={"X-CSRF-Token": csrf}))
    responses.append(client.post("/review/api/undo", headers={"X-CSRF-Token": csrf}))
    responses.append(admin_client[0].get("/review/admin/users"))
    for resp in responses:
        assert resp.headers["cache-control"] == "no-store", resp.request.url
        assert resp.headers["x-content-type-options"] == "nosniff"
        assert "frame-ancestors 'none'" in resp.headers["content-security-policy"]


@pytest.mark.parametrize("payload", [XSS, XSS_ATTR])
def test_error_pages_never_echo_input_unescaped(review_url: str, ops_client: tuple[httpx.Client, str],
                                                payload: str) -> None:
    client, csrf = ops_client
    anonymous = httpx.Client(base_url=review_url)
    responses = [
        client.get("/review", params={"produce": payload}),
        client.get("/review", params={"camera": payload}),
        client.get("/review", params={"status": payload}),
        client.get("/review", params={"date": payload}),
        client.get("/review", params={"page": payload}),
        client.get("/review/dashboard", params={"days": payload}),
        client.get("/review/queue", params={"produce": payload}),
        client.get("/review/api/queue", params={"camera": payload}),
        client.get(f"/review/api/flags/{payload}"),
        client.get(f"/review/crops/{payload}"),
        client.get(f"/review/{payload}"),
        client.post("/review/api/flags/1/relabel", json={"produce": payload}, headers={"X-CSRF-Token": csrf}),
        client.post("/review/api/flags/1/relabel", json={payload: "x"}, headers={"X-CSRF-Token": csrf}),
        client.post("/review/api/flags/1/box", json={"box": [payload, 1, 2, 3]}, headers={"X-CSRF-Token": csrf}),
        client.post("/review/api/bulk-confirm", content=payload, headers={"X-CSRF-Token": csrf,
                                                                         "Content-Type": "application/json"}),
        client.get("/review/admin/users"),  # 403 for an ops user
        anonymous.get("/review/login", params={"next": payload}),
        anonymous.post("/review/login", data={"username": payload, "password": payload, "csrf_token": payload}),
    ]
    for resp in responses:
        assert 400 <= resp.status_code < 500 or resp.request.url.path == "/review/login", resp.request.url
        assert payload not in resp.text, resp.request.url
        assert "<script>alert" not in resp.text and "<img src=x" not in resp.text


def test_ops_users_cannot_change_settings_and_admins_can(review_url: str, ops_client: tuple[httpx.Client, str],
                                                         admin_client: tuple[httpx.Client, str],
                                                         review_store: Store) -> None:
    ops, ops_csrf = ops_client
    form = {"username": "newbie", "password": "newbie-password", "role": "admin", "csrf_token": ops_csrf}
    assert ops.get("/review/admin/users").status_code == 403
    assert ops.post("/review/admin/users", data=form).status_code == 403
    assert read(review_store, get_user, "newbie") is None
    assert "/review/admin/users" not in ops.get("/review").text  # no settings link for ops users
    admin, admin_csrf = admin_client
    resp = admin.post("/review/admin/users", data={**form, "role": "ops", "csrf_token": admin_csrf})
    assert resp.status_code == 303
    assert read(review_store, get_user, "newbie").role == "ops"
    newbie, _ = sign_in(review_url, "newbie", "newbie-password")
    assert newbie.get("/review/api/queue").status_code == 200


@pytest.mark.parametrize(
    ("username", "password"),
    [(OPS_USER, "wrong-password"), ("nobody", OPS_PASSWORD), (ADMIN_USER, OPS_PASSWORD), ("", ""), (OPS_USER, "")],
)
def test_wrong_credentials_get_no_session(review_url: str, username: str, password: str) -> None:
    client = httpx.Client(base_url=review_url)
    token = client.get("/review/login").text.split('name="csrf_token" value="')[1].split('"')[0]
    resp = client.post("/review/login", data={"username": username, "password": password, "csrf_token": token})
    assert resp.status_code == 401
    assert "Wrong user name or password." in resp.text
    assert "qc_review_session" not in resp.headers.get("set-cookie", "")
    assert client.get("/review/api/queue").status_code == 401


def test_session_cookie_is_locked_down_and_sign_out_revokes_it(review_url: str) -> None:
    client = httpx.Client(base_url=review_url)
    token = client.get("/review/login").text.split('name="csrf_token" value="')[1].split('"')[0]
    resp = client.post("/review/login", data={"username": OPS_USER, "password": OPS_PASSWORD, "csrf_token": token,
                                              "next": "//evil.example/x"})
    assert resp.status_code == 303 and resp.headers["location"] == "/review"  # no open redirect
    cookie = next(v for k, v in resp.headers.multi_items() if k == "set-cookie" and v.startswith("qc_review_session"))
    for flag in ("HttpOnly", "SameSite=strict", "Path=/review"):
        assert flag.lower() in cookie.lower()
    stolen = client.cookies.get("qc_review_session")
    csrf = client.get("/review").text.split('<meta name="csrf-token" content="')[1].split('"')[0]
    assert client.post("/review/logout", data={"csrf_token": csrf}).status_code == 303
    replay = httpx.Client(base_url=review_url, cookies={"qc_review_session": stolen})
    assert replay.get("/review/api/queue").status_code == 401
    forged = httpx.Client(base_url=review_url, cookies={"qc_review_session": stolen[:-2] + "AA"})
    assert forged.get("/review/api/queue").status_code == 401
