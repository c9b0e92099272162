"""``POST /frames`` against a real uvicorn with a real httpx client: raw and multipart bodies, every error's status."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from service_harness import TOKENS, RunningService, frame_jpeg, running, service_config

from edge.store.store import Store

MAX_MESSAGE = 256 * 1024


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory, served_registry: Path) -> Iterator[RunningService]:
    tmp = tmp_path_factory.mktemp("svc_post")
    config = service_config(tmp, served_registry, limits={"max_message_bytes": MAX_MESSAGE})
    with running(config) as service:
        yield service


def headers(camera: str = "cam1", seq: int | str = 1, token: str | None = None, **extra: str) -> dict[str, str]:
    h = {
        "Authorization": f"Bearer {TOKENS.get(camera, 'x') if token is None else token}",
        "X-Camera-Id": camera,
        "X-Seq": str(seq),
        "X-Captured-At": "1800000000.5",
        "Content-Type": "image/jpeg",
    }
    h.update(extra)
    return {k: v for k, v in h.items() if v != ""}


def post(svc: RunningService, content: bytes | None = None, **kw: Any) -> httpx.Response:
    return httpx.post(f"{svc.url}/frames", timeout=30, content=content, **kw)


def test_raw_jpeg_then_resend(svc: RunningService) -> None:
    r = post(svc, frame_jpeg(1), headers=headers(seq=1, **{"X-Tags": json.dumps({"sku": "SKU-9", "tote": "T1"})}))
    assert r.status_code == 200, r.text
    assert r.json() == {"camera_id": "cam1", "seq": 1, "status": "ok", "reason": None, "code": None}
    again = post(svc, frame_jpeg(1), headers=headers(seq=1))
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    with Store.open(svc.config.store_url) as store:
        assert store.frame_status("cam1", 1) == "processed"


def test_multipart_upload(svc: RunningService) -> None:
    h = headers(seq=2)
    del h["Content-Type"]
    r = httpx.post(f"{svc.url}/frames", headers=h, files={"file": ("f.jpg", frame_jpeg(2), "image/jpeg")}, timeout=30)
    assert r.status_code == 200 and r.json()["status"] == "ok", r.text


# name, body, headers, HTTP status, ack code
POST_ERRORS: list[tuple[str, bytes, dict[str, str], int, str]] = [
    ("unknown_camera", frame_jpeg(0), headers(camera="cam9", seq=10), 401, "unknown_camera"),
    ("missing_token", frame_jpeg(0), headers(seq=11, token="", Authorization=""), 401, "missing_token"),
    ("wrong_token", frame_jpeg(0), headers(seq=12, token="token-cam2-secret"), 403, "bad_token"),
    ("not_jpeg", b"GIF89a" + b"\0" * 100, headers(seq=13), 415, "not_jpeg"),
    ("empty", b"", headers(seq=14), 400, "empty_payload"),
    ("truncated", frame_jpeg(15)[:2000], headers(seq=15), 400, "truncated_jpeg"),
    ("oversized", frame_jpeg(16) + b"\0" * MAX_MESSAGE, headers(seq=16), 413, "message_too_large"),
    ("seq_not_a_number", frame_jpeg(0), headers(seq="abc"), 400, "bad_header"),
    ("missing_seq", frame_jpeg(0), headers(seq=""), 400, "bad_header"),
    ("tags_not_json", frame_jpeg(0), headers(seq=17, **{"X-Tags": "{sku"}), 400, "bad_header"),
    ("unknown_tag", frame_jpeg(0), headers(seq=18, **{"X-Tags": '{"colour": "red"}'}), 400, "bad_header"),
    ("wrong_content_type", frame_jpeg(19), headers(seq=19, **{"Content-Type": "text/plain"}), 415, "not_jpeg"),
]


@pytest.mark.parametrize(("name", "body", "hdrs", "status", "code"), POST_ERRORS, ids=[c[0] for c in POST_ERRORS])
def test_post_errors_answer_4xx_json(
    svc: RunningService, name: str, body: bytes, hdrs: dict[str, str], status: int, code: str
) -> None:
    r = post(svc, body, headers=hdrs)
    assert r.status_code == status, r.text
    ack = r.json()
    assert (ack["status"], ack["code"]) == ("error", code)
    assert ack["reason"]
    # and the service goes on taking frames
    ok = post(svc, frame_jpeg(100), headers=headers(camera="cam2", seq=100 + POST_ERRORS.index(
        next(c for c in POST_ERRORS if c[0] == name))))
    assert ok.status_code == 200


def test_out_of_order_post_is_409(svc: RunningService) -> None:
    assert post(svc, frame_jpeg(0), headers=headers(camera="cam2", seq=500)).status_code == 200
    r = post(svc, frame_jpeg(0), headers=headers(camera="cam2", seq=499))
    assert r.status_code == 409 and r.json()["code"] == "seq_out_of_order"
