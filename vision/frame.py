"""Frame: one camera image with its identity; ``(camera_id, seq)`` is its idempotency key."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from vision.errors import InputError


@dataclass(frozen=True)
class Frame:
    """One captured image (BGR uint8, H x W x 3) and where/when it came from."""

    camera_id: str
    seq: int
    captured_at: float  # unix seconds at capture, from the camera host's clock
    image: np.ndarray
    tags: Mapping[str, str] = field(default_factory=dict)  # from the warehouse system: sku, tote id ...

    def __post_init__(self) -> None:
        img = self.image
        if not isinstance(img, np.ndarray) or img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
            shape = getattr(img, "shape", None)
            dtype = getattr(img, "dtype", type(img).__name__)
            raise InputError(f"frame {self.camera_id}/{self.seq}: image must be HxWx3 uint8 BGR, got {shape} {dtype}")
        if img.shape[0] == 0 or img.shape[1] == 0:
            raise InputError(f"frame {self.camera_id}/{self.seq}: image is empty ({img.shape})")
        if self.seq < 0:
            raise InputError(f"frame {self.camera_id}: seq must be >= 0, got {self.seq}")

    @property
    def key(self) -> tuple[str, int]:
        """The idempotency key."""
        return (self.camera_id, self.seq)
