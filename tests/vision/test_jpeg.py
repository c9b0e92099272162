"""`vision.jpeg`: JPEG headers read without decoding, and decoding at the DCT scale a model needs."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from vision.errors import InputError
from vision.jpeg import JpegError, JpegHeader, dct_scale, decode_for_fit, decode_jpeg_into, jpeg_size, read_jpeg_header


def frame(h: int, w: int) -> np.ndarray:
    rng = np.random.default_rng(h * 7919 + w)
    image = np.full((h, w, 3), 80, np.uint8)
    for _ in range(5):
        centre = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        cv2.circle(image, centre, max(2, min(h, w) // 6), tuple(int(c) for c in rng.integers(0, 255, 3)), -1)
    return image


def encoded(image: np.ndarray, ext: str = ".jpg") -> bytes:
    return cv2.imencode(ext, image)[1].tobytes()


@pytest.mark.parametrize(("h", "w"), [(360, 640), (1080, 1920), (333, 500), (1, 1)])
def test_jpeg_size_reads_the_frame_header(h: int, w: int) -> None:
    assert jpeg_size(encoded(frame(h, w))) == (w, h)


@pytest.mark.parametrize(
    ("data", "problem"),
    [(b"", "empty"), (b"\x89PNG\r\n\x1a\n", "not_jpeg"), (b"\xff\xd8\xff\xe0\x00\x10JFIF", "truncated"),
     (b"\xff\xd8\xff\xe0\x00\x01" + b"\x00" * 16, "corrupt"), (b"\xff\xd8\xff\xda\x00\x08" + b"\x00" * 16, "corrupt")],
    ids=["empty", "png", "cut-short", "bad-length", "scan-before-frame"],
)
def test_jpeg_size_names_the_problem(data: bytes, problem: str) -> None:
    with pytest.raises(JpegError) as caught:
        jpeg_size(data)
    assert caught.value.problem == problem


@pytest.mark.parametrize(
    ("original", "fit", "scale"),
    [
        ((360, 640), (320, 320), 2),  # the capture daemon's 640x360 for a 320 model: 320x180, nothing left to resize
        ((720, 1280), (320, 320), 4),
        ((1080, 1920), (640, 640), 2),  # a quarter (480x270) would be smaller than the 640x360 the model sees
        ((2160, 3840), (320, 320), 8),
        ((180, 320), (320, 320), 1),  # already the model's size
        ((361, 641), (320, 320), 1),  # odd sides: 1/2 would not map boxes back exactly
        ((360, 640), (640, 640), 1),  # the model enlarges it: every pixel counts
    ],
)
def test_dct_scale_is_the_largest_exact_one_that_loses_nothing(
    original: tuple[int, int], fit: tuple[int, int], scale: int
) -> None:
    assert dct_scale(original, fit) == scale


def test_dct_scale_without_scaleup_keeps_small_images_whole() -> None:
    assert dct_scale((360, 640), (1280, 1280), scaleup=False) == 1


def test_decode_for_fit_decodes_smaller_and_says_the_full_size() -> None:
    image = frame(360, 640)
    decoded = decode_for_fit(encoded(image), (320, 320))
    assert decoded.scale == 2
    assert decoded.pixels.shape == (180, 320, 3)
    assert decoded.original == (360, 640)
    half = cv2.resize(image, (320, 180), interpolation=cv2.INTER_AREA).astype(int)
    assert np.abs(decoded.pixels.astype(int) - half).mean() < 3  # the same picture, block-averaged


def test_decode_for_fit_decodes_other_formats_in_full() -> None:
    decoded = decode_for_fit(encoded(frame(360, 640), ".png"), (320, 320))
    assert decoded.scale == 1
    assert decoded.pixels.shape == (360, 640, 3)


def test_decode_for_fit_refuses_a_decompression_bomb_before_decoding() -> None:
    with pytest.raises(InputError, match=r"image 3: JPEG is 640x360 = 230400 pixels, over the cap of 1000"):
        decode_for_fit(encoded(frame(360, 640)), (320, 320), max_pixels=1000, index=3)


@pytest.mark.parametrize(
    ("data", "message"),
    [(b"", "empty"), (b"\xff\xd8\xff\xe0\x00\x10JFIF", "before its frame header"), (b"not an image", "do not decode")],
    ids=["empty", "cut-short", "garbage"],
)
def test_decode_for_fit_names_the_problem(data: bytes, message: str) -> None:
    with pytest.raises(InputError, match=message):
        decode_for_fit(data, (320, 320))


ENCODINGS = {
    "420": [],
    "444": [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444],
    "422": [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_422],
    "progressive": [cv2.IMWRITE_JPEG_PROGRESSIVE, 1],
    "gray": [],
}


@pytest.mark.parametrize("scale", [1, 2, 4, 8])
@pytest.mark.parametrize("encoding", list(ENCODINGS))
def test_decode_jpeg_into_gives_opencvs_pixels_in_place(encoding: str, scale: int) -> None:
    """libjpeg-turbo through simplejpeg, into the caller's array: OpenCV's ``IMREAD_REDUCED_COLOR_k`` pixels, bit for
    bit, whatever the chroma subsampling, for progressive and grayscale JPEGs too."""
    image = frame(360, 640)
    if encoding == "gray":
        image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    data = cv2.imencode(".jpg", image, ENCODINGS[encoding])[1].tobytes()
    flag = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
            8: cv2.IMREAD_REDUCED_COLOR_8}[scale]
    expected = cv2.imdecode(np.frombuffer(data, np.uint8), flag)
    canvas = np.full((2, 360 // scale + 4, 640 // scale, 3), 7, np.uint8)  # a batch; the frame's rows in slot 1
    assert decode_jpeg_into(data, JpegHeader((360, 640), scale), canvas[1, 2:-2])
    assert np.array_equal(canvas[1, 2:-2], expected)
    assert (canvas[0] == 7).all() and (canvas[1, :2] == 7).all() and (canvas[1, -2:] == 7).all()  # nothing else


def test_decode_jpeg_into_says_false_for_what_it_cannot_decode_and_refuses_a_wrong_array() -> None:
    data = encoded(frame(360, 640))
    header = read_jpeg_header(data, (320, 320))
    assert header == JpegHeader((360, 640), 2)
    out = np.zeros((180, 320, 3), np.uint8)
    assert not decode_jpeg_into(data[: len(data) // 2], header, out)  # cut short: decode_for_fit's business
    assert not decode_jpeg_into(data[:400] + bytes(600), header, out)
    with pytest.raises(InputError, match=r"needs a C-contiguous \(180, 320, 3\) uint8 array, got \(360, 640, 3\)"):
        decode_jpeg_into(data, header, np.zeros((360, 640, 3), np.uint8))
    with pytest.raises(InputError, match="C-contiguous"):
        decode_jpeg_into(data, header, np.zeros((180, 330, 3), np.uint8)[:, :320])
