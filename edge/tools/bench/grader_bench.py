"""The grader's cost: it runs once per counted item, on that item's few kept crops, so it is measured per item.

A figure is the median over rounds of one grading call on `GRADE_VIEWS` crops (what an item hands the grader), the
crops cut from the bench's own frames with `vision.grader.grader_crop` (the cut itself, once per kept view, is
timed apart). Items per second is one over that: the rate of counted items the grader alone could keep up with.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge.tools.bench.stats import percentile
from edge.tracking.views import GRADE_VIEWS
from vision.errors import InputError
from vision.grader import Grader, grader_crop, grader_spec_for
from vision.model_card import ModelCardDraft
from vision.registry import grader_file_for

CALLS_PER_ROUND = 20  # grading calls timed per round: one call is a few ms, too short to time alone


@dataclass(frozen=True)
class GraderCost:
    """What grading one item costs: one call on ``views`` crops (each graded in ``turns`` quarter turns), and
    cutting one crop from a frame."""

    path: str
    provider: str
    input_size: int
    views: int
    turns: int
    ms_per_item: float
    crop_ms: float

    @property
    def items_per_s(self) -> float:
        """Items the grader alone could grade per second."""
        return 1000.0 / self.ms_per_item if self.ms_per_item > 0 else float("inf")

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "provider": self.provider, "input_size": self.input_size, "views": self.views,
                "turns": self.turns, "ms_per_item": round(self.ms_per_item, 3),
                "items_per_s": round(self.items_per_s, 1), "crop_ms": round(self.crop_ms, 3)}

    def line(self) -> str:
        """The table's line."""
        turned = f" x {self.turns} turns" if self.turns > 1 else ""
        return (f"grader {self.path} on {self.provider} ({self.input_size}x{self.input_size}): one item "
                f"({self.views} crops{turned}, one batch) {self.ms_per_item:.2f} ms = {self.items_per_s:.0f} items/s; "
                f"cutting a crop {self.crop_ms:.2f} ms per kept view (per item, not per frame)")


def grader_beside(model: Path, card: Path | None, given: Path | None) -> tuple[Path, Any] | None:
    """The grader to measure with ``model``: ``given`` (its card section read from the file, unless the card's
    section has its sha256), else the one the card beside the model names, beside it (in the shipped model folder:
    the shipped file with its sha256, `vision.registry.grader_file_for`); None when there is none."""
    spec = ModelCardDraft.load(card).grader if card is not None else None
    if given is not None:
        if not given.is_file():
            raise InputError(f"--grader {given}: no such file")
        return given, grader_spec_for(given, spec, note="given to qc bench --grader")
    if spec is None:
        return None
    path = grader_file_for(model, spec)
    if not path.is_file():
        raise InputError(f"the card beside {model} names a grader {spec.file}, not found beside it")
    return path, spec


def measure_grader(grader: Grader, images: list[np.ndarray], rounds: int) -> GraderCost:
    """Median cost of grading one item (`GRADE_VIEWS` crops, one call) and of cutting one crop, over ``rounds``."""
    if not images:
        raise InputError("the grader bench needs at least one frame")
    size, pad = grader.input_size, grader.crop_pad
    h, w = images[0].shape[:2]
    side = max(8.0, min(h, w) / 3)  # an item about a third of the frame: what a belt camera frames
    boxes = [np.array([x, (h - side) / 2, x + side, (h + side) / 2]) for x in np.linspace(0, w - side, GRADE_VIEWS)]
    crops = np.stack([grader_crop(images[i % len(images)], box, size, pad) for i, box in enumerate(boxes)])
    grader.grade_crops(crops)  # warm-up: the first run allocates
    item_ms, crop_ms = [], []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(CALLS_PER_ROUND):
            grader.grade_crops(crops)
        item_ms.append((time.perf_counter() - t0) * 1000 / CALLS_PER_ROUND)
        t0 = time.perf_counter()
        for k in range(CALLS_PER_ROUND):
            grader_crop(images[k % len(images)], boxes[k % len(boxes)], size, pad)
        crop_ms.append((time.perf_counter() - t0) * 1000 / CALLS_PER_ROUND)
    return GraderCost(path=str(grader.model_path), provider=grader.provider, input_size=size, views=GRADE_VIEWS,
                      turns=grader.turns,
                      ms_per_item=percentile(item_ms, 50) or 0.0, crop_ms=percentile(crop_ms, 50) or 0.0)
