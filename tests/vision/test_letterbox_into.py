"""`letterbox_into`: the fused pre-processing writes bit for bit what letterbox + RGB + CHW + / 255 give."""

from __future__ import annotations

import numpy as np
import pytest

from vision.errors import InputError
from vision.letterbox import letterbox, letterbox_into, letterbox_into_hwc, normalise_table, rect_shape

# (h, w): 16:9 (padding above and below), portrait (left and right), square, scale-up, thin.
SHAPES = [(360, 640), (720, 1280), (1280, 720), (500, 333), (320, 320), (100, 150), (3, 900)]


def noisy(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def reference(image: np.ndarray, fit: int, canvas: tuple[int, int], dtype: type) -> np.ndarray:
    """The unfused path: pad, BGR -> RGB, HWC -> CHW, cast, divide in the model's dtype (as ultralytics)."""
    padded, _ = letterbox(image, fit, auto=False, canvas=canvas)
    out = np.ascontiguousarray(padded[..., ::-1].transpose(2, 0, 1)).astype(dtype)
    out /= 255
    return out


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("dtype", [np.float32, np.float16])
@pytest.mark.parametrize("canvas_of", ["own", "square"])
def test_fused_equals_unfused_bit_for_bit(shape: tuple[int, int], dtype: type, canvas_of: str) -> None:
    image = noisy(*shape)
    canvas = rect_shape([shape], 320) if canvas_of == "own" else (320, 320)
    out = np.full((3, *canvas), np.nan, dtype=dtype)  # NaN everywhere: any pixel left unwritten shows
    box = letterbox_into(image, out, 320, normalise_table(dtype))
    expected = reference(image, 320, canvas, dtype)
    assert np.array_equal(out, expected)
    _, expected_box = letterbox(image, 320, auto=False, canvas=canvas)
    assert box == expected_box


def test_table_is_the_divide() -> None:
    table = normalise_table(np.float32)
    assert table.dtype == np.float32 and table.shape == (256,)
    assert table[0] == 0 and table[255] == 1 and table[114] == np.float32(114) / np.float32(255)


def test_writes_into_a_slot_of_a_batch() -> None:
    batch = np.zeros((2, 3, 192, 320), np.float32)
    table = normalise_table(np.float32)
    letterbox_into(noisy(360, 640), batch[1], 320, table)
    assert not batch[0].any()  # the other slot is untouched
    assert (batch[1, :, :6] == table[114]).all() and (batch[1, :, 186:] == table[114]).all()  # 6 px pad rows
    assert batch[1, :, 6:186].std() > 0.1  # the image itself


@pytest.mark.parametrize(
    ("image", "out", "message"),
    [
        (np.zeros((10, 10), np.uint8), np.zeros((3, 32, 32), np.float32), "H x W x 3"),
        (np.zeros((10, 10, 3), np.float32), np.zeros((3, 32, 32), np.float32), "uint8"),
        (np.zeros((10, 10, 3), np.uint8), np.zeros((32, 32, 3), np.float32), r"\(3, H, W\)"),
        (np.zeros((10, 10, 3), np.uint8), np.zeros((3, 32, 32), np.float16), "dtype"),
        (np.zeros((0, 10, 3), np.uint8), np.zeros((3, 32, 32), np.float32), "non-empty"),
        (np.zeros((100, 100, 3), np.uint8), np.zeros((3, 16, 16), np.float32), "cannot hold"),
    ],
    ids=["gray", "float-image", "hwc-out", "dtype-mismatch", "empty", "canvas-too-small"],
)
def test_bad_arguments_are_named(image: np.ndarray, out: np.ndarray, message: str) -> None:
    with pytest.raises(InputError, match=message):
        letterbox_into(image, out, 32, normalise_table(np.float32))


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("canvas_of", ["own", "square"])
def test_hwc_slot_holds_the_letterboxed_pixels(shape: tuple[int, int], canvas_of: str) -> None:
    image = noisy(*shape)
    canvas = rect_shape([shape], 320) if canvas_of == "own" else (320, 320)
    batch = np.full((2, *canvas, 3), 7, np.uint8)  # 7 is no pad value: any pixel left unwritten shows
    box = letterbox_into_hwc(image, batch[1], 320)
    expected, expected_box = letterbox(image, 320, auto=False, canvas=canvas)
    assert np.array_equal(batch[1], expected) and box == expected_box
    assert (batch[0] == 7).all()  # the other slot is untouched


@pytest.mark.parametrize(
    ("image", "out", "message"),
    [
        (np.zeros((10, 10), np.uint8), np.zeros((32, 32, 3), np.uint8), "H x W x 3"),
        (np.zeros((10, 10, 3), np.float32), np.zeros((32, 32, 3), np.uint8), "uint8 image"),
        (np.zeros((10, 10, 3), np.uint8), np.zeros((3, 32, 32), np.uint8), r"\(H, W, 3\) uint8 output"),
        (np.zeros((10, 10, 3), np.uint8), np.zeros((32, 32, 3), np.float32), r"\(H, W, 3\) uint8 output"),
        (np.zeros((100, 100, 3), np.uint8), np.zeros((16, 16, 3), np.uint8), "cannot hold"),
    ],
    ids=["gray", "float-image", "chw-out", "float-out", "canvas-too-small"],
)
def test_hwc_bad_arguments_are_named(image: np.ndarray, out: np.ndarray, message: str) -> None:
    with pytest.raises(InputError, match=message):
        letterbox_into_hwc(image, out, 32)
