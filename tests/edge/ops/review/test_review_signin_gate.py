"""The cheap answer to a sign-in flood, against a real uvicorn: a locked-out address is answered from its request's
headers alone (the body is never read), a locked-out user name before its CSRF token is checked; both get one line
of text with Retry-After and the review page's security headers, no form and no cookie. The pause before such an
answer and the bounded refusal log, on their own (a fake clock; no waiting)."""

from __future__ import annotations

import asyncio
import logging
import re
import socket
from urllib.parse import urlsplit

import httpx
import pytest
from review_world import OPS_USER, review_app, review_settings, serve

from edge.ops.review.signin_gate import AnswerPause, RefusalLog
from edge.store.store import Store


def wrong_guess(client: httpx.Client, user: str) -> httpx.Response:
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/review/login").text)
    assert token is not None
    return client.post("/review/login", data={"username": user, "password": "wrong-password",
                                              "csrf_token": token.group(1)})


def assert_short_throttled_answer(status: int, headers: dict[str, str], body: str) -> None:
    """429, one line of text saying when to try again, the security headers; no form, no token, no cookie."""
    assert status == 429
    wait = int(headers["retry-after"])
    assert wait >= 1 and body == f"Too many sign-in attempts. Try again in {wait} s.\n"
    assert headers["content-type"].startswith("text/plain")
    assert "<form" not in body and "csrf" not in body
    assert "set-cookie" not in headers
    assert headers["cache-control"] == "no-store" and headers["x-content-type-options"] == "nosniff"
    assert headers["content-security-policy"].startswith("default-src 'self'")


def post_headers_only(url: str, declared_length: int) -> tuple[int, dict[str, str], str]:
    """``POST /review/login`` announcing a form body of ``declared_length`` bytes and sending none of it; the answer
    (a socket timeout if the service waits for the body)."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(f"POST /review/login HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: "
                     f"application/x-www-form-urlencoded\r\nContent-Length: {declared_length}\r\n\r\n".encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            assert chunk, f"closed before an answer: {data!r}"
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        while len(body) < int(headers["content-length"]):
            body += sock.recv(65536)
    return int(lines[0].split()[1]), headers, body.decode()


def test_a_locked_out_address_is_answered_before_its_body_is_read(review_store: Store,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    settings = review_settings(signin_failures_per_user=100, signin_failures_per_address=2, signin_lockout_s=60)
    with serve(review_app(review_store, settings)) as url, httpx.Client(base_url=url, timeout=20) as client:
        assert [wrong_guess(client, f"nobody{i}").status_code for i in range(2)] == [401, 401]
        assert_short_throttled_answer(*post_headers_only(url, declared_length=4000))
        r = wrong_guess(client, OPS_USER)  # any name, whole form and valid token: the same short answer
        assert_short_throttled_answer(r.status_code, dict(r.headers), r.text)
        assert 'name="csrf_token"' in client.get("/review/login").text  # the form itself is still served
    refused = [m for m in (rec.getMessage() for rec in caplog.records) if m.startswith("sign-in refused")]
    assert refused and "address locked out" in refused[0] and "127.0.0.1" in refused[0], refused  # the first at once


def test_a_locked_out_user_name_is_refused_before_its_csrf_token_is_checked(review_store: Store) -> None:
    settings = review_settings(signin_failures_per_user=2, signin_failures_per_address=100, signin_lockout_s=60)
    with serve(review_app(review_store, settings)) as url, httpx.Client(base_url=url, timeout=20) as client:
        assert [wrong_guess(client, OPS_USER).status_code for _ in range(2)] == [401, 401]
        r = client.post("/review/login", data={"username": OPS_USER, "password": "x", "csrf_token": "forged"})
        assert_short_throttled_answer(r.status_code, dict(r.headers), r.text)
        # Another name from the same address is checked as usual: its forged token is refused with the form.
        other = client.post("/review/login", data={"username": "nobody", "password": "x", "csrf_token": "forged"})
        assert other.status_code == 403 and 'name="csrf_token"' in other.text


def test_the_refusal_log_writes_one_line_per_interval_counting_the_rest(caplog: pytest.LogCaptureFixture) -> None:
    now = [1000.0]
    log = RefusalLog(every_s=10.0, clock=lambda: now[0])
    caplog.set_level(logging.WARNING)
    for _ in range(500):  # a flood within one interval
        log.note("address locked out for 60 s more", None, "10.0.0.7")
    now[0] += 10.0
    log.note("locked out for 50 s more", "olga", "10.0.0.8")
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2, lines
    assert "10.0.0.7" in lines[0] and "more refused" not in lines[0]
    assert "'olga'" in lines[1] and "10.0.0.8" in lines[1] and "499 more refused" in lines[1]


def test_the_pause_holds_at_most_its_bound_of_answers() -> None:
    async def scenario() -> tuple[int, int, int]:
        pause = AnswerPause(pause_s=3600.0, max_paused=2)
        held = [asyncio.create_task(pause.wait()) for _ in range(2)]
        await asyncio.sleep(0)  # both start their pause
        while_full = pause.paused
        await asyncio.wait_for(pause.wait(), timeout=30)  # over the bound: answered without a pause
        for task in held:
            task.cancel()
        await asyncio.gather(*held, return_exceptions=True)
        return while_full, pause.paused, sum(t.cancelled() for t in held)

    assert asyncio.run(scenario()) == (2, 0, 2)
