"""Where `Detector.preprocess` puts an image in its slot of the session input, as a value: the detector applies it
in process, and the speed paths (`vision.throughput`) apply the same value in worker processes or on a JPEG
straight from the decoder, so every path places a frame identically."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vision.jpeg import JpegHeader, decode_for_fit, decode_jpeg_into
from vision.letterbox import PAD_VALUE, Letterbox, letterbox_into, letterbox_into_hwc, normalise_table, placement


@dataclass(frozen=True)
class LetterboxPlan:
    """How `Detector.preprocess` puts an image into its slot of the session input, as a value a worker process can
    apply too: the same placement in both."""

    imgsz: tuple[int, int]
    stride: int
    uint8_input: bool
    dtype: str  # the tensor's dtype: uint8 for a uint8-input graph, else the model's float type
    # The float graphs' uint8 -> normalised value table, built once per plan (not per frame).
    table: np.ndarray | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "table", None if self.uint8_input else normalise_table(np.dtype(self.dtype)))

    def fill(self, image: np.ndarray, slot: np.ndarray, original: tuple[int, int]) -> Letterbox:
        """Letterbox ``image`` (standing for a full-size ``original``) into ``slot``, one frame of the tensor."""
        if self.table is None:
            return letterbox_into_hwc(image, slot, self.imgsz, stride=self.stride, original=original)
        return letterbox_into(image, slot, self.imgsz, self.table, stride=self.stride, original=original)

    def fill_jpeg(self, data: bytes, header: JpegHeader, slot: np.ndarray, index: int = 0) -> Letterbox:
        """Decode a JPEG (``header``: its `read_jpeg_header`, with the DCT scale for this plan's fit) and letterbox
        it into ``slot``; InputError naming image ``index`` when it does not decode.

        A uint8 slot whose image rows span its whole width (a 16:9 frame in a minimal rectangle, or in a square
        static input) takes the pixels straight from the decoder (`vision.jpeg.decode_jpeg_into`), when the DCT
        scale gives exactly the placed size: the letterbox is then the pad rows alone. Otherwise, as `fill`."""
        if self.table is None:
            box = placement(header.original, self.imgsz, (int(slot.shape[0]), int(slot.shape[1])), stride=self.stride)
            (new_h, new_w), (h, w), k = box.resized, header.original, header.scale
            if (new_h, new_w) == (h // k, w // k) and new_w == slot.shape[1]:
                top = box.pad_top
                if decode_jpeg_into(data, header, slot[top : top + new_h]):
                    slot[:top] = PAD_VALUE
                    slot[top + new_h :] = PAD_VALUE
                    return box
        decoded = decode_for_fit(data, self.imgsz if header.scale > 1 else None, index=index)
        return self.fill(decoded.pixels, slot, decoded.original)
