"""Letterbox: pixel-exact against the installed ultralytics LetterBox, and boxes back like its scale_boxes."""

from __future__ import annotations

import numpy as np
import pytest

from vision.errors import InputError
from vision.letterbox import Letterbox, letterbox, rect_shape

# (h, w) of originals: 16:9 frames, portrait, square, smaller than the target (scale up), degenerate thin ones.
SHAPES = [(360, 640), (720, 1280), (1280, 720), (500, 333), (320, 320), (100, 150), (1, 3000), (3000, 1), (37, 41)]


def gradient_image(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A BGR uint8 image with structure (so resize errors show) and noise (so channel swaps show)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([(xx * 7) % 256, (yy * 5) % 256, ((xx + yy) * 3) % 256], axis=-1)
    return (base + rng.integers(0, 30, (h, w, 3))).clip(0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def ultralytics_letterbox() -> type:
    from ultralytics.data.augment import LetterBox

    return LetterBox


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize(
    ("new_shape", "auto", "scaleup"),
    [(640, False, True), (320, True, True), ((320, 480), False, True), ((384, 640), True, True), (640, False, False)],
    ids=["640", "320-auto", "320x480", "384x640-auto", "640-noscaleup"],
)
def test_letterbox_is_pixel_exact_with_ultralytics(
    ultralytics_letterbox: type, shape: tuple[int, int], new_shape: int | tuple[int, int], auto: bool, scaleup: bool
) -> None:
    image = gradient_image(*shape)
    theirs = ultralytics_letterbox(new_shape, auto=auto, scaleup=scaleup, stride=32)
    expected = theirs(image=image.copy())
    params = theirs.get_params({"img": image})

    ours, box = letterbox(image, new_shape, auto=auto, scaleup=scaleup, stride=32)

    assert ours.shape == expected.shape
    assert ours.dtype == np.uint8
    assert np.array_equal(ours, expected)
    assert (box.pad_left, box.pad_top) == (params["left"], params["top"])
    assert box.resized == params["new_unpad"][::-1]
    assert box.scale == pytest.approx(params["ratio"][0], abs=0)
    assert box.input == ours.shape[:2]
    assert box.original == shape


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("imgsz", [320, 640])
def test_rect_shape_of_one_image_is_ultralytics_auto_shape(
    ultralytics_letterbox: type, shape: tuple[int, int], imgsz: int
) -> None:
    expected = ultralytics_letterbox(imgsz, auto=True, stride=32)(image=gradient_image(*shape)).shape[:2]
    assert rect_shape([shape], imgsz, 32) == expected


def test_rect_shape_holds_every_image_with_minimal_padding() -> None:
    shapes = [(360, 640), (640, 360), (100, 1000)]
    h, w = rect_shape(shapes, 320, 32)
    assert (h, w) == (320, 320)  # the landscape frame needs the full width, the portrait one the full height
    assert rect_shape([(360, 640), (720, 1280)], 320, 32) == (192, 320)  # 180 rows -> next multiple of 32
    for shape in shapes:
        padded, box = letterbox(gradient_image(*shape), 320, auto=False, canvas=(h, w))
        assert padded.shape[:2] == (h, w)
        assert box.resized[0] <= h and box.resized[1] <= w


def test_canvas_centers_like_ultralytics_and_matches_auto_for_one_image() -> None:
    image = gradient_image(360, 640)
    auto_img, auto_box = letterbox(image, 320, auto=True)
    canvas_img, canvas_box = letterbox(image, 320, auto=False, canvas=rect_shape([image.shape], 320))
    assert np.array_equal(auto_img, canvas_img)
    assert auto_box == canvas_box
    wide, box = letterbox(image, 320, auto=False, canvas=(256, 352))
    assert (box.pad_left, box.pad_top) == (16, 38)  # (352-320)/2, round((256-180)/2 - 0.1)
    assert (wide[:38] == 114).all() and (wide[38 + 180 :] == 114).all() and (wide[:, :16] == 114).all()


@pytest.mark.parametrize(
    ("image", "kwargs", "message"),
    [
        (np.zeros((0, 10, 3), np.uint8), {}, "non-empty"),
        (np.zeros((10, 0, 3), np.uint8), {}, "non-empty"),
        ("not an image", {}, "non-empty"),
        (np.zeros((10, 10, 3), np.uint8), {"canvas": (8, 8), "new_shape": 32}, "cannot hold"),
        (np.zeros((10, 10, 3), np.uint8), {"canvas": (64, 64), "auto": True}, "either auto"),
        (np.zeros((10, 10, 3), np.uint8), {"new_shape": (0, 32)}, "positive"),
        (np.zeros((10, 10, 3), np.uint8), {"new_shape": (32, 32, 3)}, r"\(h, w\)"),
    ],
)
def test_letterbox_rejects_bad_input(image: object, kwargs: dict, message: str) -> None:
    args = {"new_shape": 64, "auto": False, **kwargs}
    with pytest.raises(InputError, match=message):
        letterbox(image, **args)  # type: ignore[arg-type]


@pytest.mark.parametrize("shapes", [[], [(0, 10)]])
def test_rect_shape_rejects_empty(shapes: list) -> None:
    with pytest.raises(InputError):
        rect_shape(shapes, 320)


@pytest.mark.parametrize("shape", [(360, 640), (720, 1280), (1280, 720), (500, 333), (1, 3000)])
@pytest.mark.parametrize("auto", [True, False])
def test_to_original_matches_ultralytics_scale_boxes(shape: tuple[int, int], auto: bool) -> None:
    from ultralytics.utils.ops import scale_boxes

    padded, box = letterbox(gradient_image(*shape), 320, auto=auto)
    rng = np.random.default_rng(1)
    xy = rng.uniform(-20, 340, (50, 2)).astype(np.float32)
    boxes = np.concatenate([xy, xy + rng.uniform(0, 120, (50, 2)).astype(np.float32)], axis=1)
    expected = scale_boxes(padded.shape[:2], boxes.copy(), shape)
    assert np.array_equal(box.to_original(boxes), expected)


def test_to_original_inverts_to_input_and_clips() -> None:
    box = letterbox(gradient_image(360, 640), 320, auto=False)[1]
    assert (box.scale, box.pad_left, box.pad_top, box.input, box.resized) == (0.5, 0, 70, (320, 320), (180, 320))
    inside = np.array([[10.0, 20.0, 300.0, 350.0], [0.0, 0.0, 640.0, 360.0]], np.float32)
    assert np.allclose(box.to_original(box.to_input(inside)), inside, atol=1e-3)
    assert np.allclose(box.to_input(inside)[1], [0, 70, 320, 250])
    # A box reaching into the padding is clipped to the image.
    clipped = box.to_original(np.array([[-10.0, 60.0, 330.0, 260.0]], np.float32))
    assert np.array_equal(clipped, np.array([[0, 0, 640, 360]], np.float32))
    assert box.to_original(np.zeros((0, 4), np.float32)).shape == (0, 4)


def test_letterbox_accepts_views() -> None:
    image = gradient_image(360, 640)
    flipped, _ = letterbox(image[:, ::-1], 320, auto=True)  # a negative-stride view, as from a flip
    assert np.array_equal(flipped, letterbox(np.ascontiguousarray(image[:, ::-1]), 320, auto=True)[0])


def test_letterbox_value_is_frozen() -> None:
    box = Letterbox(scale=1.0, pad_left=0, pad_top=0, input=(32, 32), original=(32, 32), resized=(32, 32))
    with pytest.raises(AttributeError):
        box.scale = 2.0  # type: ignore[misc]
