"""The bound on multipart frame uploads being read at once, per camera and for the whole service.

A multipart body is buffered whole (up to ``limits.max_message_bytes``) and split on a worker thread, so uploads in
parallel cost memory and CPU the cameras' frames need. A camera sends its frames in order, one after another, so it
needs one upload at a time; the service as a whole needs about one per camera. An upload over either bound is
refused before its body is read ('retry', HTTP 429 with Retry-After: `edge.protocol.Code.TOO_MANY_UPLOADS`).
"""

from __future__ import annotations

from collections import Counter


class UploadSlots:
    """Multipart uploads in progress, per camera and in all. Used on the event loop only, so it needs no lock."""

    def __init__(self) -> None:
        """No upload in progress."""
        self._per_camera: Counter[str] = Counter()
        self._total = 0

    @property
    def total(self) -> int:
        """Uploads in progress, all cameras together."""
        return self._total

    def try_acquire(self, camera_id: str, per_camera: int, total: int) -> bool:
        """Take a slot for ``camera_id`` when it has fewer than ``per_camera`` uploads in progress and the service
        fewer than ``total``; False (nothing taken) otherwise."""
        if self._per_camera[camera_id] >= per_camera or self._total >= total:
            return False
        self._per_camera[camera_id] += 1
        self._total += 1
        return True

    def release(self, camera_id: str) -> None:
        """Give back a slot `try_acquire` gave ``camera_id``."""
        left = self._per_camera[camera_id] - 1
        if left < 0:
            raise RuntimeError(f"camera {camera_id!r} released an upload slot it did not hold")
        if left:
            self._per_camera[camera_id] = left
        else:
            del self._per_camera[camera_id]  # bounded by the cameras uploading now, not by every camera ever seen
        self._total -= 1
