"""The wire format (edge.protocol): round trips, and every malformed message answered with its code."""

from __future__ import annotations

import json
import struct
from typing import Any

import cv2
import numpy as np
import pytest

from edge.protocol import (
    Ack,
    Code,
    FrameHeader,
    Limits,
    ProtocolError,
    check_jpeg,
    decode_jpeg,
    encode_ack,
    encode_frame,
    header_from_http,
    http_status,
    jpeg_dimensions,
    parse_ack,
    parse_frame,
    peek_header,
)


def jpeg(w: int = 64, h: int = 48, **params: int) -> bytes:
    flags = [v for kv in params.items() for v in (getattr(cv2, kv[0]), kv[1])]
    ok, buf = cv2.imencode(".jpg", np.full((h, w, 3), 128, np.uint8), flags)
    assert ok
    return buf.tobytes()


def envelope(header: Any, payload: bytes = b"") -> bytes:
    head = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack(">I", len(head)) + head + payload


GOOD = {"camera_id": "cam-1", "seq": 7, "captured_at": 1.5}


def test_frame_round_trip() -> None:
    header = FrameHeader("cam-1", 7, 1_800_000_000.25, {"sku": "4011", "tote": "T-9"})
    payload = jpeg()
    msg = parse_frame(encode_frame(header, payload))
    assert msg.header == header and msg.payload == payload
    assert msg.header.key == ("cam-1", 7)
    assert decode_jpeg(msg.payload).shape == (48, 64, 3)


@pytest.mark.parametrize(
    ("message", "code"),
    [
        (b"", Code.TRUNCATED_MESSAGE),
        (b"\x00\x00\x00", Code.TRUNCATED_MESSAGE),
        (b"\x00\x00\x00\x10{}", Code.TRUNCATED_MESSAGE),
        (b"\x00\x01\x00\x00" + b" " * 10, Code.HEADER_TOO_LARGE),
        (envelope(b"\xff\xfe"), Code.BAD_HEADER),
        (envelope(b"[1, 2]"), Code.BAD_HEADER),
        (envelope({"camera_id": "cam-1", "seq": 7}), Code.BAD_HEADER),
        (envelope({**GOOD, "extra": 1}), Code.BAD_HEADER),
        (envelope({**GOOD, "seq": "7"}), Code.BAD_HEADER),
        (envelope({**GOOD, "seq": True}), Code.BAD_HEADER),
        (envelope({**GOOD, "seq": 2**63}), Code.BAD_HEADER),
        (envelope({**GOOD, "captured_at": float("nan")}), Code.BAD_HEADER),
        (envelope({**GOOD, "captured_at": -1}), Code.BAD_HEADER),
        (envelope({**GOOD, "camera_id": "../etc"}), Code.BAD_HEADER),
        (envelope({**GOOD, "camera_id": ""}), Code.BAD_HEADER),
        (envelope({**GOOD, "tags": {"colour": "red"}}), Code.BAD_HEADER),
        (envelope({**GOOD, "tags": {"sku": 4011}}), Code.BAD_HEADER),
        (envelope({**GOOD, "tags": ["sku"]}), Code.BAD_HEADER),
        (envelope({**GOOD, "content_type": "image/png"}), Code.NOT_JPEG),
        (envelope(GOOD, b"\xff" * 2000), Code.MESSAGE_TOO_LARGE),
    ],
)
def test_malformed_messages(message: bytes, code: Code) -> None:
    limits = Limits(max_header_bytes=1024, max_message_bytes=1500, max_pixels=10_000)
    with pytest.raises(ProtocolError) as exc:
        parse_frame(message, limits)
    assert exc.value.code == code
    assert str(exc.value)


def test_an_oversized_message_still_shows_its_header() -> None:
    msg = envelope(GOOD, b"\xff" * 2000)
    assert peek_header(msg, Limits(max_message_bytes=1500)) == FrameHeader("cam-1", 7, 1.5)
    assert peek_header(b"\x00\x00\x00\x05{bad}", Limits()) is None


@pytest.mark.parametrize(
    ("payload", "limits", "expected"),
    [
        (jpeg(64, 48), Limits(), (64, 48)),
        (jpeg(64, 48, IMWRITE_JPEG_PROGRESSIVE=1), Limits(), (64, 48)),  # SOF2
        (jpeg(100, 100), Limits(max_pixels=9_999), Code.TOO_MANY_PIXELS),
        (jpeg(100, 100), Limits(max_pixels=10_000), (100, 100)),
        (b"", Limits(), Code.EMPTY_PAYLOAD),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 50, Limits(), Code.NOT_JPEG),
        (jpeg()[:20], Limits(), Code.TRUNCATED_JPEG),
        (jpeg()[:-2], Limits(), Code.TRUNCATED_JPEG),
        (b"\xff\xd8\xff\xe0\x00\x10" + b"\x00" * 14 + b"\x12\x34\x56\x78", Limits(), Code.CORRUPT_JPEG),
        (b"\xff\xd8\xff\xda\x00\x08" + b"\x00" * 20, Limits(), Code.CORRUPT_JPEG),  # image data before a frame header
    ],
)
def test_check_jpeg(payload: bytes, limits: Limits, expected: tuple[int, int] | Code) -> None:
    if isinstance(expected, Code):
        with pytest.raises(ProtocolError) as exc:
            check_jpeg(payload, limits)
        assert exc.value.code == expected
    else:
        assert check_jpeg(payload, limits) == expected


def test_the_pixel_cap_is_read_from_the_header_not_the_pixels() -> None:
    # A 60000 x 60000 JPEG header (3.6 Gpx) over a tiny body: refused without decoding anything.
    payload = bytearray(jpeg(8, 8))
    sof = payload.index(b"\xff\xc0")
    payload[sof + 5 : sof + 9] = struct.pack(">HH", 60000, 60000)
    assert jpeg_dimensions(bytes(payload)) == (60000, 60000)
    with pytest.raises(ProtocolError) as exc:
        decode_jpeg(bytes(payload))
    assert exc.value.code == Code.TOO_MANY_PIXELS


def test_decode_refuses_undecodable_data() -> None:
    payload = bytearray(jpeg())
    k = payload.index(b"\xff\xc4")
    payload[k + 4 : k + 30] = b"\xff" * 26
    with pytest.raises(ProtocolError) as exc:
        decode_jpeg(bytes(payload))
    assert exc.value.code == Code.CORRUPT_JPEG


@pytest.mark.parametrize(
    ("ack", "status"),
    [
        (Ack("cam-1", 7, "ok"), 200),
        (Ack("cam-1", 7, "duplicate", "seen"), 200),
        (Ack("cam-1", 7, "retry", "full", "overloaded"), 503),
        (Ack("cam-1", 7, "dropped", "late", "seq_out_of_order"), 409),
        (Ack("cam-1", None, "error", "bad", "bad_header"), 400),
        (Ack("cam-1", 7, "error", "big", "too_many_pixels"), 413),
        (Ack("cam-1", 7, "error", "png", "not_jpeg"), 415),
    ],
)
def test_ack_round_trip_and_http_status(ack: Ack, status: int) -> None:
    assert parse_ack(encode_ack(ack)) == ack
    assert http_status(ack) == status
    assert ack.final == (ack.status != "retry")


@pytest.mark.parametrize(
    "text", ["not json", "[]", '{"seq": 1, "status": "ok"}', '{"camera_id": "c", "seq": "1", "status": "ok"}',
             '{"camera_id": "c", "seq": 1, "status": "maybe"}']
)
def test_malformed_acks(text: str) -> None:
    with pytest.raises(ProtocolError):
        parse_ack(text)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"x-camera-id": "c1", "x-seq": "3", "x-captured-at": "2.5"}, FrameHeader("c1", 3, 2.5)),
        ({"x-camera-id": "c1", "x-seq": "3", "x-captured-at": "2.5", "x-tags": '{"sku": "A"}'},
         FrameHeader("c1", 3, 2.5, {"sku": "A"})),
        ({"x-camera-id": "c1", "x-captured-at": "2.5"}, Code.BAD_HEADER),
        ({"x-camera-id": "c1", "x-seq": "3.5", "x-captured-at": "2.5"}, Code.BAD_HEADER),
        ({"x-camera-id": "c1", "x-seq": "3", "x-captured-at": "noon"}, Code.BAD_HEADER),
        ({"x-camera-id": "c1", "x-seq": "3", "x-captured-at": "2.5", "x-tags": "sku=A"}, Code.BAD_HEADER),
    ],
)
def test_header_from_http(headers: dict[str, str], expected: FrameHeader | Code) -> None:
    if isinstance(expected, Code):
        with pytest.raises(ProtocolError) as exc:
            header_from_http(headers)
        assert exc.value.code == expected
    else:
        assert header_from_http(headers) == expected
