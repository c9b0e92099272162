"""The thumbnail of an item's best view that a person looks at to confirm a flag."""

from __future__ import annotations

import cv2
import numpy as np

from edge.tracking.item import MAX_CROP_BYTES

PAD = 0.1  # context around the box, as a share of its longer side


def encode_crop(image: np.ndarray, box: np.ndarray, max_side: int, quality: int) -> bytes | None:
    """JPEG bytes of ``box`` (xyxy) in a BGR ``image``, padded a little, scaled so its longer side is at most
    ``max_side``, at most `MAX_CROP_BYTES` (quality is lowered until it fits). None for a degenerate box."""
    h, w = image.shape[:2]
    pad = PAD * max(box[2] - box[0], box[3] - box[1])
    x0, y0 = int(max(0, box[0] - pad)), int(max(0, box[1] - pad))
    x1, y1 = int(min(w, box[2] + pad)), int(min(h, box[3] + pad))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    crop = image[y0:y1, x0:x1]
    scale = max_side / max(crop.shape[:2])
    if scale < 1:
        size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
        crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
    while True:
        ok, buf = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if ok and len(buf) <= MAX_CROP_BYTES:
            return bytes(buf)
        if quality <= 30:
            return None
        quality = max(30, quality - 20)
