"""The WebSocket stream against a real uvicorn: two cameras, duplicates, every bad input, authentication.

One service serves the whole module (start-up costs a model load); every test uses its own seq range so the
tests do not depend on each other's frames.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from service_harness import (
    RunningService,
    frame_jpeg,
    message,
    metric_value,
    open_stream,
    raw_message,
    running,
    send_and_ack,
    service_config,
)
from websockets.exceptions import ConnectionClosed

from edge.protocol import CLOSE_FORBIDDEN, CLOSE_UNAUTHORIZED, parse_ack
from edge.store.store import Store

MAX_MESSAGE = 1024 * 1024


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory, served_registry: Path) -> Iterator[RunningService]:
    tmp = tmp_path_factory.mktemp("svc_stream")
    config = service_config(tmp, served_registry, limits={"max_message_bytes": MAX_MESSAGE})
    with running(config) as service:
        yield service


def tallies(svc: RunningService) -> dict[str, tuple[int, dict[str, int]]]:
    with Store.open(svc.config.store_url) as store:
        return {t.camera_id: (t.processed, dict(t.dropped)) for t in store.frame_tallies()}


def test_two_cameras_stream_interleaved_and_every_frame_is_committed_once(svc: RunningService) -> None:
    before = tallies(svc)
    seqs = range(1000, 1008)
    with open_stream(svc, "cam1") as ws1, open_stream(svc, "cam2") as ws2:
        for seq in seqs:  # pipelined: all frames in flight before the first ack is read
            ws1.send(message("cam1", seq, sku="SKU-1"))
            ws2.send(message("cam2", seq))
        acks1 = [parse_ack(ws1.recv(timeout=30)) for _ in seqs]
        acks2 = [parse_ack(ws2.recv(timeout=30)) for _ in seqs]
    assert [(a.camera_id, a.seq, a.status) for a in acks1] == [("cam1", s, "ok") for s in seqs]
    assert [(a.camera_id, a.seq, a.status) for a in acks2] == [("cam2", s, "ok") for s in seqs]
    after = tallies(svc)
    for cam in ("cam1", "cam2"):
        assert after[cam][0] - before.get(cam, (0, {}))[0] == len(seqs)
    with Store.open(svc.config.store_url) as store:
        assert store.frame_status("cam1", 1003) == "processed"
        assert store.load_checkpoint("cam1") is not None  # the counter's state is committed with each frame


def test_a_resent_frame_is_acked_duplicate_and_never_processed_twice(svc: RunningService) -> None:
    with open_stream(svc, "cam1") as ws:
        first = [send_and_ack(ws, message("cam1", seq)) for seq in range(2000, 2005)]
        processed = tallies(svc)["cam1"][0]
        with Store.open(svc.config.store_url) as store:
            items_before = len(store.items(camera_id="cam1"))
        again = [send_and_ack(ws, message("cam1", seq)) for seq in range(2000, 2005)]
    assert [a.status for a in first] == ["ok"] * 5
    assert [(a.seq, a.status) for a in again] == [(s, "duplicate") for s in range(2000, 2005)]
    assert tallies(svc)["cam1"][0] == processed
    with Store.open(svc.config.store_url) as store:
        assert len(store.items(camera_id="cam1")) == items_before


def _corrupt_tables(jpeg: bytes) -> bytes:
    """A JPEG whose Huffman table is overwritten: markers intact, pixel data undecodable."""
    k = jpeg.index(b"\xff\xc4")
    out = bytearray(jpeg)
    out[k + 4 : k + 30] = b"\xff" * 26
    return bytes(out)


def _bomb() -> bytes:
    """A real decompression bomb: 5000 x 5000 pixels (25 Mpx, ~75 MB decoded) in a few hundred KB."""
    ok, buf = cv2.imencode(".jpg", np.zeros((5000, 5000, 3), np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 50])
    assert ok
    return buf.tobytes()


def _png() -> bytes:
    ok, buf = cv2.imencode(".png", np.zeros((32, 32, 3), np.uint8))
    assert ok
    return buf.tobytes()


# name, message for (seq), expected status, expected code, whether the ack names the seq
BAD_INPUTS: list[tuple[str, Callable[[int], bytes], str, str, bool]] = [
    ("corrupt", lambda s: message("cam1", s, _corrupt_tables(frame_jpeg(s))), "error", "corrupt_jpeg", True),
    ("truncated", lambda s: message("cam1", s, frame_jpeg(s)[:3000]), "error", "truncated_jpeg", True),
    ("empty", lambda s: message("cam1", s, b""), "error", "empty_payload", True),
    ("non_jpeg", lambda s: message("cam1", s, _png()), "error", "not_jpeg", True),
    ("pixel_bomb", lambda s: message("cam1", s, _bomb()), "error", "too_many_pixels", True),
    ("oversized", lambda s: message("cam1", s, frame_jpeg(s) + b"\0" * MAX_MESSAGE), "error", "message_too_large",
     True),
    ("header_not_json", lambda s: raw_message(b"{camera_id: cam1", frame_jpeg(s)), "error", "bad_header", False),
    ("header_missing_seq", lambda s: raw_message({"camera_id": "cam1", "captured_at": 1.0}, frame_jpeg(s)), "error",
     "bad_header", False),
    ("header_unknown_key", lambda s: raw_message({"camera_id": "cam1", "seq": s, "captured_at": 1.0, "x": 1},
                                                 frame_jpeg(s)), "error", "bad_header", False),
    ("header_negative_seq", lambda s: raw_message({"camera_id": "cam1", "seq": -s, "captured_at": 1.0},
                                                  frame_jpeg(s)), "error", "bad_header", False),
    ("header_longer_than_message", lambda s: b"\x00\x00\x01\x00{}", "error", "truncated_message", False),
    ("shorter_than_length_prefix", lambda s: b"\x00\x00", "error", "truncated_message", False),
    ("header_too_large", lambda s: b"\x00\x10\x00\x00" + b" " * 70000, "error", "header_too_large", False),
    ("other_cameras_header", lambda s: message("cam2", s), "error", "camera_mismatch", True),
]


@pytest.mark.parametrize(("name", "build", "status", "code", "has_seq"), BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_gets_its_code_and_nothing_else_is_disturbed(
    svc: RunningService, name: str, build: Callable[[int], bytes], status: str, code: str, has_seq: bool
) -> None:
    base = 3000 + 10 * [c[0] for c in BAD_INPUTS].index(name)
    with open_stream(svc, "cam1") as ws1, open_stream(svc, "cam2") as ws2:
        assert send_and_ack(ws1, message("cam1", base)).status == "ok"
        ws2.send(message("cam2", base))  # the other camera streams while cam1 misbehaves
        bad = send_and_ack(ws1, build(base + 1))
        ws2.send(message("cam2", base + 1))
        after = send_and_ack(ws1, message("cam1", base + 2))  # the same connection stays open and usable
        other = [parse_ack(ws2.recv(timeout=30)) for _ in range(2)]
    assert (bad.status, bad.code) == (status, code), bad
    assert bad.camera_id == "cam1" and bad.reason
    assert bad.seq == (base + 1 if has_seq else None)
    assert after.status == "ok"
    assert [(a.seq, a.status) for a in other] == [(base, "ok"), (base + 1, "ok")]
    if has_seq and code != "camera_mismatch":  # a bad frame of this camera is finished with, with its reason
        with Store.open(svc.config.store_url) as store:
            assert store.frame_status("cam1", base + 1) == "dropped"


def test_a_text_message_is_refused_and_the_stream_goes_on(svc: RunningService) -> None:
    with open_stream(svc, "cam1") as ws:
        ws.send("hello")
        ack = parse_ack(ws.recv(timeout=10))
        assert (ack.status, ack.code, ack.seq) == ("error", "not_binary", None)
        assert send_and_ack(ws, message("cam1", 4000)).status == "ok"


def test_a_seq_replayed_out_of_order_is_dropped_with_its_reason(svc: RunningService) -> None:
    with open_stream(svc, "cam1") as ws:
        assert [send_and_ack(ws, message("cam1", s)).status for s in (5010, 5011)] == ["ok", "ok"]
        late = send_and_ack(ws, message("cam1", 5005))  # never sent before, older than the newest
        again = send_and_ack(ws, message("cam1", 5005))
        assert send_and_ack(ws, message("cam1", 5012)).status == "ok"
    assert (late.status, late.code) == ("dropped", "seq_out_of_order")
    assert (again.status, again.code) == ("dropped", "already_dropped")
    with Store.open(svc.config.store_url) as store:
        assert store.frame_status("cam1", 5005) == "dropped"


AUTH_FAILURES = [
    ("cam9", "token-cam1-secret", CLOSE_UNAUTHORIZED, "unknown_camera"),
    ("cam1", "", CLOSE_UNAUTHORIZED, "missing_token"),
    ("cam1", "token-cam2-secret", CLOSE_FORBIDDEN, "bad_token"),  # another camera's token
    ("cam1", "wrong-token-1234", CLOSE_FORBIDDEN, "bad_token"),
]


@pytest.mark.parametrize(("camera", "token", "close_code", "code"), AUTH_FAILURES)
def test_authentication_failures_close_with_code_and_reason(
    svc: RunningService, camera: str, token: str, close_code: int, code: str
) -> None:
    n = AUTH_FAILURES.index((camera, token, close_code, code))
    with open_stream(svc, "cam2") as other, open_stream(svc, camera, token=token) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            ws.send(message(camera, 6000))
            ws.recv(timeout=10)
        assert send_and_ack(other, message("cam2", 6000 + n)).status == "ok"
    rcvd = closed.value.rcvd
    assert rcvd is not None and rcvd.code == close_code
    assert rcvd.reason.startswith(code)


def test_metrics_expose_every_series(svc: RunningService) -> None:
    import httpx

    with open_stream(svc, "cam2") as ws:
        assert send_and_ack(ws, message("cam2", 7000)).status == "ok"
        send_and_ack(ws, message("cam2", 7001, b""))
    text = httpx.get(f"{svc.url}/metrics", timeout=10).text
    for name in ("qc_frames_received_total", "qc_frames_processed_total", "qc_frames_duplicate_total",
                 "qc_ws_connections"):
        assert metric_value(text, name, camera="cam2") is not None, name
    assert metric_value(text, "qc_frames_processed_total", camera="cam2") >= 1
    assert metric_value(text, "qc_frames_dropped_total", camera="cam2", reason="empty_payload") >= 1
    for name in ("qc_batch_size_count", "qc_batch_latency_seconds_count", "qc_frame_latency_seconds_count"):
        assert (metric_value(text, name) or 0) >= 1, name
    assert metric_value(text, "qc_queue_depth") is not None
    assert metric_value(text, "qc_queue_limit") == 32
    assert metric_value(text, "qc_model_loaded") == 1
    assert metric_value(text, "qc_execution_provider", provider="CPUExecutionProvider",
                        requested="CPUExecutionProvider") == 1
    assert metric_value(text, "qc_execution_provider_fell_back") == 0
    assert 'qc_model_info{' in text and 'version="v' in text
    assert "# TYPE qc_items_counted_total counter" in text and "# TYPE qc_items_flagged_total counter" in text


def test_health_and_readiness(svc: RunningService) -> None:
    import httpx

    assert httpx.get(f"{svc.url}/healthz", timeout=10).json() == {"status": "ok"}
    ready = httpx.get(f"{svc.url}/readyz", timeout=10)
    assert ready.status_code == 200
    body = ready.json()
    assert body["ready"] is True and body["provider"] == "CPUExecutionProvider"
    assert json.dumps(body["checks"]) == json.dumps({"store": "ok", "model": "ok", "provider": "ok", "pipeline": "ok"})
