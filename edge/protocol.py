"""The wire format between capture daemons and the inference service: pure functions and small values, no I/O.

**Frame message** (one WebSocket *binary* message per frame, on ``/ws/{camera_id}`` with
``Authorization: Bearer <camera token>``)::

    +-------------------+---------------------------------+------------------+
    | header length (4) | header: UTF-8 JSON object       | payload: JPEG    |
    | big-endian uint32 | {camera_id, seq, captured_at,   | (SOI ... EOI)    |
    |                   |  tags: {sku?, tote?},           |                  |
    |                   |  content_type?: "image/jpeg"}   |                  |
    +-------------------+---------------------------------+------------------+

``seq`` is the camera's frame counter (int >= 0, increasing; gaps are allowed, e.g. frames the daemon dropped);
``(camera_id, seq)`` is the frame's idempotency key. ``captured_at`` is unix seconds (float) on the camera host.

**Ack** (one WebSocket *text* message per frame message, JSON)::

    {"camera_id": "cam1", "seq": 17, "status": "ok", "reason": null, "code": null}

========== ====== ========================================================================================
status     final  meaning for the daemon
========== ====== ========================================================================================
ok         yes    processed; its results (frame row, counted items, flags, tracker checkpoint) are committed
duplicate  yes    this (camera_id, seq) was committed before; nothing was done again
dropped    yes    a valid frame the service will never process (``code`` says why, e.g. seq_out_of_order);
                  recorded in the store as dropped with its reason
error      yes    the message itself is bad (``code`` says why); resending the same bytes cannot succeed
retry      no     not accepted now (overload, shutting down); keep it spooled and resend later, in seq order
========== ====== ========================================================================================

Acks are not necessarily in send order across cameras, but one camera's frames are processed in seq order.
When a camera's frame gets ``retry``, every later frame of that camera already in flight also gets ``retry``
(the service never processes a camera's frames past a hole it asked to be filled), so a daemon simply resends
from its oldest unacked frame. ``seq`` is null in an ack only when the header could not be read.

**Single frame over HTTP**: ``POST /frames`` with ``Authorization: Bearer <token>``, headers ``X-Camera-Id``,
``X-Seq``, ``X-Captured-At``, optional ``X-Tags`` (a JSON object), and the JPEG as the raw body
(``Content-Type: image/jpeg``) or as the ``file`` part of a multipart form. The answer is the ack as JSON with
HTTP 200 (ok, duplicate), 409 (dropped), 4xx (error: see `HTTP_STATUS`), 503 (retry, with ``Retry-After``).

**Authentication**: unknown camera -> WebSocket close code 4401 / HTTP 401; missing or wrong token -> 4401/401
(missing) and 4403/403 (wrong), each with a reason naming the problem.

Every function raises `ProtocolError` with a machine ``code`` (one of `Code`) and a message naming the problem.
"""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Literal

import numpy as np

from vision.errors import QCError
from vision.jpeg import JpegError, jpeg_size
from vision.options import is_int, is_number

PROTOCOL_VERSION = 1
WS_PATH = "/ws/{camera_id}"
FRAMES_PATH = "/frames"
CONTENT_TYPE_JPEG = "image/jpeg"
HEADER_LENGTH_BYTES = 4
CAMERA_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
TAG_KEYS = ("sku", "tote")
MAX_TAG_CHARS = 128
MAX_SEQ = 2**63 - 1
# The latest capture time a header may carry (9999-12-31T23:59:59Z): later ones cannot be stored as a timestamp.
MAX_CAPTURED_AT = 253_402_300_799.0
# HTTP header values, strictly: ``int()`` and ``float()`` also take "1_000", " 7", "+7", non-ASCII digits, "1e300".
_HTTP_SEQ = re.compile(r"[0-9]{1,19}")
_HTTP_UNIX_TIME = re.compile(r"[0-9]{1,12}(\.[0-9]{1,9})?")

# WebSocket close codes (4000-4999 are the application's own).
CLOSE_UNAUTHORIZED = 4401  # unknown camera or no token
CLOSE_FORBIDDEN = 4403  # wrong token for this camera
CLOSE_GOING_AWAY = 1001  # the service is shutting down; reconnect later
CLOSE_POLICY = 1008  # a protocol violation that cannot be answered frame by frame

Status = Literal["ok", "duplicate", "dropped", "error", "retry"]
STATUSES: tuple[str, ...] = ("ok", "duplicate", "dropped", "error", "retry")
FINAL_STATUSES = frozenset({"ok", "duplicate", "dropped", "error"})


class Code(str, Enum):
    """Machine-readable reasons carried in acks, error bodies and close reasons."""

    BAD_HEADER = "bad_header"  # header not JSON / fields missing, unknown or of the wrong type
    HEADER_TOO_LARGE = "header_too_large"
    MESSAGE_TOO_LARGE = "message_too_large"
    TRUNCATED_MESSAGE = "truncated_message"  # shorter than its declared header length
    EMPTY_PAYLOAD = "empty_payload"
    NOT_JPEG = "not_jpeg"  # no JPEG start-of-image marker, or a content type other than image/jpeg
    CORRUPT_JPEG = "corrupt_jpeg"  # JPEG markers unreadable or the image does not decode
    TRUNCATED_JPEG = "truncated_jpeg"  # no end-of-image marker: the JPEG was cut short
    TOO_MANY_PIXELS = "too_many_pixels"  # width x height over the cap (decompression bomb), read before decoding
    CAMERA_MISMATCH = "camera_mismatch"  # header camera_id differs from the authenticated camera
    SEQ_OUT_OF_ORDER = "seq_out_of_order"  # older than the camera's last processed frame and never seen
    ALREADY_DROPPED = "already_dropped"  # a resend of a frame that was dropped before (status "dropped")
    NOT_BINARY = "not_binary"  # a text message where a frame was expected
    BAD_MULTIPART = "bad_multipart"  # a multipart body with too many parts, or one that cannot be split
    UNKNOWN_CAMERA = "unknown_camera"
    MISSING_TOKEN = "missing_token"
    BAD_TOKEN = "bad_token"
    OVERLOADED = "overloaded"  # the batch queue is full
    TOO_MANY_UPLOADS = "too_many_uploads"  # multipart uploads over the camera's or the service's bound at once
    BLOCKED = "blocked"  # an earlier frame of this camera got retry; resend from that one
    SHUTTING_DOWN = "shutting_down"
    NOT_READY = "not_ready"  # no model loaded
    STORE_UNAVAILABLE = "store_unavailable"  # the database could not be reached; nothing was committed
    INTERNAL = "internal"  # the service failed on a valid frame (logged)


# The HTTP status for each error code of POST /frames (anything else that is an error: 400, a 'retry': 503).
HTTP_STATUS: Mapping[str, int] = {
    Code.MESSAGE_TOO_LARGE.value: 413,
    Code.NOT_JPEG.value: 415,
    Code.TOO_MANY_PIXELS.value: 413,
    Code.UNKNOWN_CAMERA.value: 401,
    Code.MISSING_TOKEN.value: 401,
    Code.BAD_TOKEN.value: 403,
    Code.CAMERA_MISMATCH.value: 403,
    Code.SEQ_OUT_OF_ORDER.value: 409,
    Code.TOO_MANY_UPLOADS.value: 429,  # a 'retry' the client itself caused (uploads in parallel): slow down
}


class ProtocolError(QCError, ValueError):
    """A message, header, payload or ack that breaks the wire format; ``code`` is a `Code` value."""

    def __init__(self, code: Code, message: str) -> None:
        super().__init__(message)
        self.code: Code = code


@dataclass(frozen=True)
class Limits:
    """Size caps checked before any expensive work (all in bytes or pixels)."""

    max_header_bytes: int = 4096
    max_message_bytes: int = 8 * 1024 * 1024
    max_pixels: int = 4096 * 4096  # decoded width x height; checked from the JPEG's SOF marker before decoding

    def __post_init__(self) -> None:
        for name in ("max_header_bytes", "max_message_bytes", "max_pixels"):
            value = getattr(self, name)
            if not is_int(value) or value < 1:
                raise ValueError(f"Limits.{name} must be a positive int, got {value!r}")


@dataclass(frozen=True)
class FrameHeader:
    """The JSON header of a frame message."""

    camera_id: str
    seq: int
    captured_at: float
    tags: Mapping[str, str] = field(default_factory=dict)  # only the keys in TAG_KEYS
    content_type: str = CONTENT_TYPE_JPEG

    def __post_init__(self) -> None:
        check_camera_id(self.camera_id)
        if not is_int(self.seq) or not 0 <= self.seq <= MAX_SEQ:
            raise ProtocolError(Code.BAD_HEADER, f"header seq must be an int in 0..2^63-1, got {self.seq!r}")
        ts = self.captured_at
        if not is_number(ts) or not 0 <= ts <= MAX_CAPTURED_AT:
            raise ProtocolError(
                Code.BAD_HEADER, f"header captured_at must be unix seconds from 0 to {MAX_CAPTURED_AT:.0f}"
            )
        object.__setattr__(self, "captured_at", float(ts))
        object.__setattr__(self, "tags", _check_tags(self.tags))
        if self.content_type != CONTENT_TYPE_JPEG:
            raise ProtocolError(Code.NOT_JPEG, f"content_type {self.content_type!r} is not supported; send image/jpeg")

    @property
    def key(self) -> tuple[str, int]:
        """The idempotency key."""
        return (self.camera_id, self.seq)

    def to_json(self) -> dict[str, Any]:
        """The header as its JSON object."""
        return {
            "camera_id": self.camera_id,
            "seq": self.seq,
            "captured_at": self.captured_at,
            "tags": dict(self.tags),
            "content_type": self.content_type,
        }

    @classmethod
    def from_json(cls, raw: Any) -> FrameHeader:
        """Validate a decoded JSON header; unknown or missing keys are a ``bad_header``."""
        if not isinstance(raw, dict):
            raise ProtocolError(Code.BAD_HEADER, f"header must be a JSON object, got {type(raw).__name__}")
        unknown = sorted(set(raw) - {"camera_id", "seq", "captured_at", "tags", "content_type"})
        if unknown:
            raise ProtocolError(Code.BAD_HEADER, f"header has unknown key(s) {unknown}")
        missing = [k for k in ("camera_id", "seq", "captured_at") if k not in raw]
        if missing:
            raise ProtocolError(Code.BAD_HEADER, f"header lacks required key(s) {missing}")
        return cls(
            camera_id=raw["camera_id"],
            seq=raw["seq"],
            captured_at=raw["captured_at"],
            tags=raw.get("tags") or {},
            content_type=raw.get("content_type", CONTENT_TYPE_JPEG),
        )


@dataclass(frozen=True)
class FrameMessage:
    """A parsed frame message: its header and the (not yet validated) payload bytes."""

    header: FrameHeader
    payload: bytes


@dataclass(frozen=True)
class Ack:
    """The service's answer to one frame."""

    camera_id: str
    seq: int | None
    status: Status
    reason: str | None = None
    code: str | None = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ProtocolError(Code.BAD_HEADER, f"ack status must be one of {STATUSES}, got {self.status!r}")

    @property
    def final(self) -> bool:
        """True when the daemon may delete the frame from its spool."""
        return self.status in FINAL_STATUSES

    def to_json(self) -> dict[str, Any]:
        """The ack as its JSON object."""
        return {"camera_id": self.camera_id, "seq": self.seq, "status": self.status, "reason": self.reason,
                "code": self.code}


def check_camera_id(camera_id: Any) -> str:
    """``camera_id`` if it is 1-64 of ``[A-Za-z0-9_.-]`` starting with a letter or digit; else bad_header."""
    if not isinstance(camera_id, str) or not CAMERA_ID_PATTERN.fullmatch(camera_id):
        raise ProtocolError(
            Code.BAD_HEADER, f"camera_id must be 1-64 characters of [A-Za-z0-9_.-], got {camera_id!r}"
        )
    return camera_id


def _check_tags(tags: Any) -> Mapping[str, str]:
    if not isinstance(tags, Mapping):
        raise ProtocolError(Code.BAD_HEADER, f"header tags must be a JSON object, got {type(tags).__name__}")
    unknown = sorted(set(tags) - set(TAG_KEYS))
    if unknown:
        raise ProtocolError(Code.BAD_HEADER, f"header tags has unknown key(s) {unknown}; allowed: {list(TAG_KEYS)}")
    out: dict[str, str] = {}
    for key, value in tags.items():
        if value is None:
            continue
        if not isinstance(value, str) or not value or len(value) > MAX_TAG_CHARS:
            raise ProtocolError(
                Code.BAD_HEADER, f"header tag {key!r} must be a non-empty string <= {MAX_TAG_CHARS} chars, got {value!r}"
            )
        out[key] = value
    return out


# --- frame messages ---------------------------------------------------------------------------------------------


def encode_frame(header: FrameHeader, payload: bytes, limits: Limits | None = None) -> bytes:
    """One binary frame message: 4-byte big-endian header length, the JSON header, the payload."""
    limits = limits or Limits()
    head = json.dumps(header.to_json(), separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    if len(head) > limits.max_header_bytes:
        raise ProtocolError(Code.HEADER_TOO_LARGE, f"header is {len(head)} bytes, over {limits.max_header_bytes}")
    message = struct.pack(">I", len(head)) + head + bytes(payload)
    if len(message) > limits.max_message_bytes:
        raise ProtocolError(
            Code.MESSAGE_TOO_LARGE, f"message is {len(message)} bytes, over {limits.max_message_bytes}"
        )
    return message


def peek_header(message: bytes, limits: Limits | None = None) -> FrameHeader | None:
    """The header of ``message`` if it can be read, else None; for answering a message that fails later checks."""
    try:
        return parse_frame(message, limits, check_size=False).header
    except ProtocolError:
        return None


def parse_frame(message: bytes, limits: Limits | None = None, *, check_size: bool = True) -> FrameMessage:
    """Split and validate a binary frame message's envelope and header (the payload is checked by `check_jpeg`)."""
    limits = limits or Limits()
    if check_size and len(message) > limits.max_message_bytes:
        raise ProtocolError(
            Code.MESSAGE_TOO_LARGE, f"message is {len(message)} bytes, over {limits.max_message_bytes}"
        )
    if len(message) < HEADER_LENGTH_BYTES:
        raise ProtocolError(
            Code.TRUNCATED_MESSAGE, f"message is {len(message)} bytes, shorter than the 4-byte header length"
        )
    (head_len,) = struct.unpack_from(">I", message, 0)
    if head_len > limits.max_header_bytes:
        raise ProtocolError(Code.HEADER_TOO_LARGE, f"header length {head_len} is over {limits.max_header_bytes}")
    end = HEADER_LENGTH_BYTES + head_len
    if len(message) < end:
        raise ProtocolError(
            Code.TRUNCATED_MESSAGE, f"message is {len(message)} bytes, its header alone declares {head_len}"
        )
    header = parse_header_bytes(bytes(message[HEADER_LENGTH_BYTES:end]))
    return FrameMessage(header=header, payload=bytes(message[end:]))


def parse_header_bytes(head: bytes) -> FrameHeader:
    """A header from its UTF-8 JSON bytes."""
    try:
        raw = json.loads(head.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError(Code.BAD_HEADER, f"header is not UTF-8 JSON: {exc}") from None
    except RecursionError:  # nested deeper than the parser recurses: no header of ours is
        raise ProtocolError(Code.BAD_HEADER, "header is nested too deeply") from None
    return FrameHeader.from_json(raw)


def header_from_http(headers: Mapping[str, str]) -> FrameHeader:
    """A header from the ``X-Camera-Id``, ``X-Seq``, ``X-Captured-At``, ``X-Tags`` HTTP headers of POST /frames.

    ``headers`` must be case-insensitive or lower-case keyed (Starlette's ``request.headers`` is).
    """
    missing = [h for h in ("x-camera-id", "x-seq", "x-captured-at") if not headers.get(h)]
    if missing:
        raise ProtocolError(Code.BAD_HEADER, f"missing HTTP header(s) {missing}")
    if not _HTTP_SEQ.fullmatch(headers["x-seq"]):
        raise ProtocolError(Code.BAD_HEADER, "X-Seq must be decimal digits only (an integer in 0..2^63-1)")
    seq = int(headers["x-seq"])
    if not _HTTP_UNIX_TIME.fullmatch(headers["x-captured-at"]):
        raise ProtocolError(
            Code.BAD_HEADER, "X-Captured-At must be unix seconds as a plain decimal (e.g. 1800000000.25)"
        )
    captured_at = float(headers["x-captured-at"])
    tags: Any = {}
    if headers.get("x-tags"):
        try:
            tags = json.loads(headers["x-tags"])
        except json.JSONDecodeError as exc:
            raise ProtocolError(Code.BAD_HEADER, f"X-Tags is not a JSON object: {exc}") from None
        except RecursionError:
            raise ProtocolError(Code.BAD_HEADER, "X-Tags is nested too deeply") from None
    return FrameHeader(camera_id=headers["x-camera-id"], seq=seq, captured_at=captured_at, tags=tags)


# --- JPEG payloads ----------------------------------------------------------------------------------------------

_JPEG_CODES = {"empty": Code.EMPTY_PAYLOAD, "not_jpeg": Code.NOT_JPEG, "truncated": Code.TRUNCATED_JPEG,
               "corrupt": Code.CORRUPT_JPEG}


def jpeg_dimensions(payload: bytes) -> tuple[int, int]:
    """(width, height) read from the JPEG's start-of-frame marker, without decoding any pixel data
    (`vision.jpeg.jpeg_size`); a malformed header raises ProtocolError with the code of its problem."""
    try:
        return jpeg_size(payload)
    except JpegError as exc:
        raise ProtocolError(_JPEG_CODES[exc.problem], str(exc)) from None


def check_jpeg(payload: bytes, limits: Limits | None = None) -> tuple[int, int]:
    """Cheap checks before decoding: a JPEG, complete (ends with EOI), within the pixel cap; returns (w, h)."""
    limits = limits or Limits()
    width, height = jpeg_dimensions(payload)
    if width * height > limits.max_pixels:
        raise ProtocolError(
            Code.TOO_MANY_PIXELS,
            f"JPEG is {width}x{height} = {width * height} pixels, over the cap of {limits.max_pixels}",
        )
    if not payload.endswith(b"\xff\xd9"):
        raise ProtocolError(Code.TRUNCATED_JPEG, f"JPEG of {len(payload)} bytes has no end-of-image marker (cut short)")
    return width, height


def decode_jpeg(payload: bytes, limits: Limits | None = None) -> np.ndarray:
    """The BGR uint8 image of a JPEG payload, after `check_jpeg`; CPU-bound, call it off the event loop."""
    import cv2  # opencv is heavy to import; only the service decodes

    width, height = check_jpeg(payload, limits)
    image = cv2.imdecode(np.frombuffer(payload, np.uint8), cv2.IMREAD_COLOR)
    if image is None or image.ndim != 3 or image.shape[2] != 3:
        raise ProtocolError(Code.CORRUPT_JPEG, f"JPEG of {len(payload)} bytes ({width}x{height}) does not decode")
    if image.shape[:2] != (height, width):
        raise ProtocolError(
            Code.CORRUPT_JPEG, f"JPEG decoded to {image.shape[1]}x{image.shape[0]}, its header says {width}x{height}"
        )
    return image


# --- acks -------------------------------------------------------------------------------------------------------


def encode_ack(ack: Ack) -> str:
    """The ack as a JSON text message."""
    return json.dumps(ack.to_json(), separators=(",", ":"))


def parse_ack(text: str | bytes) -> Ack:
    """An ack from its JSON text; raises ProtocolError(bad_header) for anything else."""
    try:
        raw = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError(Code.BAD_HEADER, f"ack is not JSON: {exc}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("camera_id"), str) or "status" not in raw:
        raise ProtocolError(Code.BAD_HEADER, f"ack must be an object with camera_id and status, got {raw!r}")
    seq = raw.get("seq")
    if seq is not None and not is_int(seq):
        raise ProtocolError(Code.BAD_HEADER, f"ack seq must be an int or null, got {seq!r}")
    return Ack(camera_id=raw["camera_id"], seq=seq, status=raw["status"], reason=raw.get("reason"),
               code=raw.get("code"))


def error_ack(camera_id: str, seq: int | None, exc: ProtocolError) -> Ack:
    """The ``error`` ack for a message that failed a protocol check."""
    return Ack(camera_id=camera_id, seq=seq, status="error", reason=str(exc), code=exc.code.value)


def http_status(ack: Ack) -> int:
    """The HTTP status POST /frames answers ``ack`` with."""
    if ack.status in ("ok", "duplicate"):
        return 200
    if ack.status == "retry":
        return HTTP_STATUS.get(ack.code or "", 503)
    if ack.status == "dropped":
        return 409
    return HTTP_STATUS.get(ack.code or "", 400)
