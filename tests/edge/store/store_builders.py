"""Builders of real values for the store tests: tracker items and frames to commit."""

from __future__ import annotations

from typing import Any

from edge.tracking.item import Item

T0 = 1_764_150_000.0  # 2025-11-26 09:40 UTC, unix seconds as vision.Frame.captured_at
JPEG = b"\xff\xd8\xff\xe0" + b"crop" * 64 + b"\xff\xd9"  # crops are opaque bytes to the store


def make_item(camera_id: str = "cam1", track_id: int = 1, seq: int = 10, **overrides: Any) -> Item:
    """A counted item seen from seq-5 to seq, counted at seq; flagged ones carry a crop."""
    flagged = overrides.get("flagged", False)
    values: dict[str, Any] = {
        "camera_id": camera_id,
        "track_id": track_id,
        "first_seq": seq - 5,
        "last_seq": seq,
        "first_seen_at": T0 + (seq - 5) / 10,
        "last_seen_at": T0 + seq / 10,
        "counted_seq": seq,
        "produce": "apple",
        "condition": "fresh",
        "freshness": 0.9,
        "flagged": flagged,
        "votes": {"apple": 5, "pear": 1},
        "frames": 6,
        "best_box": (10.0, 20.0, 110.0, 140.5),
        "best_seq": seq - 2,
        "sku": None,
        "model_version": None,
        "best_crop_jpeg": JPEG if flagged else None,
    }
    values.update(overrides)
    return Item(**values)


def commit_args(camera_id: str = "cam1", seq: int = 10, **overrides: Any) -> dict[str, Any]:
    """Keyword arguments for Store.commit_frame: one frame with no items and a small checkpoint."""
    args: dict[str, Any] = {
        "camera_id": camera_id,
        "seq": seq,
        "captured_at": T0 + seq / 10,
        "received_at": T0 + seq / 10 + 0.05,
        "model_version": "v1",
        "detections_count": 0,
        "items": [],
        "checkpoint": {"seq": seq, "tracks": [[1, 2.5]]},
    }
    args.update(overrides)
    return args


__all__ = ["JPEG", "T0", "Item", "commit_args", "make_item"]
