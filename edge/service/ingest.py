"""Frame ingest: the WebSocket stream (one connection per camera) and ``POST /frames`` (one frame per request).

Both parse and check a frame with `edge.protocol`, then hand it to the `Pipeline`, which answers with an ack.
A bad frame gets an ``error`` ack and the connection stays open; only authentication failures close it.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable

from fastapi import APIRouter, Request, WebSocket
from fastapi.responses import JSONResponse
from starlette.websockets import WebSocketDisconnect, WebSocketState

from edge.config import CameraSection
from edge.protocol import (
    CONTENT_TYPE_JPEG,
    FRAMES_PATH,
    WS_PATH,
    Ack,
    Code,
    FrameHeader,
    Limits,
    ProtocolError,
    check_jpeg,
    encode_ack,
    error_ack,
    header_from_http,
    http_status,
    parse_frame,
    peek_header,
)
from edge.service.auth import AuthError, authenticate
from edge.service.metrics import Metrics
from edge.service.multipart import PartCounter, file_part
from edge.service.pipeline import Pipeline
from edge.service.runtime import ConfigDep, MetricsDep, PipelineDep, UploadsDep

log = logging.getLogger(__name__)

router = APIRouter(tags=["ingest"])

# Frames one connection may have awaiting acks; a client that pipelines more is answered 'retry'.
MAX_PENDING_PER_CONNECTION = 256
_CONTENT_LENGTH = re.compile(r"[0-9]{1,20}")
# Multipart bodies at least this large are split on a worker thread rather than on the event loop.
THREAD_SPLIT_BYTES = 256 * 1024


async def check_and_submit(
    pipeline: Pipeline, metrics: Metrics, limits: Limits, camera: CameraSection, header: FrameHeader | None,
    payload: bytes, received_at: float, error: ProtocolError | None,
) -> Ack:
    """The ack for one frame message of an authenticated ``camera``, whatever is wrong with it.

    Messages whose header cannot be read, or that speak for another camera, are answered at once and recorded
    nowhere (they have no key of this camera); every other frame, bad payload included, goes through the pipeline
    so it is finished in its camera's order.
    """
    metrics.frames_received.labels(camera.id).inc()
    if error is not None:
        # From here the error is a value, the frame's outcome. Its traceback would hold the frames that raised and
        # caught it (the request and the body read so far among their locals) in a reference cycle that only the
        # collector frees: under a flood of refused bodies, piles of garbage and long collections.
        error.__traceback__ = None
    if header is None:
        err = error or ProtocolError(Code.BAD_HEADER, "the frame header cannot be read")
        metrics.frames_dropped.labels(camera.id, err.code.value).inc()
        return error_ack(camera.id, None, err)
    if header.camera_id != camera.id:
        err = ProtocolError(
            Code.CAMERA_MISMATCH, f"frame header says camera {header.camera_id!r}, the connection is {camera.id!r}"
        )
        metrics.frames_dropped.labels(camera.id, err.code.value).inc()
        return error_ack(camera.id, header.seq, err)
    if error is None:
        try:
            check_jpeg(payload, limits)  # cheap: markers only; the decode happens in the worker
        except ProtocolError as exc:
            error = exc.with_traceback(None)
    return await pipeline.submit(header, payload, received_at, error)


def split_message(data: bytes, limits: Limits) -> tuple[FrameHeader | None, bytes, ProtocolError | None]:
    """(header, payload, error) of a binary frame message; the header is kept when only the size is wrong."""
    try:
        msg = parse_frame(data, limits)
    except ProtocolError as exc:
        header = peek_header(data, limits) if exc.code == Code.MESSAGE_TOO_LARGE else None
        return header, b"", exc
    return msg.header, msg.payload, None


# --- WebSocket ----------------------------------------------------------------------------------------------------


@router.websocket(WS_PATH)
async def stream(websocket: WebSocket, camera_id: str, config: ConfigDep, pipeline: PipelineDep,
                 metrics: MetricsDep) -> None:
    """One camera's frame stream: binary frame messages in, one JSON text ack per message out."""
    # Accept first: a close before the handshake completes cannot carry our close code and reason.
    await websocket.accept()
    try:
        camera = authenticate(config, camera_id, websocket.headers.get("authorization"))
    except AuthError as exc:
        log.warning("refused stream for camera %r: %s", camera_id, exc)
        await websocket.close(exc.close_code, f"{exc.code.value}: {exc}"[:120])
        return
    limits = config.limits.protocol()
    send_lock = asyncio.Lock()
    pending: set[asyncio.Task[None]] = set()

    async def send(ack: Ack) -> None:
        async with send_lock:
            if websocket.application_state == WebSocketState.CONNECTED:
                await websocket.send_text(encode_ack(ack))

    async def handle(data: bytes, received_at: float) -> None:
        header: FrameHeader | None = None
        try:  # everything about the frame, parsing included: a task that fails must still answer its frame
            header, payload, error = split_message(data, limits)
            ack = await check_and_submit(pipeline, metrics, limits, camera, header, payload, received_at, error)
        except Exception as exc:  # a bug must not leave the frame unanswered: the daemon resends it later
            log.exception("frame of camera %s failed in admission", camera.id)
            seq = header.seq if header is not None and header.camera_id == camera.id else None
            ack = Ack(camera.id, seq, "retry", f"the service failed on this frame: {type(exc).__name__}",
                      Code.INTERNAL.value)
        try:
            await send(ack)
        except (WebSocketDisconnect, RuntimeError, OSError):
            pass  # the client went away; it resends what it has no ack for

    metrics.connections.labels(camera.id).inc()
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                break
            data = message.get("bytes")
            if data is None:
                metrics.frames_received.labels(camera.id).inc()
                err = ProtocolError(Code.NOT_BINARY, "frames are binary messages; text messages are not accepted")
                metrics.frames_dropped.labels(camera.id, err.code.value).inc()
                await send(error_ack(camera.id, None, err))
                continue
            if len(pending) >= MAX_PENDING_PER_CONNECTION:
                header = peek_header(data, limits)
                seq = header.seq if header is not None and header.camera_id == camera.id else None
                metrics.frames_received.labels(camera.id).inc()
                metrics.frames_retry.labels(camera.id, Code.OVERLOADED.value).inc()
                await send(Ack(camera.id, seq, "retry", "too many frames awaiting acks on this connection",
                               Code.OVERLOADED.value))
                continue
            task = asyncio.create_task(handle(data, time.time()))
            pending.add(task)
            task.add_done_callback(pending.discard)
    except WebSocketDisconnect:
        pass
    finally:
        metrics.connections.labels(camera.id).dec()
        # Frames already admitted finish regardless (their outcome is shielded); only the ack sends are dropped.
        for task in list(pending):
            task.cancel()


# --- POST /frames -------------------------------------------------------------------------------------------------


def ack_response(ack: Ack) -> JSONResponse:
    """An ack as the JSON answer of POST /frames, with its HTTP status (and Retry-After for 'retry')."""
    headers = {"Retry-After": "1"} if ack.status == "retry" else None
    return JSONResponse(ack.to_json(), status_code=http_status(ack), headers=headers)


async def read_body(request: Request, limit: int, check: Callable[[bytes], None] | None = None) -> bytes:
    """The request body, refusing (message_too_large) as soon as it passes ``limit`` bytes; ``check`` sees each
    chunk as it arrives and may refuse the body (`ProtocolError`) before the rest is read."""
    declared = request.headers.get("content-length")
    if declared is not None and _CONTENT_LENGTH.fullmatch(declared) and int(declared) > limit:
        raise ProtocolError(Code.MESSAGE_TOO_LARGE, f"body of {declared} bytes is over {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ProtocolError(Code.MESSAGE_TOO_LARGE, f"body is over {limit} bytes")
        if check is not None:
            check(chunk)
        chunks.append(chunk)
    return b"".join(chunks)


def is_multipart(content_type: str) -> bool:
    """Whether a body of ``content_type`` is split as ``multipart/form-data`` (`jpeg_from_body`)."""
    return content_type.split(";")[0].strip().lower() == "multipart/form-data"


def jpeg_from_body(content_type: str, body: bytes) -> bytes:
    """The JPEG of a raw ``image/jpeg`` body or of the ``file`` part of a ``multipart/form-data`` body (at most a
    few parts: `edge.service.multipart`)."""
    kind = content_type.split(";")[0].strip().lower()
    if kind in (CONTENT_TYPE_JPEG, "application/octet-stream", ""):
        return body
    if kind != "multipart/form-data":
        raise ProtocolError(Code.NOT_JPEG, f"Content-Type {kind!r}: send image/jpeg or multipart/form-data")
    return file_part(content_type, body)


async def payload_of(content_type: str, body: bytes) -> bytes:
    """`jpeg_from_body`, on a worker thread for a large multipart body so that the event loop (every camera's
    stream) never waits on one upload."""
    if len(body) >= THREAD_SPLIT_BYTES and content_type.lower().lstrip().startswith("multipart/"):
        return await asyncio.to_thread(jpeg_from_body, content_type, body)
    return jpeg_from_body(content_type, body)


async def multipart_payload(request: Request, content_type: str, limit: int) -> bytes:
    """The ``file`` part of a multipart body, its parts counted as it streams in: a body of too many parts is
    refused (``bad_multipart``) at its first chunk over the limit; uvicorn discards the rest of it unread."""
    counter = PartCounter(content_type)
    body = await read_body(request, limit, counter.feed)
    return await payload_of(content_type, body)


@router.post(FRAMES_PATH)
async def post_frame(request: Request, config: ConfigDep, pipeline: PipelineDep, metrics: MetricsDep,
                     uploads: UploadsDep) -> JSONResponse:
    """One frame: JPEG body (raw or multipart ``file``), X-Camera-Id / X-Seq / X-Captured-At / X-Tags headers.

    A multipart body takes one of the bounded upload slots (`edge.service.upload_slots`) while it is read and
    split; when none is free the frame is answered 'retry' (429, ``too_many_uploads``) before its body is read."""
    received_at = time.time()
    camera_id = request.headers.get("x-camera-id")
    try:
        camera = authenticate(config, camera_id, request.headers.get("authorization"))
    except AuthError as exc:
        ack = Ack(camera_id or "", None, "error", str(exc), exc.code.value)
        return JSONResponse(ack.to_json(), status_code=exc.http_status)
    limits = config.limits.protocol()
    header: FrameHeader | None = None
    payload = b""
    error: ProtocolError | None = None
    content_type = request.headers.get("content-type", "")
    try:
        header = header_from_http(request.headers)
        if not is_multipart(content_type):
            payload = await payload_of(content_type, await read_body(request, limits.max_message_bytes))
        elif uploads.try_acquire(camera.id, config.limits.max_multipart_uploads_per_camera,
                                 config.limits.max_multipart_uploads):
            metrics.multipart_uploads.set(uploads.total)
            try:
                payload = await multipart_payload(request, content_type, limits.max_message_bytes)
            finally:
                uploads.release(camera.id)
                metrics.multipart_uploads.set(uploads.total)
        else:
            metrics.frames_received.labels(camera.id).inc()
            return ack_response(pipeline.refuse(
                header, Code.TOO_MANY_UPLOADS,
                f"too many multipart uploads at once (camera {camera.id}: at most "
                f"{config.limits.max_multipart_uploads_per_camera}, the service: at most "
                f"{config.limits.max_multipart_uploads}); resend later"))
    except ProtocolError as exc:
        error = exc
    ack = await check_and_submit(pipeline, metrics, limits, camera, header, payload, received_at, error)
    return ack_response(ack)
