"""Multipart ``POST /frames`` bodies against a real uvicorn, over plain sockets so that a test decides how much of a
body is sent: a body of too many parts is refused at its first chunk, not after the whole upload; uploads over the
per-camera or the service's bound are refused 429 with Retry-After before their body is read, and the camera's
later frames wait for the refused one (its order is kept). Also the part counter and the slots on their own."""

from __future__ import annotations

import json
import random
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from service_harness import RunningService, frame_jpeg, metric_value, running, service_config, wait_for

from edge.protocol import ProtocolError
from edge.service.multipart import MAX_PARTS, PartCounter
from edge.service.upload_slots import UploadSlots
from edge.store.store import Store

CAMERAS = {"cam1": "token-cam1-secret", "cam2": "token-cam2-secret", "cam3": "token-cam3-secret"}
CONTENT_TYPE = "multipart/form-data; boundary=b"
FIELD = b'--b\r\nContent-Disposition: form-data; name="f"\r\n\r\n\r\n'


def multipart(jpeg: bytes, fields: int = 0) -> bytes:
    """A multipart body (boundary ``b``) of ``fields`` empty fields and the ``file`` part."""
    file = (b'--b\r\nContent-Disposition: form-data; name="file"; filename="f.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'
            + jpeg + b"\r\n--b--\r\n")
    return FIELD * fields + file


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory, served_registry: Path) -> Iterator[RunningService]:
    """Three cameras; at most two multipart uploads at once, one per camera; a camera's frames wait for its
    refused one for as long as any test here runs."""
    config = service_config(
        tmp_path_factory.mktemp("svc_uploads"), served_registry,
        cameras=[{"id": cam, "token": tok, "line": {"x": 0.5}} for cam, tok in CAMERAS.items()],
        limits={"max_multipart_uploads": 2, "max_multipart_uploads_per_camera": 1},
        batcher={"max_batch": 4, "max_wait_ms": 5, "queue_limit": 32, "retry_hold_s": 600},
    )
    with running(config) as service:
        yield service


class RawPost:
    """One ``POST /frames`` over a plain socket: the headers at once, the body when and as far as the test says."""

    def __init__(self, svc: RunningService, camera: str, seq: int, body_length: int,
                 content_type: str = CONTENT_TYPE) -> None:
        self.sock = socket.create_connection(("127.0.0.1", svc.port), timeout=60)
        head = (f"POST /frames HTTP/1.1\r\nHost: 127.0.0.1:{svc.port}\r\nAuthorization: Bearer {CAMERAS[camera]}\r\n"
                f"X-Camera-Id: {camera}\r\nX-Seq: {seq}\r\nX-Captured-At: 1800000000.5\r\n"
                f"Content-Type: {content_type}\r\nContent-Length: {body_length}\r\n\r\n")
        self.sock.sendall(head.encode("ascii"))

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def answer(self) -> tuple[int, dict[str, str], bytes]:
        """Status, headers (lower-case names) and body of the answer (a socket timeout if none comes)."""
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"closed before an answer: {data!r}")
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        while len(body) < int(headers["content-length"]):
            body += self.sock.recv(65536)
        return int(lines[0].split()[1]), headers, body

    def close(self) -> None:
        self.sock.close()


def uploads_now(svc: RunningService) -> float | None:
    return metric_value(httpx.get(f"{svc.url}/metrics", timeout=30).text, "qc_multipart_uploads")


def post(svc: RunningService, camera: str, seq: int, body: bytes, content_type: str = CONTENT_TYPE) -> httpx.Response:
    return httpx.post(f"{svc.url}/frames", content=body, timeout=60, headers={
        "Authorization": f"Bearer {CAMERAS[camera]}", "X-Camera-Id": camera, "X-Seq": str(seq),
        "X-Captured-At": "1800000000.5", "Content-Type": content_type})


def test_a_body_of_too_many_parts_is_refused_at_its_first_chunk(svc: RunningService) -> None:
    bomb = multipart(frame_jpeg(1), fields=151_640)  # the probe's 7.8 MB of empty fields
    request = RawPost(svc, "cam3", 100, len(bomb))
    try:
        request.send(bomb[:64 * 1024])  # under 1 % of what the headers announce: the rest is never sent
        status, headers, body = request.answer()
    finally:
        request.close()
    assert status == 400 and json.loads(body)["code"] == "bad_multipart", body
    assert headers["x-content-type-options"] == "nosniff" and "content-security-policy" in headers
    wait_for(lambda: uploads_now(svc) == 0)  # its slot was given back
    with Store.open(svc.config.store_url) as store:  # a frame of this camera, finished with its reason
        assert store.frame_status("cam3", 100) == "dropped"
    ok = post(svc, "cam3", 101, multipart(frame_jpeg(2), fields=MAX_PARTS - 1))
    assert ok.status_code == 200 and ok.json()["status"] == "ok", ok.text


def test_a_camera_s_second_upload_at_once_is_refused_before_its_body_and_keeps_its_order(
    svc: RunningService,
) -> None:
    first_body = multipart(frame_jpeg(10))
    first = RawPost(svc, "cam1", 10, len(first_body))
    try:
        first.send(first_body[:100])
        wait_for(lambda: uploads_now(svc) == 1)  # the first upload holds the camera's slot
        second = RawPost(svc, "cam1", 11, 50_000)  # nothing of its body is ever sent: refused from its headers
        try:
            status, headers, body = second.answer()
        finally:
            second.close()
        assert status == 429, body
        assert headers["retry-after"] == "1"
        assert headers["x-content-type-options"] == "nosniff" and "content-security-policy" in headers
        ack = json.loads(body)
        assert (ack["status"], ack["code"], ack["seq"]) == ("retry", "too_many_uploads", 11)
        first.send(first_body[100:])
        status, _, body = first.answer()
        assert status == 200 and json.loads(body)["status"] == "ok", body
    finally:
        first.close()
    # Frame 11 was answered 'retry': frame 12 may not overtake it, and its resend is processed as usual.
    blocked = post(svc, "cam1", 12, multipart(frame_jpeg(12)))
    assert (blocked.status_code, blocked.json()["code"]) == (503, "blocked"), blocked.text
    assert [post(svc, "cam1", seq, multipart(frame_jpeg(seq))).json()["status"] for seq in (11, 12)] == ["ok", "ok"]


def test_uploads_over_the_service_bound_are_refused_and_raw_frames_go_on(svc: RunningService) -> None:
    bodies = {cam: multipart(frame_jpeg(seq)) for cam, seq in (("cam1", 20), ("cam2", 20))}
    held = {cam: RawPost(svc, cam, 20, len(body)) for cam, body in bodies.items()}
    try:
        for cam, request in held.items():
            request.send(bodies[cam][:100])
        wait_for(lambda: uploads_now(svc) == 2)  # both slots of the service are taken
        refused = post(svc, "cam3", 200, multipart(frame_jpeg(200)))
        assert refused.status_code == 429 and refused.headers["retry-after"] == "1", refused.text
        assert refused.json()["code"] == "too_many_uploads"
        # The bound is on multipart bodies only: the refused frame is resent at once as a raw JPEG, and taken.
        raw = post(svc, "cam3", 200, frame_jpeg(200), content_type="image/jpeg")
        assert raw.status_code == 200 and raw.json()["status"] == "ok", raw.text
        for cam, request in held.items():
            request.send(bodies[cam][100:])
            status, _, body = request.answer()
            assert status == 200 and json.loads(body)["status"] == "ok", (cam, body)
    finally:
        for request in held.values():
            request.close()
    assert metric_value(httpx.get(f"{svc.url}/metrics").text, "qc_frames_retry_total", camera="cam3",
                        reason="too_many_uploads") == 1


def test_the_part_count_is_the_same_however_the_body_is_cut() -> None:
    rng = random.Random(5)
    for fields in range(8):
        body = multipart(b"\xff\xd8 jpeg \r\n--c \xff\xd9", fields)
        whole = (b"\r\n" + body).count(b"\r\n--b")
        for _ in range(50):
            counter = PartCounter(CONTENT_TYPE, max_parts=1000)
            at = 0
            while at < len(body):
                step = rng.randint(1, 12)
                counter.feed(body[at:at + step])
                at += step
            assert counter.delimiters == whole == fields + 2


def test_the_part_counter_refuses_the_chunk_that_passes_the_limit() -> None:
    counter = PartCounter(CONTENT_TYPE)
    counter.feed(FIELD * MAX_PARTS)  # MAX_PARTS parts: still allowed (the file part and the close may follow)
    counter.feed(b"--b--\r\n")
    with pytest.raises(ProtocolError) as refused:
        counter.feed(b"\r\n--b")
    assert refused.value.code.value == "bad_multipart"
    with pytest.raises(ProtocolError):
        PartCounter("multipart/form-data")  # no boundary


def test_upload_slots_bound_each_camera_and_the_total() -> None:
    slots = UploadSlots()
    assert slots.try_acquire("a", per_camera=1, total=2)
    assert not slots.try_acquire("a", per_camera=1, total=2)  # the camera's one slot is taken
    assert slots.try_acquire("b", per_camera=1, total=2)
    assert not slots.try_acquire("c", per_camera=1, total=2)  # the service's two are taken
    slots.release("a")
    assert slots.total == 1 and slots.try_acquire("c", per_camera=1, total=2)
    slots.release("b")
    slots.release("c")
    assert slots.total == 0
    with pytest.raises(RuntimeError):
        slots.release("c")
