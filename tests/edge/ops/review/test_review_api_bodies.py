"""The review API's typed bodies and ids over real HTTP against a real uvicorn: every refusal is the page's own
``{"error": ...}`` answer (never FastAPI's 422, never the input quoted back), with the security headers, and the
session and CSRF checks still come before anything about the body."""

from __future__ import annotations

import json

import httpx
import pytest
from store_tx import read

from edge.store.review_repo import list_reviews
from edge.store.store import Store


def assert_review_error(r: httpx.Response, status: int, message: str) -> None:
    """``r`` is the review page's error answer: ``status``, ``{"error": ...}`` containing ``message``, guarded."""
    assert r.status_code == status, r.text
    assert set(r.json()) == {"error"} and message in r.json()["error"], r.text
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["content-security-policy"].startswith("default-src 'self'")


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/review/api/flags/1/relabel", {}, "relabel: give produce and/or condition"),
        ("/review/api/flags/1/relabel", {"produce": "", "condition": None}, "relabel: give produce and/or condition"),
        ("/review/api/flags/1/relabel", {"produce": "durian"}, "produce: not a produce kind"),
        ("/review/api/flags/1/relabel", {"condition": "mouldy"}, "condition: not a condition"),
        ("/review/api/flags/1/relabel", {"produce": 3}, "produce: must be a string"),
        ("/review/api/flags/1/relabel", {"produce": "apple", "status": "x"},
         "unknown field(s); allowed: condition, produce"),
        ("/review/api/flags/1/relabel", [], "the body must be a JSON object"),
        ("/review/api/flags/1/box", {"box": [10, 20, 110]}, "box: must be a list [x0, y0, x1, y1]"),
        ("/review/api/flags/1/box", {"box": "10,20,110,220"}, "box: must be a list [x0, y0, x1, y1]"),
        ("/review/api/flags/1/box", {"box": [10, 20, 110, True]}, "box: coordinates must be finite numbers"),
        ("/review/api/flags/1/box", {"box": [10, 20, 110, "220"]}, "box: coordinates must be finite numbers"),
        ("/review/api/flags/1/box", {"box": [10, 20, 900, 220]}, "box: must lie inside the frame"),
        ("/review/api/flags/1/box", {"box": [110, 20, 10, 220]}, "box: needs x0 < x1"),
        ("/review/api/flags/1/box", {}, "box: must be a list [x0, y0, x1, y1]"),
        ("/review/api/bulk-confirm", {}, "flag_ids: must be a list of 1 to 500 flag ids"),
        ("/review/api/bulk-confirm", {"flag_ids": []}, "flag_ids: must be a list of 1 to 500 flag ids"),
        ("/review/api/bulk-confirm", {"flag_ids": list(range(1, 502))}, "flag_ids: must be a list of 1 to 500"),
        ("/review/api/bulk-confirm", {"flag_ids": [1, "2"]}, "flag_ids: every id must be a positive integer"),
        ("/review/api/bulk-confirm", {"flag_ids": [0]}, "flag_ids: every id must be a positive integer"),
    ],
)
def test_bad_bodies_are_refused_by_field(ops_client: tuple[httpx.Client, str], review_store: Store, path: str,
                                         body: object, message: str) -> None:
    client, csrf = ops_client
    r = client.post(path, json=body, headers={"x-csrf-token": csrf})
    assert_review_error(r, 400, message)
    assert read(review_store, list_reviews) == []


@pytest.mark.parametrize(
    ("content", "content_type", "message"),
    [
        (b'{"produce": "apple"', "application/json", "the body is not valid JSON"),
        (b'{"produce": NaN}', "text/plain", "send the body as application/json"),
        (b'{"produce": "' + b"a" * 70_000 + b'"}', "application/json", "body too large"),
        (b"\xff\xfe", "application/json", "the body is not valid JSON"),
        (b"null", "application/json", "the body must be a JSON object"),
        (b'"apple"', "application/json", "the body must be a JSON object"),
    ],
)
def test_unreadable_bodies_are_400(ops_client: tuple[httpx.Client, str], review_store: Store, content: bytes,
                                   content_type: str, message: str) -> None:
    client, csrf = ops_client
    r = client.post("/review/api/flags/1/relabel", content=content,
                    headers={"x-csrf-token": csrf, "content-type": content_type})
    assert_review_error(r, 400, message)
    assert "aaaa" not in r.text
    assert read(review_store, list_reviews) == []


def test_session_and_csrf_come_before_the_body(ops_client: tuple[httpx.Client, str], review_url: str,
                                               review_store: Store) -> None:
    client, _ = ops_client
    for content in (b"not json", json.dumps({"produce": 3}).encode()):
        no_csrf = client.post("/review/api/flags/1/relabel", content=content,
                              headers={"content-type": "application/json"})
        assert_review_error(no_csrf, 403, "CSRF")
        signed_out = httpx.post(review_url + "/review/api/bulk-confirm", content=content,
                                headers={"content-type": "application/json"})
        assert_review_error(signed_out, 401, "sign in first")
    assert read(review_store, list_reviews) == []


@pytest.mark.parametrize("raw", ["0", "1_0", "+1", "%201", "1%0A", "%EF%BC%91", "1" * 19, "99999999999999999999"])
def test_an_id_that_is_not_digits_is_404(ops_client: tuple[httpx.Client, str], review_store: Store, raw: str) -> None:
    client, csrf = ops_client
    for method, path in (("GET", f"/review/api/flags/{raw}"), ("POST", f"/review/api/flags/{raw}/confirm"),
                         ("POST", f"/review/api/flags/{raw}/relabel"), ("GET", f"/review/crops/{raw}"),
                         ("GET", f"/review/frames/{raw}")):
        r = client.request(method, path, json={"produce": "apple"}, headers={"x-csrf-token": csrf})
        assert_review_error(r, 404, "no such flag")
    assert read(review_store, list_reviews) == []


def test_actions_answer_typed_entries(ops_client: tuple[httpx.Client, str], review_store: Store) -> None:
    client, csrf = ops_client
    h = {"x-csrf-token": csrf}
    page = client.get("/review/api/queue").json()
    assert set(page) == {"page", "pages", "total", "page_size", "entries"} and page["entries"]
    relabelled = client.post("/review/api/flags/001/relabel", json={"produce": "banana", "condition": ""}, headers=h)
    assert relabelled.status_code == 200, relabelled.text
    body = relabelled.json()
    assert set(body) == {"review", "entry"}
    assert body["entry"]["flag_id"] == 1 and body["entry"]["produce"] == "banana"
    assert body["review"]["action"] == "relabel" and body["review"]["condition"] is None
    assert body["review"]["at"].endswith("+00:00")  # isoformat, as the page always had it
    assert body["entry"]["crop_url"] == "/review/crops/1"
    bulk = client.post("/review/api/bulk-confirm", json={"flag_ids": [2, 3, 2]}, headers=h)
    assert bulk.status_code == 200 and [x["flag_id"] for x in bulk.json()["reviews"]] == [2, 3]
    undone = client.post("/review/api/undo", headers=h)
    assert undone.status_code == 200 and sorted(x["undoes"] is not None for x in undone.json()["undone"]) == [True] * 2
