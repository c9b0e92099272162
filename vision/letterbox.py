"""Letterbox pre-processing with exactly ultralytics' semantics, and its inverse for boxes.

Reproduces ``ultralytics.data.augment.LetterBox`` (8.4): scale to fit keeping the aspect ratio, round each resized
side (at least 1 pixel), pad with gray, split the padding with the ``dh - 0.1`` / ``dh + 0.1`` rounding. Boxes go back
to original pixels the way ``ultralytics.utils.ops.scale_boxes`` does it in ``predict`` (per-axis gains of the rounded
resize, then clipping), so our detector and ultralytics agree to the last float32 bit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from vision.errors import InputError

PAD_VALUE = 114  # ultralytics' letterbox grey


@dataclass(frozen=True)
class Letterbox:
    """How one image was placed into the network input; undoes itself for boxes.

    ``scale`` is ultralytics' ratio r (new / old), ``resized`` the rounded (h, w) the image was resized to,
    ``pad_left``/``pad_top`` the padding before it, ``input`` the padded (h, w) and ``original`` the image's (h, w).
    """

    scale: float
    pad_left: int
    pad_top: int
    input: tuple[int, int]
    original: tuple[int, int]
    resized: tuple[int, int]

    @property
    def gain(self) -> tuple[float, float]:
        """Effective (x, y) scale of the rounded resize; what ultralytics' ``scale_boxes`` divides by."""
        return self.resized[1] / self.original[1], self.resized[0] / self.original[0]

    def to_original(self, xyxy: np.ndarray) -> np.ndarray:
        """Map (N, 4) xyxy boxes from input pixels to original-image pixels, clipped to the image; float32 copy."""
        # (N, 2 corners, x/y): a few whole-array float32 ops (the output decoding runs this per frame), each the
        # same float32 op per element as ultralytics' per-column ones.
        corners = np.array(xyxy, dtype=np.float32, copy=True).reshape(-1, 2, 2)
        corners -= np.array([self.pad_left, self.pad_top], np.float32)
        corners /= np.array(self.gain, np.float32)
        h, w = self.original
        np.clip(corners, np.float32(0), np.array([w, h], np.float32), out=corners)
        return corners.reshape(-1, 4)

    def to_input(self, xyxy: np.ndarray) -> np.ndarray:
        """Map (N, 4) xyxy boxes from original-image pixels to input pixels (the forward transform); float32 copy."""
        boxes = np.array(xyxy, dtype=np.float32, copy=True).reshape(-1, 4)
        gain_x, gain_y = self.gain
        boxes[:, [0, 2]] = boxes[:, [0, 2]] * gain_x + self.pad_left
        boxes[:, [1, 3]] = boxes[:, [1, 3]] * gain_y + self.pad_top
        return boxes


def _as_hw(shape: int | Sequence[int], what: str) -> tuple[int, int]:
    if isinstance(shape, (int, np.integer)):
        hw = (int(shape), int(shape))
    else:
        if len(shape) != 2:
            raise InputError(f"{what} must be an int or (h, w), got {shape!r}")
        hw = (int(shape[0]), int(shape[1]))
    if hw[0] <= 0 or hw[1] <= 0:
        raise InputError(f"{what} must be positive, got {shape!r}")
    return hw


def fitted_size(original: tuple[int, int], fit: tuple[int, int], scaleup: bool) -> tuple[float, tuple[int, int]]:
    """Ultralytics' ratio and rounded resized (h, w) for an image of ``original`` (h, w) fitted into ``fit``."""
    h, w = original
    r = min(fit[0] / h, fit[1] / w)
    if not scaleup:
        r = min(r, 1.0)
    return r, (max(round(h * r), 1), max(round(w * r), 1))


def _plan(
    original: tuple[int, int],
    new_shape: int | Sequence[int],
    auto: bool,
    stride: int,
    scaleup: bool,
    canvas: Sequence[int] | None,
) -> tuple[float, tuple[int, int], tuple[int, int, int, int]]:
    """Ultralytics' ratio, rounded resized (h, w) and (top, bottom, left, right) padding for one image."""
    target = _as_hw(new_shape, "letterbox new_shape")
    r, (new_h, new_w) = fitted_size(original, target, scaleup)
    if canvas is not None:
        if auto:
            raise InputError("letterbox: pass either auto=True or a canvas, not both")
        out_h, out_w = _as_hw(canvas, "letterbox canvas")
        if out_h < new_h or out_w < new_w:
            raise InputError(f"letterbox canvas {(out_h, out_w)} cannot hold the resized image {(new_h, new_w)}")
        dw, dh = out_w - new_w, out_h - new_h
    else:
        dw, dh = target[1] - new_w, target[0] - new_h
        if auto:
            dw, dh = dw % stride, dh % stride
    # Same float arithmetic as ultralytics: halve, then round(x - 0.1) before and round(x + 0.1) after.
    half_w, half_h = dw / 2, dh / 2
    pads = (round(half_h - 0.1), round(half_h + 0.1), round(half_w - 0.1), round(half_w + 0.1))
    return r, (new_h, new_w), pads


def _check_image(image: object) -> None:
    if not isinstance(image, np.ndarray) or image.ndim not in (2, 3) or image.shape[0] == 0 or image.shape[1] == 0:
        raise InputError(f"letterbox needs a non-empty H x W (x C) image, got {getattr(image, 'shape', type(image))}")


def _resized(image: np.ndarray, new_h: int, new_w: int) -> np.ndarray:
    img = np.ascontiguousarray(image)  # OpenCV rejects views with negative strides (flips, BGR<->RGB slices)
    if (img.shape[0], img.shape[1]) != (new_h, new_w):
        img = cv2.resize(img, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    return img


def letterbox(
    image: np.ndarray,
    new_shape: int | Sequence[int],
    *,
    auto: bool,
    stride: int = 32,
    pad_value: int = PAD_VALUE,
    scaleup: bool = True,
    canvas: Sequence[int] | None = None,
) -> tuple[np.ndarray, Letterbox]:
    """Resize ``image`` (H x W x C) to fit ``new_shape`` keeping its aspect ratio and pad it, like ultralytics.

    ``auto=True`` pads only up to the next multiple of ``stride`` (ultralytics' minimum rectangle, what ``predict``
    does for dynamic-shape models); ``auto=False`` pads to ``new_shape``. ``canvas`` (h, w), not part of ultralytics,
    pads the image fitted to ``new_shape`` to a larger common size, centered the same way, so a batch of different
    images shares one input shape; it must hold the resized image and excludes ``auto``.
    Returns the padded image and the `Letterbox` that maps boxes back.
    """
    _check_image(image)
    original = (int(image.shape[0]), int(image.shape[1]))
    r, (new_h, new_w), (top, bottom, left, right) = _plan(original, new_shape, auto, stride, scaleup, canvas)
    img = _resized(image, new_h, new_w)
    if img.ndim == 2:
        img = img[..., None]
    channels = img.shape[2]
    if channels == 3:
        img = cv2.copyMakeBorder(img, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(pad_value,) * 3)
    else:
        padded = np.full((new_h + top + bottom, new_w + left + right, channels), pad_value, dtype=img.dtype)
        padded[top : top + new_h, left : left + new_w] = img
        img = padded
    box = Letterbox(
        scale=float(r),
        pad_left=int(left),
        pad_top=int(top),
        input=(int(img.shape[0]), int(img.shape[1])),
        original=original,
        resized=(new_h, new_w),
    )
    return img, box


def normalise_table(dtype: np.dtype | type) -> np.ndarray:
    """The 256 values ``uint8 / 255`` in ``dtype``, computed exactly as ultralytics does (``x.float(); x /= 255``).

    Looking a pixel up in this table gives bit for bit the value the divide gives, in one pass and no temporary.
    """
    table = np.arange(256, dtype=np.uint8).astype(dtype)
    table /= 255  # divide (not multiply by 1/255), in the model's dtype, exactly as ultralytics does
    return table


def letterbox_into(
    image: np.ndarray,
    out: np.ndarray,
    new_shape: int | Sequence[int],
    table: np.ndarray,
    *,
    stride: int = 32,
    pad_value: int = PAD_VALUE,
    scaleup: bool = True,
    original: tuple[int, int] | None = None,
) -> Letterbox:
    """`letterbox` of a BGR image straight into a network input plane set: ``out`` is (3, H, W), RGB, ``table``-scaled.

    One fused pass instead of pad, BGR->RGB, HWC->CHW, cast and divide: the image is fitted into ``new_shape``
    and centered on the (H, W) canvas of ``out`` exactly as ``letterbox(image, new_shape, auto=False,
    canvas=(H, W))`` places it; pixels go through ``table`` (`normalise_table`), so ``out`` holds exactly
    ``letterbox(...)[..., ::-1].transpose(2, 0, 1) / 255`` in ``out``'s dtype, without allocating the padded image.
    ``original``: the (h, w) of the full-size image when ``image`` is a scaled decode of it (`vision.jpeg`): the
    placement is planned for ``original``, ``image`` is resized to the planned size, and the box maps back to
    ``original``.
    """
    _check_bgr(image, "letterbox_into")
    if out.ndim != 3 or out.shape[0] != 3 or out.dtype != table.dtype:
        raise InputError(f"letterbox_into needs a (3, H, W) output of the table's dtype, got {out.shape} {out.dtype}")
    box, resized = _place(image, out, new_shape, table[pad_value], stride, scaleup, original)
    # cv2.LUT maps uint8 -> float32 in one GIL-free pass; float16 has no OpenCV LUT, numpy indexing does it.
    values = cv2.LUT(resized, table) if table.dtype == np.float32 else table[resized]
    (top, left), (new_h, new_w) = (box.pad_top, box.pad_left), box.resized
    out[:, top : top + new_h, left : left + new_w] = values.transpose(2, 0, 1)[::-1]  # BGR -> RGB, HWC -> CHW
    return box


def letterbox_into_hwc(
    image: np.ndarray,
    out: np.ndarray,
    new_shape: int | Sequence[int],
    *,
    stride: int = 32,
    pad_value: int = PAD_VALUE,
    scaleup: bool = True,
    original: tuple[int, int] | None = None,
) -> Letterbox:
    """`letterbox` of a BGR uint8 image straight into ``out``, an (H, W, 3) uint8 slot: the pixels themselves.

    For graphs that normalise on the device (`vision.graph_edit.with_uint8_input`): the same placement as
    `letterbox_into` (fitted into ``new_shape``, centered on ``out``'s (H, W) canvas), ``out`` holding exactly
    ``letterbox(image, new_shape, auto=False, canvas=(H, W))[0]``, still BGR; no float pass on the host.
    ``original``: as in `letterbox_into`.
    """
    _check_bgr(image, "letterbox_into_hwc")
    if out.ndim != 3 or out.shape[2] != 3 or out.dtype != np.uint8:
        raise InputError(f"letterbox_into_hwc needs an (H, W, 3) uint8 output, got {out.shape} {out.dtype}")
    planes = out.transpose(2, 0, 1)  # a (3, H, W) view of the same memory
    box, resized = _place(image, planes, new_shape, pad_value, stride, scaleup, original)
    (top, left), (new_h, new_w) = (box.pad_top, box.pad_left), box.resized
    out[top : top + new_h, left : left + new_w] = resized
    return box


def _check_bgr(image: np.ndarray, what: str) -> None:
    _check_image(image)
    if image.ndim != 3 or image.shape[2] != 3:
        raise InputError(f"{what} needs an H x W x 3 BGR image, got shape {image.shape}")
    if image.dtype != np.uint8:
        raise InputError(f"{what} needs a uint8 image, got {image.dtype}")


def _place(
    image: np.ndarray,
    planes: np.ndarray,
    new_shape: int | Sequence[int],
    pad: object,
    stride: int,
    scaleup: bool,
    full_size: tuple[int, int] | None,
) -> tuple[Letterbox, np.ndarray]:
    """Plan the letterbox of an image of ``full_size`` (default: ``image``'s own) on the (H, W) canvas of ``planes``
    (3, H, W), fill only the border with ``pad`` (the image area is written once by the caller) and return the
    placement and ``image`` resized to the planned size."""
    original = (int(image.shape[0]), int(image.shape[1])) if full_size is None else _as_hw(full_size, "original")
    box = placement(original, new_shape, (int(planes.shape[1]), int(planes.shape[2])), stride=stride, scaleup=scaleup)
    (top, left), (new_h, new_w) = (box.pad_top, box.pad_left), box.resized
    planes[:, :top] = pad
    planes[:, top + new_h :] = pad
    planes[:, top : top + new_h, :left] = pad
    planes[:, top : top + new_h, left + new_w :] = pad
    return box, _resized(image, new_h, new_w)


def placement(
    original: tuple[int, int], new_shape: int | Sequence[int], canvas: tuple[int, int], *, stride: int = 32,
    scaleup: bool = True,
) -> Letterbox:
    """Where an image of ``original`` (h, w) goes when fitted into ``new_shape`` and centred on a ``canvas`` (h, w):
    the placement `letterbox_into` uses, for code that moves the pixels itself (`vision.throughput.device_decode`)."""
    r, (new_h, new_w), (top, _, left, _) = _plan(original, new_shape, False, stride, scaleup, canvas)
    return Letterbox(
        scale=float(r), pad_left=int(left), pad_top=int(top), input=(int(canvas[0]), int(canvas[1])),
        original=(int(original[0]), int(original[1])), resized=(new_h, new_w),
    )


def rect_shape(
    batch_original_shapes: Sequence[Sequence[int]],
    imgsz: int | Sequence[int],
    stride: int = 32,
    *,
    scaleup: bool = True,
) -> tuple[int, int]:
    """Smallest stride-multiple (h, w) that holds every image of a batch fitted into ``imgsz``.

    The input shape for dynamic-shape models with minimal padding; for one image it equals the shape of
    ultralytics' ``LetterBox(imgsz, auto=True)`` output whenever ``imgsz`` is a multiple of ``stride``.
    """
    if not batch_original_shapes:
        raise InputError("rect_shape: the batch is empty")
    fit = _as_hw(imgsz, "imgsz")
    max_h = max_w = 1
    for shape in batch_original_shapes:
        original = (int(shape[0]), int(shape[1]))
        if original[0] <= 0 or original[1] <= 0:
            raise InputError(f"rect_shape: image shape {tuple(shape)} is empty")
        _, (new_h, new_w) = fitted_size(original, fit, scaleup)
        max_h, max_w = max(max_h, new_h), max(max_w, new_w)
    return math.ceil(max_h / stride) * stride, math.ceil(max_w / stride) * stride
