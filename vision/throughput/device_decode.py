"""JPEG decode and letterbox on the model's device: nvJPEG through torchvision, straight into the batch tensor.

Why: on a GPU node the host's JPEG decode is what starves the model, even spread over worker processes (README,
"Benchmarks": the H200 figures). torchvision's batched ``decode_jpeg(device="cuda")`` runs nvJPEG, on the GPU's
hardware JPEG engines where it has them (A100, H100, H200), so the host only wraps the bytes; the letterbox is a few
tensor ops on the device, and the pixels never cross PCIe: ONNX Runtime reads the batch where it lies (IO binding by
pointer, `vision.io_binding.DeviceBatch`).

The same code runs on torch's CPU device, where torchvision decodes with libjpeg-turbo bit for bit as OpenCV does;
that is how the CPU tests prove the placement. nvJPEG's pixels differ slightly from libjpeg's (its IDCT and chroma
upsampling), and a frame that must be resized is resized by torch's bilinear filter, not OpenCV's: detections are
close to, not bit for bit, the host path's (`qc bench --device-decode` reports how close on the frames it runs).

Needs torch and torchvision (a CUDA build on a GPU node); imported when a decoder is made, never by ``import vision``.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from typing import Any

import numpy as np

from vision.errors import InputError
from vision.io_binding import DeviceBatch
from vision.letterbox import PAD_VALUE, Letterbox, placement
from vision.letterbox_plan import LetterboxPlan
from vision.throughput.buffer_pool import BufferPool


class DeviceJpegDecoder:
    """Decodes batches of JPEG frames on a torch device and letterboxes them into recycled `DeviceBatch` tensors.

    On CUDA it works on a stream of its own and waits for it before handing a batch over, so ONNX Runtime, on its
    own stream, reads finished pixels; one thread at a time fills there (a pipeline's prepare worker). On torch's
    CPU device shards may fill from several threads at once.
    """

    def __init__(self, device: str = "cuda:0", keep_per_shape: int = 3) -> None:
        """``device``: a torch device ("cuda:0", "cpu"). Raises InputError when torch or torchvision is missing or
        the device is not there."""
        try:
            import torch
            from torchvision.io import ImageReadMode, decode_jpeg
        except ImportError as exc:
            raise InputError(
                f"decoding on the device needs torch and torchvision ({exc}); install a CUDA build of both"
            ) from exc
        self._torch = torch
        self._decode_jpeg = decode_jpeg
        self._rgb = ImageReadMode.RGB
        try:
            self.device = torch.device(device)
        except RuntimeError as exc:
            raise InputError(f"decode device {device!r} is not a torch device ({exc})") from exc
        if self.device.type not in ("cuda", "cpu"):
            raise InputError(f"decode device must be cuda or cpu, got {device!r}")
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise InputError(f"decode device {device!r}: this torch build sees no CUDA device")
        self._ort_device = ("cuda", self.device.index or 0) if self.device.type == "cuda" else ("cpu", 0)
        self._stream = torch.cuda.Stream(self.device) if self.device.type == "cuda" else None
        self._pool: BufferPool[DeviceBatch] = BufferPool(keep_per_shape, allocate=self._allocate)

    def _allocate(self, shape: tuple[int, ...], dtype: np.dtype) -> DeviceBatch:
        tensor = self._torch.empty(shape, dtype=getattr(self._torch, dtype.name), device=self.device)
        return DeviceBatch(tensor, *self._ort_device)

    def give(self, batch: DeviceBatch) -> None:
        """Return a batch nothing reads any more (the session's run is over)."""
        self._pool.give(batch)

    def decode(self, jpegs: Sequence[bytes], names: Sequence[int] | None = None) -> list[Any]:
        """Each JPEG as a (3, H, W) RGB uint8 tensor on the device; InputError naming the first frame that will
        not decode by its entry in ``names`` (default: its position)."""
        torch = self._torch
        # bytearray: torch wraps writable memory without a warning; a copy of a 35 KiB payload is microseconds.
        data = [torch.frombuffer(bytearray(j), dtype=torch.uint8) for j in jpegs]
        try:
            return list(self._decode_jpeg(data, mode=self._rgb, device=self.device))
        except RuntimeError:
            pass
        for i, one in enumerate(data):  # the batch failed: find the frame that did, for the error
            try:
                self._decode_jpeg(one, mode=self._rgb, device=self.device)
            except RuntimeError as exc:
                name = names[i] if names is not None else i
                raise InputError(
                    f"image {name}: {len(jpegs[i])} bytes do not decode as a JPEG on {self.device} "
                    f"({str(exc).splitlines()[0][:200]})"
                ) from exc
        raise InputError(
            f"a batch of {len(jpegs)} images does not decode on {self.device}, though each one does alone"
        )

    def fill(
        self, jpegs: Sequence[bytes], shape: tuple[int, ...], plan: LetterboxPlan, names: Sequence[int] | None = None
    ) -> tuple[DeviceBatch, list[Letterbox]]:
        """Decode ``jpegs`` (all of one input shape) and letterbox them into one batch of ``shape``
        (`Detector.tensor_shape`): (B, H, W, 3) BGR uint8 for a uint8-input graph, else (B, 3, H, W) RGB normalised
        in the plan's dtype. The `Letterbox` of each frame, in order. InputError for a frame that will not decode,
        named as in `decode`."""
        torch = self._torch
        dtype = np.dtype(plan.dtype)
        if len(shape) != 4 or shape[0] != len(jpegs):
            raise InputError(f"a device batch of {len(jpegs)} frames cannot have shape {shape}")
        canvas = (shape[1], shape[2]) if plan.uint8_input else (shape[2], shape[3])
        stream = torch.cuda.stream(self._stream) if self._stream is not None else nullcontext()
        with stream, torch.inference_mode():
            images = self.decode(jpegs, names)
            batch = self._pool.take(shape, dtype)
            out = batch.tensor
            boxes = [placement((int(im.shape[1]), int(im.shape[2])), plan.imgsz, canvas, stride=plan.stride)
                     for im in images]
            # Frames of one camera share a size and so a placement: one set of tensor ops for all of them.
            start = 0
            while start < len(images):
                stop = start + 1
                while stop < len(images) and boxes[stop] == boxes[start]:
                    stop += 1
                self._place(torch.stack(images[start:stop]), out[start:stop], boxes[start], plan, dtype)
                start = stop
            if self._stream is not None:
                self._stream.synchronize()
        return batch, boxes

    def _place(self, rgb: Any, out: Any, box: Letterbox, plan: LetterboxPlan, dtype: np.dtype) -> None:
        """Letterbox frames (n, 3, h, w) RGB uint8 of one placement into ``out``, their slots of the batch."""
        torch = self._torch
        (top, left), (new_h, new_w) = (box.pad_top, box.pad_left), box.resized
        if (new_h, new_w) != tuple(rgb.shape[2:]):
            resized = torch.nn.functional.interpolate(
                rgb.float(), size=(new_h, new_w), mode="bilinear", align_corners=False, antialias=False
            )
            rgb = resized.round_().clamp_(0, 255).to(torch.uint8)
        pad: float
        if plan.uint8_input:
            # (n, H, W, 3) BGR, written through a (n, 3, H, W) view of the same memory (as `letterbox_into_hwc` does
            # on the host): the graph does the rest.
            planes, values, pad = out.permute(0, 3, 1, 2), rgb.flip(1), PAD_VALUE
        else:
            # (n, 3, H, W) RGB: uint8 -> the model's dtype, then / 255 in it, as the plan's table was made: the host
            # path's values bit for bit.
            assert plan.table is not None
            planes, values, pad = out, rgb.to(getattr(torch, dtype.name)).div_(255), float(plan.table[PAD_VALUE])
        planes[:, :, :top] = pad
        planes[:, :, top + new_h :] = pad
        planes[:, :, top : top + new_h, :left] = pad
        planes[:, :, top : top + new_h, left + new_w :] = pad
        planes[:, :, top : top + new_h, left : left + new_w] = values
