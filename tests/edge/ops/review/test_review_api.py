"""The queue API over real HTTP: filters and pages, each action's stored Review, bulk + undo, conflicts, the live
queue section's ETag, the dashboard's numbers."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from review_world import ADMIN_PASSWORD, ADMIN_USER, OPS_PASSWORD, OPS_USER, sign_in
from store_tx import read, write

from edge.store.review_queue import get_entry
from edge.store.review_repo import apply_review, list_reviews
from edge.store.store import Store


def ids(client: httpx.Client, **params: str) -> list[int]:
    resp = client.get("/review/api/queue", params=params)
    assert resp.status_code == 200, resp.text
    return [e["flag_id"] for e in resp.json()["entries"]]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, [1, 2, 3]),  # oldest unreviewed first, page size 3
        ({"page": "2"}, [4, 5]),
        ({"page": "3"}, []),
        ({"camera": "belt2"}, [3, 5]),
        ({"produce": "apple"}, [1, 4]),
        ({"produce": "apple", "camera": "belt2"}, []),
        ({"status": "reviewed"}, []),
        ({"date": "2001-01-01"}, []),
    ],
)
def test_filters_and_pages(ops_client: tuple[httpx.Client, str], params: dict[str, str], expected: list[int]) -> None:
    client, _ = ops_client
    assert ids(client, **params) == expected


def test_date_filter_and_entry_fields(ops_client: tuple[httpx.Client, str], review_store: Store) -> None:
    client, _ = ops_client
    day = read(review_store, get_entry, 1).counted_at.date().isoformat()
    assert 1 in ids(client, date=day)
    entry = client.get("/review/api/queue").json()["entries"][0]
    assert entry["flag_id"] == 1 and entry["produce"] == "apple" and entry["condition"] == "rotten"
    assert entry["camera_id"] == "belt1" and entry["model_version"] == "v0003"
    assert entry["crop_url"] == "/review/crops/1" and entry["frame_url"] == "/review/frames/1"
    assert client.get(entry["crop_url"]).content[:2] == b"\xff\xd8"


def test_every_action_is_a_review_with_who_and_when(ops_client: tuple[httpx.Client, str],
                                                    review_store: Store) -> None:
    client, csrf = ops_client
    h = {"X-CSRF-Token": csrf}
    before = datetime.now(timezone.utc) - timedelta(seconds=1)
    assert client.post("/review/api/flags/1/confirm", headers=h).json()["entry"]["status"] == "confirmed"
    assert client.post("/review/api/flags/2/not-waste", headers=h).json()["entry"]["status"] == "rejected"
    relabelled = client.post("/review/api/flags/3/relabel", json={"condition": "overripe"}, headers=h).json()
    assert (relabelled["entry"]["produce"], relabelled["entry"]["condition"]) == ("tomato", "overripe")
    boxed = client.post("/review/api/flags/4/box", json={"box": [200, 100, 380, 250]}, headers=h).json()
    assert boxed["entry"]["box"] == [200, 100, 380, 250] and boxed["entry"]["detected_box"] != boxed["entry"]["box"]
    assert client.post("/review/api/flags/4/box", json={"box": [0, 0, 900, 50]}, headers=h).status_code == 400
    trail = read(review_store, list_reviews)
    assert [(r.action, r.flag_id) for r in trail] == [("confirm_waste", 1), ("not_waste", 2), ("relabel", 3),
                                                      ("fix_box", 4)]
    assert all(r.reviewer == OPS_USER and r.at > before for r in trail)
    history = client.get("/review/api/flags/3").json()
    assert [r["action"] for r in history["reviews"]] == ["relabel"]
    assert ids(client) == [3, 4, 5]  # relabel and box fixes leave an item to decide


def test_bulk_confirm_and_one_undo_reverts_the_batch(ops_client: tuple[httpx.Client, str],
                                                     review_store: Store) -> None:
    client, csrf = ops_client
    h = {"X-CSRF-Token": csrf}
    done = client.post("/review/api/bulk-confirm", json={"flag_ids": [2, 5, 3]}, headers=h).json()["reviews"]
    assert sorted(r["flag_id"] for r in done) == [2, 3, 5] and len({r["batch_id"] for r in done}) == 1
    assert ids(client) == [1, 4]
    undone = client.post("/review/api/undo", headers=h).json()["undone"]
    assert sorted(r["flag_id"] for r in undone) == [2, 3, 5]
    assert ids(client) == [1, 2, 3]
    assert client.post("/review/api/undo", headers=h).json() == {"undone": []}  # nothing left
    assert client.post("/review/api/bulk-confirm", json={"flag_ids": [1, 999]}, headers=h).status_code == 404
    assert read(review_store, get_entry, 1).status == "pending"  # all or nothing


def test_undo_never_overwrites_someone_elses_decision(review_url: str, ops_client: tuple[httpx.Client, str],
                                                      review_store: Store) -> None:
    client, csrf = ops_client
    client.post("/review/api/flags/1/confirm", headers={"X-CSRF-Token": csrf})
    admin, admin_csrf = sign_in(review_url, ADMIN_USER, ADMIN_PASSWORD)
    admin.post("/review/api/flags/1/not-waste", headers={"X-CSRF-Token": admin_csrf})
    resp = client.post("/review/api/undo", headers={"X-CSRF-Token": csrf})
    assert resp.status_code == 409 and "error" in resp.json()
    assert read(review_store, get_entry, 1).status == "rejected"


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/review/api/flags/999/confirm", {}, 404),
        ("/review/api/flags/1/relabel", {"produce": "durian"}, 400),
        ("/review/api/flags/1/relabel", {}, 400),
        ("/review/api/flags/1/box", {"box": [1, 2]}, 400),
        ("/review/api/bulk-confirm", {"flag_ids": []}, 400),
        ("/review/api/bulk-confirm", {"flag_ids": "1,2"}, 400),
    ],
)
def test_bad_actions_are_refused_with_a_reason(ops_client: tuple[httpx.Client, str], review_store: Store,
                                               path: str, body: dict, status: int) -> None:
    client, csrf = ops_client
    resp = client.post(path, json=body, headers={"X-CSRF-Token": csrf})
    assert resp.status_code == status and resp.json()["error"]
    assert read(review_store, list_reviews) == []


def test_queue_section_etag_changes_with_the_queue(ops_client: tuple[httpx.Client, str],
                                                   review_store: Store) -> None:
    client, _ = ops_client
    first = client.get("/review/queue")
    etag = first.headers["etag"]
    assert 'id="flag-1"' in first.text
    assert client.get("/review/queue", headers={"If-None-Match": etag}).status_code == 304
    write(review_store, apply_review, 1, "confirm_waste", ADMIN_USER)  # elsewhere
    changed = client.get("/review/queue", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and 'id="flag-1"' not in changed.text


def test_dashboard_counts_and_precision(ops_client: tuple[httpx.Client, str], review_store: Store) -> None:
    client, _ = ops_client
    write(review_store, apply_review, 1, "confirm_waste", OPS_USER)
    write(review_store, apply_review, 2, "confirm_waste", OPS_USER)
    write(review_store, apply_review, 3, "not_waste", OPS_USER)
    page = client.get("/review/dashboard", params={"days": "3"})
    assert page.status_code == 200
    assert '<strong id="precision-overall">67%</strong>' in page.text  # 2 confirmed of 3 reviewed
    assert page.text.count('<svg xmlns="http://www.w3.org/2000/svg" class="chart"') == 1 + 4  # precision + 4 kinds
    assert client.get("/review/dashboard", params={"days": "0"}).status_code == 400


def test_waste_api_serves_the_feed_aggregates(ops_client: tuple[httpx.Client, str], review_store: Store) -> None:
    from edge.ops.feed.api import waste_json

    client, _ = ops_client
    write(review_store, apply_review, 1, "confirm_waste", OPS_USER)
    got = client.get("/review/api/waste")  # default window: the last 7 days, where the seeded items lie
    assert got.status_code == 200
    assert got.headers["cache-control"] == "no-store"
    body = got.json()
    assert body == read(review_store, waste_json).model_dump(mode="json")
    assert sum(row["confirmed_waste"] for row in body["rows"]) == 1
    assert sum(row["items_inspected"] for row in body["rows"]) == len(review_store.items())
    old = client.get("/review/api/waste", params={"since": "2000-01-01", "until": "2000-03-01"}).json()
    assert old["rows"] == []
    bad = client.get("/review/api/waste", params={"since": "<script>"})
    assert bad.status_code == 400 and "<script>" not in bad.text
    assert client.get("/review/api/waste", params={"hourly": "maybe"}).status_code == 400


def test_waste_api_needs_a_signed_in_user(review_url: str) -> None:
    assert httpx.get(f"{review_url}/review/api/waste", follow_redirects=False).status_code in (401, 303)


@pytest.mark.parametrize(
    ("path", "params", "error"),
    [
        ("/review/api/queue", {"status": "<b>open</b>"}, "status: must be one of pending, reviewed, all"),
        ("/review/api/queue", {"camera": "../<b>"}, "camera: not a camera id"),
        ("/review/api/queue", {"produce": "<b>durian</b>"}, "produce: not a produce kind"),
        ("/review/api/queue", {"date": "<b>2026</b>"}, "date: must be a day as YYYY-MM-DD"),
        ("/review/api/queue", {"date": "20260105"}, "date: must be a day as YYYY-MM-DD"),
        ("/review/api/queue", {"page": "<b>0</b>"}, "page: must be a whole number from 1 to 1000000"),
        # several bad fields: the first one in the order the page always checked them is named
        ("/review/api/queue", {"page": "0", "status": "x", "produce": "durian"}, "produce: not a produce kind"),
        ("/review/queue", {"status": "<b>x</b>"}, "status: must be one of pending, reviewed, all"),
        ("/review/api/waste", {"hourly": "<b>maybe</b>"}, "hourly: must be true or false"),
        ("/review/api/waste", {"until": "<b>", "since": "<b>"},
         "since/until: query parameter 'since' must be a date YYYY-MM-DD"),
        # the one day rule (`edge.ops.feed.api.iso_day`): YYYY-MM-DD only, not the forms Python 3.11 also parses
        ("/review/api/waste", {"since": "20260105"}, "since/until: query parameter 'since' must be a date YYYY-MM-DD"),
        ("/review/api/waste", {"until": "2026-W01-1"},
         "since/until: query parameter 'until' must be a date YYYY-MM-DD"),
        ("/review/api/waste", {"since": "2026-11-21", "until": "2026-11-20"},
         "since/until: until 2026-11-20 is before since 2026-11-21"),
    ],
)
def test_typed_query_refusals_keep_the_page_error_contract(
    ops_client: tuple[httpx.Client, str], path: str, params: dict[str, str], error: str
) -> None:
    """Query strings are parsed into typed models, yet a refusal is the page's 400 ``{"error": ...}`` naming the
    field, never FastAPI's 422 that quotes the input back."""
    client, _ = ops_client
    got = client.get(path, params=params)
    assert got.status_code == 400
    assert got.json() == {"error": error}
    assert "<b>" not in got.text and got.headers["cache-control"] == "no-store"


def test_a_store_locked_by_another_writer_is_a_503_and_writes_nothing(
    review_server: tuple[str, Any], review_store: Store
) -> None:
    """The request's write transaction (a dependency) answers an unreachable store as the page's 503, and the
    decision is not half written."""
    url, slot = review_server  # the shared server and its StoreSlot (conftest)
    impatient = Store.open(review_store.url, busy_timeout_s=0.2)
    slot.store = impatient
    client, csrf = sign_in(url, OPS_USER, OPS_PASSWORD)  # signing in writes a session: before the lock is taken
    try:
        with review_store.transaction(write=True):  # another writer holds SQLite's write lock
            got = client.post("/review/api/flags/1/confirm", headers={"X-CSRF-Token": csrf})
        assert got.status_code == 503
        assert got.json() == {"error": "the store is busy or unreachable; try again"}
        assert read(review_store, list_reviews) == [] and read(review_store, get_entry, 1).status == "pending"
        assert client.post("/review/api/flags/1/confirm", headers={"X-CSRF-Token": csrf}).status_code == 200
    finally:
        client.close()
        slot.store = None
        impatient.close()
