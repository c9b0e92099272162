"""The review page's pure parts: session signing, strict input parsing, SVG charts, the config section."""

from __future__ import annotations

import re
from datetime import date

import httpx
import pytest
from pydantic import TypeAdapter, ValidationError
from review_world import review_app, serve

from edge.ops.review.api_models import BoxBody, BulkBody, FlagId, RelabelBody
from edge.ops.review.charts import Series, axis, bar_chart, line_chart
from edge.ops.review.errors import BadReviewInput
from edge.ops.review.inputs import REVIEW_INPUT, QueueFilter, check_relabel, fit_box
from edge.ops.review.sessions import SessionSigner
from edge.review_settings import ReviewSection
from edge.store.store import Store
from vision.taxonomy import Taxonomy

KEY = b"k" * 32


def test_session_round_trip_and_csrf_binding() -> None:
    signer = SessionSigner(KEY, ttl_s=60)
    cookie, session = signer.issue("olga", now=1000)
    assert signer.read(cookie, now=1001) == session
    assert signer.check_csrf(session, signer.csrf_token(session))
    _, other = signer.issue("olga", now=1000)
    assert not signer.check_csrf(other, signer.csrf_token(session))  # a token is bound to its session
    assert not signer.check_csrf(session, None) and not signer.check_csrf(session, "")


@pytest.mark.parametrize(
    ("mangle", "now"),
    [
        (lambda c: c, 1061),  # expired
        (lambda c: c[:-1] + ("A" if c[-1] != "A" else "B"), 1001),  # MAC changed
        (lambda c: "e" + c, 1001),  # payload changed
        (lambda c: c.replace(".", ""), 1001),  # no MAC
        (lambda c: c + ".x", 1001),  # extra part
        (lambda c: "", 1001),
        (lambda c: "x" * 5000, 1001),
    ],
)
def test_a_bad_session_cookie_is_no_session(mangle: object, now: float) -> None:
    signer = SessionSigner(KEY, ttl_s=60)
    cookie, _ = signer.issue("olga", now=1000)
    assert signer.read(mangle(cookie), now=now) is None  # type: ignore[operator]


def test_other_key_non_ascii_and_login_tokens() -> None:
    signer = SessionSigner(KEY, ttl_s=60)
    cookie, session = signer.issue("olga")
    assert SessionSigner(b"z" * 32, ttl_s=60).read(cookie) is None
    payload, _, mac = cookie.partition(".")
    assert signer.read(f"{payload}.{mac[:-1]}\u00e9") is None  # non-ASCII: unequal, not a TypeError
    assert not signer.check_csrf(session, "\u00e9" + signer.csrf_token(session)[1:])
    nonce = signer.login_nonce()
    assert signer.check_login(nonce, signer.login_token(nonce))
    assert not signer.check_login(signer.login_nonce(), signer.login_token(nonce))
    assert not signer.check_login(None, signer.login_token(nonce))
    with pytest.raises(ValueError, match="at least 32 bytes"):
        SessionSigner(b"short", ttl_s=60)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1", 1), ("42", 42), ("007", 7), ("0", None), ("-1", None), ("1.0", None), ("", None), ("１", None),
     ("1" * 19, None), (" 1", None), ("1\n", None), ("1_0", None), ("+1", None), (1, None)],
)
def test_flag_id_is_digits_only(raw: object, expected: int | None) -> None:
    adapter = TypeAdapter(FlagId)
    if expected is not None:
        assert adapter.validate_python(raw) == expected
    else:
        with pytest.raises(ValidationError):
            adapter.validate_python(raw)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, QueueFilter()),
        ({"camera": "belt1", "produce": "apple", "status": "all", "date": "2026-11-26", "page": "2"},
         QueueFilter(camera="belt1", produce="apple", status="all", day=date(2026, 11, 26), page=2)),
        ({"camera": "", "produce": "", "date": ""}, QueueFilter()),
        ({"camera": "../x"}, "camera"),
        ({"produce": "durian"}, "produce"),
        ({"status": "confirmed"}, "status"),
        ({"date": "2026-02-30"}, "date"),
        ({"date": "26/11/2026"}, "date"),
        ({"page": "0"}, "page"),
        ({"page": "-1"}, "page"),
        ({"page": "x"}, "page"),
    ],
)
def test_queue_filter_from_a_query_string(
    taxonomy: Taxonomy, params: dict[str, str], expected: QueueFilter | str
) -> None:
    model = QueueFilter.for_taxonomy(taxonomy)
    if isinstance(expected, QueueFilter):
        assert model.model_validate(params).model_dump() == expected.model_dump()
    else:
        with pytest.raises(ValidationError) as caught:
            model.model_validate(params)
        first = caught.value.errors()[0]
        assert first["type"] == REVIEW_INPUT and re.match(f"^{expected}:", first["msg"])


def test_filter_query_keeps_the_other_filters() -> None:
    f = QueueFilter(camera="belt1", produce="apple", status="pending", day=date(2026, 11, 26), page=1)
    assert f.query(page=2) == "camera=belt1&produce=apple&status=pending&date=2026-11-26&page=2"


@pytest.mark.parametrize(
    ("produce", "condition", "expected"),
    [
        ("banana", None, ("banana", None)),
        ("", "rotten", (None, "rotten")),
        ("apple", "fresh", ("apple", "fresh")),
        (None, "", "give produce and/or condition"),
        ("durian", None, "not a produce kind"),
        (None, "mouldy", "not a condition"),
    ],
)
def test_check_relabel(taxonomy: Taxonomy, produce: str | None, condition: str | None,
                       expected: tuple | str) -> None:
    if isinstance(expected, tuple):
        assert check_relabel(produce, condition, taxonomy) == expected
    else:
        with pytest.raises(BadReviewInput, match=expected):
            check_relabel(produce, condition, taxonomy)


@pytest.mark.parametrize(
    ("box", "size", "expected"),
    [
        ((10, 20, 110, 220), (640, 360), (10.0, 20.0, 110.0, 220.0)),
        ((-0.5, 0, 640.4, 360), (640, 360), (0.0, 0.0, 640.0, 360.0)),  # rounding at the edge: clipped
        ((10, 20, 110, 220), (None, None), (10.0, 20.0, 110.0, 220.0)),
        ((10, 20, 700, 220), (640, 360), "inside the frame"),
        ((110, 20, 10, 220), (640, 360), "x0 < x1"),
        ((10, 20, 11, 220), (640, 360), "x0 < x1"),
        ((10, 20, 11, 220), (None, None), "x0 < x1"),
    ],
)
def test_fit_box(box: tuple, size: tuple, expected: tuple | str) -> None:
    if isinstance(expected, tuple):
        assert fit_box(box, *size) == expected
    else:
        with pytest.raises(BadReviewInput, match=expected):
            fit_box(box, *size)


def test_body_models_are_strict() -> None:
    assert BulkBody(flag_ids=[3, 1, 3]).ids == [3, 1]  # a repeated id counts once, order kept
    assert BoxBody(box=[1, 2, 30, 40.5]).corners == (1.0, 2.0, 30.0, 40.5)
    for bad in ({"flag_ids": [1, "2"]}, {"flag_ids": [True]}, {"flag_ids": [0]}, {"flag_ids": []},
                {"flag_ids": [1], "x": 1}):
        with pytest.raises(ValidationError):
            BulkBody.model_validate(bad)
    for bad in ({"box": [1, 2, 3]}, {"box": [1, 2, 3, float("nan")]}, {"box": [1, 2, 3, True]},
                {"box": [1, 2, 3, 10**400]}, {"box": "1,2,3,4"}):
        with pytest.raises(ValidationError):
            BoxBody.model_validate(bad)
    with pytest.raises(ValidationError, match="give produce and/or condition"):
        RelabelBody.model_validate({"produce": ""})


@pytest.mark.parametrize(
    ("top", "integer", "expected"),
    [(0, True, (4.0, 1.0)), (3, True, (3.0, 1.0)), (7, True, (8.0, 2.0)), (99, True, (100.0, 25.0)),
     (1234, True, (1500.0, 500.0)), (0.37, False, (0.4, 0.1))],
)
def test_axis_has_round_ticks(top: float, integer: bool, expected: tuple[float, float]) -> None:
    end, step = axis(top, integer=integer)
    assert (end, step) == pytest.approx(expected)
    assert end >= top


def test_charts_escape_labels_and_draw_every_value() -> None:
    evil = "<script>x</script>"
    bars = bar_chart(evil, ["2026-11-25", "2026-11-26"], [Series(evil, [3, 5]), Series("flagged", [1, None])])
    assert "<script>" not in bars and "&lt;script&gt;" in bars
    assert bars.count("<rect") == 3 + 2  # three bars (a None draws nothing) + two legend swatches
    line = line_chart("precision", ["a", "b", "c"], [Series("p", [0.5, None, 1.0])])
    assert line.count("<circle") == 2 and "<polyline" not in line  # a gap breaks the line
    assert "50%" in line and "100%" in line


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"secret_key": "short"}, "at least 32 characters"),
        ({"users": [{"name": "a", "password_hash": "x"}, {"name": "a", "password_hash": "y"}]}, "appears twice"),
        ({"users": [{"name": "a", "role": "root", "password_hash": "x"}]}, "ops"),
        ({"users": [{"name": "-bad", "password_hash": "x"}]}, "user name"),
        ({"users": [{"name": "a", "password": "plain"}]}, "Extra inputs"),
        ({"page_size": 0}, "greater than or equal"),
    ],
)
def test_review_settings_refuse_bad_values(raw: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ReviewSection(**raw)


def test_a_disabled_review_page_adds_no_routes(review_store: Store) -> None:
    for enabled, status in ((False, 404), (True, 200)):
        with serve(review_app(review_store, ReviewSection(enabled=enabled))) as url:
            assert httpx.get(f"{url}/review/login").status_code == status
