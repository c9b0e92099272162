"""Detections: one frame's boxes as parallel numpy arrays, in original-image pixels."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vision.errors import InputError


@dataclass(frozen=True)
class Detections:
    """Boxes of one frame. ``xyxy`` (N,4) float32, ``confidence`` (N,), ``class_id`` (N,) int,
    ``freshness`` (N,) in [0, 1], optional ``tracker_id`` (N,) int and extra per-box columns in ``data``.

    Empty is a valid value. Indexing with an int array, slice or boolean mask returns a new Detections.
    """

    xyxy: np.ndarray
    confidence: np.ndarray
    class_id: np.ndarray
    freshness: np.ndarray
    tracker_id: np.ndarray | None = None
    data: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.xyxy)
        if self.xyxy.ndim != 2 or self.xyxy.shape[1] != 4:
            raise InputError(f"Detections.xyxy must be (N, 4), got {self.xyxy.shape}")
        columns: dict[str, Any] = {
            "confidence": self.confidence,
            "class_id": self.class_id,
            "freshness": self.freshness,
            "tracker_id": self.tracker_id,
            **{f"data[{k!r}]": v for k, v in self.data.items()},
        }
        for name, col in columns.items():
            if col is not None and len(col) != n:
                raise InputError(f"Detections.{name} has {len(col)} rows, xyxy has {n}")

    @classmethod
    def empty(cls) -> Detections:
        """No boxes."""
        return cls(
            xyxy=np.zeros((0, 4), np.float32),
            confidence=np.zeros(0, np.float32),
            class_id=np.zeros(0, np.int64),
            freshness=np.zeros(0, np.float32),
        )

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index: np.ndarray | slice | int) -> Detections:
        if isinstance(index, (int, np.integer)):
            index = np.array([index])
        return Detections(
            xyxy=self.xyxy[index],
            confidence=self.confidence[index],
            class_id=self.class_id[index],
            freshness=self.freshness[index],
            tracker_id=None if self.tracker_id is None else self.tracker_id[index],
            data={k: v[index] for k, v in self.data.items()},
        )

    @property
    def area(self) -> np.ndarray:
        """Box areas in pixels."""
        return (self.xyxy[:, 2] - self.xyxy[:, 0]) * (self.xyxy[:, 3] - self.xyxy[:, 1])
