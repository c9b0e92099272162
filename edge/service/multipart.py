"""The ``file`` part of a ``multipart/form-data`` frame upload, split with hard limits before any real work.

A camera sends one part (``file``) and maybe a few small fields; a body of thousands of parts is hostile, so the
parts are counted while the body streams in (`PartCounter`: each chunk is counted as it arrives, so such a body is
refused right after its first chunk over the limit, neither buffered nor scanned whole) and counted again before
anything is parsed (one ``bytes.count`` pass, C speed).
Parts are then split by their delimiter without a general MIME parser: no nesting is ever followed (a part whose
own type is multipart is just bytes), each part's header block is bounded, and the whole split is linear in the body.
"""

from __future__ import annotations

import base64
import binascii
from email.message import Message
from email.parser import HeaderParser
from email.policy import HTTP as HTTP_POLICY

from edge.protocol import Code, ProtocolError

MAX_PARTS = 4  # the file and a few small fields
MAX_PART_HEADER_BYTES = 2048
_MAX_BOUNDARY = 70  # RFC 2046


def boundary_of(content_type: str) -> bytes:
    """The boundary parameter of a ``multipart/form-data`` Content-Type; `ProtocolError` when missing or invalid."""
    message = Message()
    message["content-type"] = content_type
    boundary = message.get_param("boundary")
    if not isinstance(boundary, str) or not 1 <= len(boundary) <= _MAX_BOUNDARY or not boundary.isascii():
        raise ProtocolError(Code.BAD_MULTIPART, "multipart body needs a boundary of 1-70 ASCII characters")
    return boundary.encode("ascii")


class PartCounter:
    """Counts the delimiters of a multipart body chunk by chunk as it streams in; `feed` raises `ProtocolError`
    (``bad_multipart``) as soon as they pass ``max_parts`` parts (and the closing delimiter)."""

    def __init__(self, content_type: str, max_parts: int = MAX_PARTS) -> None:
        """A counter for a body of ``content_type`` (`ProtocolError` when its boundary is missing or invalid)."""
        self.delimiter = b"\r\n--" + boundary_of(content_type)
        self.max_parts = max_parts
        self.delimiters = 0
        # The first delimiter may open the body without a preceding line break; what stays of one chunk for the
        # next is one byte short of a delimiter, so one split across two chunks is counted once, when it completes.
        self._tail = b"\r\n"

    def feed(self, chunk: bytes) -> None:
        """Count the delimiters ``chunk`` completes; `ProtocolError` once there are too many."""
        data = self._tail + chunk
        self.delimiters += data.count(self.delimiter)
        self._tail = data[len(data) - len(self.delimiter) + 1:] if len(data) >= len(self.delimiter) else data
        if self.delimiters > self.max_parts + 1:
            raise ProtocolError(Code.BAD_MULTIPART, f"multipart body has more than {self.max_parts} parts")


def file_part(content_type: str, body: bytes, max_parts: int = MAX_PARTS) -> bytes:
    """The payload of the part named ``file``; `ProtocolError` (``bad_multipart``) for more than ``max_parts``
    parts, a part header over `MAX_PART_HEADER_BYTES`, or a body that is not delimited as its boundary says;
    ``empty_payload`` when there is no ``file`` part."""
    delimiter = b"\r\n--" + boundary_of(content_type)
    data = b"\r\n" + body  # the first delimiter may open the body without a preceding line break
    # Delimiters = parts + the closing one; counted before any splitting, so a flood of parts costs one scan.
    if data.count(delimiter) > max_parts + 1:
        raise ProtocolError(Code.BAD_MULTIPART, f"multipart body has more than {max_parts} parts")
    chunks = data.split(delimiter)
    closed = False
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            closed = True
            break
        name, payload = _part(chunk)
        if name == "file":
            return payload
    if len(chunks) < 2 or not closed:
        raise ProtocolError(Code.BAD_MULTIPART, "multipart body could not be split (boundary missing or unclosed)")
    raise ProtocolError(Code.EMPTY_PAYLOAD, "multipart body has no 'file' part")


def _part(chunk: bytes) -> tuple[str | None, bytes]:
    """(form field name, decoded payload) of one part: the rest of the delimiter line, headers, blank line, body."""
    _, newline, rest = chunk.partition(b"\r\n")  # after the delimiter: optional padding, then a line break
    if newline and rest.startswith(b"\r\n"):  # a part with no headers at all
        return None, rest[2:]
    head, blank, payload = rest.partition(b"\r\n\r\n")
    if not newline or not blank:
        raise ProtocolError(Code.BAD_MULTIPART, "a multipart part has no header block")
    if len(head) > MAX_PART_HEADER_BYTES:
        raise ProtocolError(Code.BAD_MULTIPART, f"a multipart part header is over {MAX_PART_HEADER_BYTES} bytes")
    headers = HeaderParser(policy=HTTP_POLICY).parsestr(head.decode("latin-1") + "\r\n\r\n")
    name = headers.get_param("name", header="content-disposition")
    if str(headers.get("content-transfer-encoding", "")).strip().lower() == "base64":
        try:
            payload = base64.b64decode(payload, validate=False)
        except (binascii.Error, ValueError):
            raise ProtocolError(Code.BAD_MULTIPART, "a base64 multipart part does not decode") from None
    return (name if isinstance(name, str) else None), payload
