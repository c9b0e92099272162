"""Hostile clients against a real `qc serve` (uvicorn, real model, SQLite store): a sign-in flood and a multipart
bomb must not starve another camera's ingest; hostile headers are refused as ``bad_header``; every error is an
answer with the security headers; the API docs (CDN scripts) are off unless configured."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hostile_load import flood_result, start_sign_in_flood, stream_at_rate
from service_harness import (
    TOKENS,
    RunningService,
    frame_jpeg,
    metric_value,
    open_stream,
    raw_message,
    running,
    send_and_ack,
    service_config,
)

from edge.store.users import hash_password

pytestmark = pytest.mark.slow  # real qc serve processes under hostile clients

PASSWORD = "olga-real-password"
# Near what the service sustains on the test machines: before sign-in hashing was bounded, a flood cut a camera at
# this rate to under half its frames (at 4 fps it kept all of them, so a slower camera would prove nothing).
CAMERA_FPS = 20


def hostile_service(tmp: Path, registry: Path, **review: object) -> Iterator[RunningService]:
    # The production scrypt cost: each wrong guess that reaches the KDF costs what it would on a real node.
    users = [{"name": "olga", "role": "ops", "password_hash": hash_password(PASSWORD)}]
    config = service_config(tmp, registry, review={"users": users, **review})
    with running(config) as service:
        yield service


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory, served_registry: Path) -> Iterator[RunningService]:
    yield from hostile_service(tmp_path_factory.mktemp("svc_hostile"), served_registry)


@pytest.fixture
def unthrottled(tmp_path: Path, served_registry: Path) -> Iterator[RunningService]:
    """A service whose lockouts never trigger: what a flood from many addresses looks like (only the one-thread
    bound on hashing stands between it and the cores)."""
    yield from hostile_service(tmp_path, served_registry, signin_failures_per_user=10**9,
                               signin_failures_per_address=10**9)


def frame_headers(camera: str, seq: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[camera]}", "X-Camera-Id": camera, "X-Seq": seq,
            "X-Captured-At": "1800000000.5", "Content-Type": "image/jpeg", **extra}


def assert_security_headers(r: httpx.Response) -> None:
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "content-security-policy" in r.headers


def test_sign_in_flood_is_throttled_and_does_not_starve_a_camera(svc: RunningService,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="edge.ops.review.auth_routes")
    flood = start_sign_in_flood(svc.url, threads=16, seconds=12)
    time.sleep(1.0)  # the flood is running
    run = stream_at_rate(svc, "cam1", first_seq=1, fps=CAMERA_FPS, seconds=10)
    statuses = flood_result(flood)
    assert statuses.get("429", 0) > 0, statuses  # the flood was throttled...
    assert statuses.get("401", 0) <= 20, statuses  # ...after at most the address's allowance of wrong guesses
    assert run.kept() >= 0.95, (run.kept(), statuses)
    assert any("sign-in" in r.getMessage() and "locked out" in r.getMessage() for r in caplog.records)
    # while locked out even the right password is answered "try again in N s", without hashing it
    with httpx.Client(base_url=svc.url, timeout=30) as client:
        form = client.get("/review/login").text
        token = form.split('name="csrf_token" value="')[1].split('"')[0]
        r = client.post("/review/login", data={"username": "olga", "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    assert "Try again in" in r.text


def test_unthrottled_sign_in_flood_gets_one_hashing_thread(unthrottled: RunningService) -> None:
    flood = start_sign_in_flood(unthrottled.url, threads=16, seconds=12)
    time.sleep(1.0)
    run = stream_at_rate(unthrottled, "cam1", first_seq=1, fps=CAMERA_FPS, seconds=10)
    statuses = flood_result(flood)
    assert statuses.get("401", 0) > 50, statuses  # passwords were checked all along...
    assert run.kept() >= 0.95, (run.kept(), statuses)  # ...on one thread, never on the cores the camera needs


def multipart_bomb(parts: int) -> tuple[bytes, str]:
    """A multipart body of ``parts`` empty 51-byte fields and one file part: the probe's 7.8 MB of 151,640 parts."""
    field = b'--b\r\nContent-Disposition: form-data; name="f"\r\n\r\n\r\n'
    file = (b'--b\r\nContent-Disposition: form-data; name="file"; filename="f.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'
            + frame_jpeg(0) + b"\r\n--b--\r\n")
    return field * parts + file, "multipart/form-data; boundary=b"


def test_multipart_bomb_is_refused_and_others_keep_streaming(svc: RunningService) -> None:
    body, content_type = multipart_bomb(151_640)
    assert 7_700_000 < len(body) < svc.config.limits.max_message_bytes
    stop = threading.Event()
    bomb_answers: list[int] = []
    health: list[int] = []

    def bomb() -> None:
        seq = 10_000
        while not stop.is_set():
            r = httpx.post(f"{svc.url}/frames", content=body, timeout=60,
                           headers=frame_headers("cam2", str(seq), **{"Content-Type": content_type}))
            bomb_answers.append(r.status_code)
            assert r.json()["code"] == "bad_multipart", r.text
            seq += 1

    def poll_health() -> None:
        while not stop.is_set():
            health.append(httpx.get(f"{svc.url}/healthz", timeout=30).status_code)
            time.sleep(0.2)

    workers = [threading.Thread(target=bomb, daemon=True), threading.Thread(target=poll_health, daemon=True)]
    for w in workers:
        w.start()
    run = stream_at_rate(svc, "cam1", first_seq=1_000, fps=CAMERA_FPS, seconds=8)
    stop.set()
    for w in workers:
        w.join(timeout=60)
    assert bomb_answers and all(400 <= s < 500 for s in bomb_answers), bomb_answers
    assert health and all(s == 200 for s in health) and len(health) >= 10, health
    assert run.kept() >= 0.95, run.kept()
    dropped = metric_value(httpx.get(f"{svc.url}/metrics").text, "qc_frames_dropped_total", camera="cam2",
                           reason="bad_multipart")
    assert dropped is not None and dropped >= len(bomb_answers)


@pytest.mark.parametrize(("name", "extra"), [
    ("captured_at_1e300", {"X-Captured-At": "1e300"}),
    ("captured_at_past_9999", {"X-Captured-At": "999999999999"}),
    ("seq_with_underscore", {"X-Seq": "1_000"}),
    ("seq_superscript", {"X-Seq": "\u00b2"}),
    ("seq_plus", {"X-Seq": "+7"}),
    ("tags_nested_2000", {"X-Tags": '{"sku": ' + "[" * 2000 + "]" * 2000 + "}"}),
])
def test_hostile_http_headers_are_bad_header(svc: RunningService, name: str, extra: dict[str, str]) -> None:
    hdrs = frame_headers("cam2", "20000", **extra)
    r = httpx.post(f"{svc.url}/frames", content=frame_jpeg(1), timeout=30,
                   headers={k: v.encode("utf-8") for k, v in hdrs.items()})
    assert r.status_code == 400, r.text
    assert r.json()["code"] == "bad_header"
    assert_security_headers(r)


def test_deeply_nested_websocket_header_gets_an_error_ack(svc: RunningService) -> None:
    nested = b'{"camera_id": "cam2", "seq": 30000, "captured_at": 1.0, "tags": {"sku": ' + b"[" * 2000 + b"]" * 2000
    with open_stream(svc, "cam2") as ws:
        ack = send_and_ack(ws, raw_message(nested + b"}}", frame_jpeg(1)))
        assert (ack.status, ack.code) == ("error", "bad_header")
        ack = send_and_ack(ws, raw_message({"camera_id": "cam2", "seq": 30_001, "captured_at": 1e300}, frame_jpeg(1)))
        assert (ack.status, ack.code) == ("error", "bad_header")
        ok = send_and_ack(ws, raw_message({"camera_id": "cam2", "seq": 30_002, "captured_at": 1.0}, frame_jpeg(2)))
        assert ok.status == "ok"  # the connection goes on


def test_docs_are_off_by_default_and_openapi_stays(svc: RunningService) -> None:
    for path in ("/docs", "/redoc"):
        assert httpx.get(svc.url + path).status_code == 404
    r = httpx.get(svc.url + "/openapi.json")
    assert r.status_code == 200 and "/frames" in r.json()["paths"]
    assert_security_headers(r)
    assert r.headers["content-security-policy"].startswith("default-src 'none'")
