"""Builders for tests of the training package: small real ultralytics-format data sets written with cv2."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import yaml

# One label: (class id, cx, cy, w, h) normalised, as ultralytics writes it.
Label = tuple[int, float, float, float, float]
DatasetBuilder = Callable[..., Path]


def _draw(labels: Sequence[Label], size: tuple[int, int], seed: int) -> np.ndarray:
    width, height = size
    rng = np.random.default_rng(seed)
    image = np.full((height, width, 3), 90, np.uint8)
    for cls, cx, cy, w, h in labels:
        x1, y1 = int((cx - w / 2) * width), int((cy - h / 2) * height)
        x2, y2 = int((cx + w / 2) * width), int((cy + h / 2) * height)
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        cv2.rectangle(image, (x1, y1), (x2, y2), colour, thickness=-1)
        cv2.putText(image, str(cls), (x1 + 2, y2 - 2), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1)
    return image


@pytest.fixture
def make_yolo_dataset(tmp_path: Path) -> DatasetBuilder:
    """Factory: ``make(splits, names=..., size=(w, h), yaml_extra=None, root=None, suffix=".jpg")`` -> data set folder.

    ``splits`` maps a split name to a list of images, each a list of `Label`; an image given as ``None`` gets no
    label file at all. The data.yaml has ``path: .`` and ``<split>: images/<split>`` unless ``yaml_extra``
    overrides keys (a value of None removes the key).
    """
    counter = iter(range(10_000))

    def make(
        splits: dict[str, list[list[Label] | None]],
        names: Sequence[str],
        size: tuple[int, int] = (160, 128),
        yaml_extra: dict[str, Any] | None = None,
        root: Path | None = None,
        suffix: str = ".jpg",
    ) -> Path:
        root = root or tmp_path / f"ds{next(counter)}"
        for split, images in splits.items():
            (root / "images" / split).mkdir(parents=True, exist_ok=True)
            (root / "labels" / split).mkdir(parents=True, exist_ok=True)
            for i, labels in enumerate(images):
                stem = f"{split}_{i:04d}"
                cv2.imwrite(str(root / "images" / split / f"{stem}{suffix}"), _draw(labels or [], size, seed=i))
                if labels is not None:
                    lines = [f"{c} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}" for c, cx, cy, w, h in labels]
                    (root / "labels" / split / f"{stem}.txt").write_text("\n".join(lines) + ("\n" if lines else ""))
        data: dict[str, Any] = {"path": ".", **{s: f"images/{s}" for s in splits}, "names": list(names)}
        for key, value in (yaml_extra or {}).items():
            if value is None:
                data.pop(key, None)
            else:
                data[key] = value
        (root / "data.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
        return root

    return make
