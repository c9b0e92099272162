"""JPEG headers, and decoding a JPEG at the size the model needs.

libjpeg decodes a JPEG at 1/2, 1/4 or 1/8 of its size by running a smaller inverse DCT on each 8 x 8 block
(OpenCV's ``IMREAD_REDUCED_COLOR_k``). A 640 x 360 camera frame that a 320 model shrinks to 320 x 180 anyway decodes
straight to 320 x 180 in about a third of the time of a full decode plus resize (`qc bench`), and the letterbox
then has nothing left to resize. The scaled decode is an average over each k x k block, so the pixels differ
slightly from a full decode plus ``INTER_LINEAR`` (mean |difference| 0.24 of 255 on rendered conveyor frames);
`qc eval --decode scaled` measures what that does to mAP.

The scale is used only where it is exact and loses nothing the model would see: k divides both sides (so boxes map
back to full-size pixels by k exactly), and the image at 1/k is still at least as large as the letterboxed image
(the letterbox only ever shrinks it further, never enlarges it).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Literal

import numpy as np

from vision.errors import InputError

JpegProblem = Literal["empty", "not_jpeg", "truncated", "corrupt"]

_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # DHT, JPG, DAC share the range
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM, RSTn: no length field
# Real JPEGs have a dozen segments before the frame header; a cap keeps a crafted one from costing a long scan.
MAX_SEGMENTS_BEFORE_SOF = 256


class JpegError(InputError):
    """A payload that is not a well-formed JPEG header; ``problem`` says which way (the service maps it to a code)."""

    def __init__(self, problem: JpegProblem, message: str) -> None:
        super().__init__(message)
        self.problem: JpegProblem = problem


def is_jpeg(data: bytes | bytearray | memoryview) -> bool:
    """Whether the bytes start like a JPEG (SOI marker and the next marker's 0xFF)."""
    return bytes(data[:3]) == b"\xff\xd8\xff"


def jpeg_size(payload: bytes | bytearray | memoryview) -> tuple[int, int]:
    """(width, height) read from the JPEG's start-of-frame marker, without decoding any pixel data.

    Raises `JpegError` naming the problem: empty, not a JPEG, cut short before its frame header, or corrupt.
    """
    if len(payload) == 0:
        raise JpegError("empty", "the frame payload is empty")
    if not is_jpeg(payload):
        raise JpegError("not_jpeg", f"payload is not a JPEG (starts with {bytes(payload[:4]).hex()}, not ffd8ff)")
    pos, n, segments = 2, len(payload), 0
    while pos + 4 <= n:
        segments += 1
        if segments > MAX_SEGMENTS_BEFORE_SOF:
            raise JpegError("corrupt", f"JPEG has over {MAX_SEGMENTS_BEFORE_SOF} segments before its frame header")
        if payload[pos] != 0xFF:
            raise JpegError("corrupt", f"JPEG marker expected at byte {pos}, found {payload[pos]:#04x}")
        marker = payload[pos + 1]
        if marker == 0xFF:  # fill byte before a marker
            pos += 1
            continue
        if marker in _STANDALONE:
            pos += 2
            continue
        if marker in (0xD9, 0xDA):  # EOI or start of scan before any frame header
            break
        (length,) = struct.unpack_from(">H", payload, pos + 2)
        if length < 2:
            raise JpegError("corrupt", f"JPEG segment {marker:#04x} at byte {pos} has length {length}")
        if marker in _SOF_MARKERS:
            if pos + 9 > n:
                break
            height, width = struct.unpack_from(">HH", payload, pos + 5)
            if width == 0 or height == 0:
                raise JpegError("corrupt", f"JPEG frame header declares {width}x{height} pixels")
            return width, height
        pos += 2 + length
    if pos + 4 > n:
        raise JpegError("truncated", f"JPEG ends at byte {n} before its frame header")
    raise JpegError("corrupt", "JPEG has no start-of-frame marker before its image data")


def dct_scale(original: tuple[int, int], fit: tuple[int, int], *, scaleup: bool = True) -> int:
    """The largest k of 8, 4, 2 at which a (h, w) ``original`` decodes exactly (k divides both sides) and still
    holds the image letterboxed into ``fit`` (h, w) without enlarging it; 1 when none does."""
    from vision.letterbox import fitted_size  # imports OpenCV; the service's protocol reads headers without it

    h, w = original
    _, (new_h, new_w) = fitted_size(original, fit, scaleup)
    for k in (8, 4, 2):
        if h % k == 0 and w % k == 0 and h // k >= new_h and w // k >= new_w:
            return k
    return 1


@dataclass(frozen=True)
class JpegHeader:
    """What a JPEG's header says before any pixel is decoded: its full (h, w), and the DCT scale it decodes at."""

    original: tuple[int, int]
    scale: int


def read_jpeg_header(
    data: bytes | bytearray | memoryview, fit: tuple[int, int] | None, *, index: int = 0
) -> JpegHeader | None:
    """The header of encoded image bytes, with the `dct_scale` for ``fit`` (1 when ``fit`` is None); None when the
    bytes are not a JPEG (PNG ...). InputError naming image ``index`` when its header is malformed."""
    if not is_jpeg(data):
        return None
    try:
        width, height = jpeg_size(data)
    except JpegError as exc:
        raise InputError(f"image {index}: {exc}") from None
    return JpegHeader((height, width), 1 if fit is None else dct_scale((height, width), fit))


@dataclass(frozen=True)
class DecodedImage:
    """A decoded BGR uint8 image, possibly at 1/``scale`` of its JPEG's size (`dct_scale`)."""

    pixels: np.ndarray
    scale: int = 1

    @property
    def original(self) -> tuple[int, int]:
        """The (h, w) of the full-size image these pixels stand for: boxes in it are pixels' boxes times scale."""
        return self.pixels.shape[0] * self.scale, self.pixels.shape[1] * self.scale


def decode_for_fit(
    data: bytes | bytearray | memoryview,
    fit: tuple[int, int] | None,
    *,
    max_pixels: int | None = None,
    index: int = 0,
) -> DecodedImage:
    """Decode encoded image bytes for a model that letterboxes into ``fit`` (h, w): a JPEG at its `dct_scale`,
    anything else (PNG ...) in full; ``fit`` None decodes in full. ``max_pixels``: refuse a JPEG whose header
    declares more, before any pixel is decoded. Raises InputError naming image ``index`` when the bytes do not
    decode."""
    import cv2  # heavy; the service's protocol module reads JPEG headers without it

    if len(data) == 0:
        raise InputError(f"image {index}: the encoded image is empty (0 bytes)")
    header = read_jpeg_header(data, fit, index=index)
    if header is not None and max_pixels is not None:
        height, width = header.original
        if width * height > max_pixels:
            raise InputError(
                f"image {index}: JPEG is {width}x{height} = {width * height} pixels, over the cap of {max_pixels}"
            )
    scale = 1 if header is None else header.scale
    flag = {8: cv2.IMREAD_REDUCED_COLOR_8, 4: cv2.IMREAD_REDUCED_COLOR_4, 2: cv2.IMREAD_REDUCED_COLOR_2}.get(
        scale, cv2.IMREAD_COLOR
    )
    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), flag)
    if pixels is None:
        raise InputError(f"image {index}: {len(data)} bytes do not decode as an image")
    return DecodedImage(pixels, scale)


def decode_jpeg_into(data: bytes | bytearray | memoryview, header: JpegHeader, out: np.ndarray) -> bool:
    """Decode a JPEG's BGR pixels at 1/``header.scale`` of its size straight into ``out``, a C-contiguous
    (h / scale, w / scale, 3) uint8 array (a slot's rows of a batch tensor: no intermediate image, no copy).

    libjpeg-turbo through simplejpeg: the same library and settings as OpenCV's ``IMREAD_REDUCED_COLOR_k``, so the
    same pixels, bit for bit (tests/vision/test_jpeg.py), ~12 % faster, and without the GIL. False when it does not
    decode this way (a CMYK JPEG, a corrupt or truncated one: `decode_for_fit` then decodes it, or names the
    problem, exactly as before); ``out`` may then hold anything.
    """
    import simplejpeg  # imports numpy's C API; the service's protocol module reads JPEG headers without it

    height, width = header.original
    scale = header.scale
    if out.shape != (height // scale, width // scale, 3) or out.dtype != np.uint8 or not out.flags.c_contiguous:
        raise InputError(
            f"decode_jpeg_into needs a C-contiguous ({height // scale}, {width // scale}, 3) uint8 array, got "
            f"{out.shape} {out.dtype}"
        )
    # min_height/min_width pick libjpeg's smallest scaling factor that still gives (h/k, w/k): exactly 1/k, since k
    # divides both sides (`dct_scale`). 0 means no scaling.
    minimum = (0, 0) if scale == 1 else (height // scale, width // scale)
    try:
        simplejpeg.decode_jpeg(data, "BGR", min_height=minimum[0], min_width=minimum[1], buffer=out, strict=True)
    except ValueError:  # simplejpeg's error for anything libjpeg-turbo refused or warned about
        return False
    return True
