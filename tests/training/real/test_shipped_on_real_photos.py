"""The shipped version (detector + grader) on the held-out real photos: the figures the README states, as floors.

The validation split (`training.real.split`) is a quarter of the shared real photos that no shipped model trained
on. This reads the shared photos (see `conftest.real_produce`), so it skips with the reason where they are absent;
CI, whose machines hold them, requires it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from training.real.photo_eval import boxed_table, clutter_table, single_fruit_table
from training.real.sources import boxed_photos, clutter_photos, single_fruit_photos
from vision.detector import Detector
from vision.grader import Grader
from vision.model_card import ModelCard
from vision.registry import CARD_NAME, DEFAULT_MODEL_DIR
from vision.taxonomy import Taxonomy

# What the shipped version v0007 achieves on the validation split (README, "The shipped model"), a little below, as a
# guard against regressions (v0007: a box on 0.987, right produce 0.873, spoiled flagged 0.915, fresh flagged 0;
# boxed photos 0.720 / 0.706). Spoiled and fresh flagged hold the bars a warehouse needs (>= 0.9 within a photo or
# two, <= 0.08); right produce (>= 0.93) and the boxed photos (>= 0.9) are under them: see the README.
SINGLE_BOX = 0.95
SINGLE_RIGHT_PRODUCE = 0.85
SPOILED_FLAGGED = 0.87
FRESH_FLAGGED_AT_MOST = 0.04
GIVEN_A_BOX_RIGHT_PRODUCE = 0.86
BOXED_PRECISION = 0.70
BOXED_RECALL = 0.68


@pytest.fixture(scope="module")
def shipped() -> tuple[Detector, Grader | None, Taxonomy]:
    card = ModelCard.load(DEFAULT_MODEL_DIR / CARD_NAME)
    taxonomy = card.taxonomy_obj()
    detector = Detector(DEFAULT_MODEL_DIR / "model.onnx", taxonomy)
    grader = None
    if card.grader is not None:
        grader = Grader(DEFAULT_MODEL_DIR / card.grader.file, card.grader, taxonomy=taxonomy)
    return detector, grader, taxonomy


def _detect(detector: Detector):  # -> callable image -> Detections
    return lambda image: detector.detect([image])[0]


def test_single_fruit_validation_photos(real_produce: Path, shipped: tuple[Detector, Grader | None, Taxonomy]) -> None:
    detector, grader, taxonomy = shipped
    photos = [p for p in single_fruit_photos(real_produce, taxonomy) if p.split == "val"]
    assert len(photos) >= 60  # the split is the one the README reports
    overall = single_fruit_table(photos, _detect(detector), taxonomy, grader)["overall"]
    assert overall["box"] >= SINGLE_BOX
    assert overall["right_produce"] >= SINGLE_RIGHT_PRODUCE
    assert overall["spoiled_flagged"] >= SPOILED_FLAGGED
    assert overall["fresh_flagged"] <= FRESH_FLAGGED_AT_MOST
    assert overall["given_a_box"]["right_produce"] >= GIVEN_A_BOX_RIGHT_PRODUCE


def test_boxed_validation_photos(real_produce: Path, shipped: tuple[Detector, Grader | None, Taxonomy]) -> None:
    detector, grader, taxonomy = shipped
    photos = [p for p in boxed_photos(real_produce, taxonomy) if p.split == "val"]
    overall = boxed_table(photos, _detect(detector), taxonomy, grader)["overall"]
    assert overall["precision"] >= BOXED_PRECISION
    assert overall["recall"] >= BOXED_RECALL


def test_clutter_validation_photos(shipped: tuple[Detector, Grader | None, Taxonomy]) -> None:
    detector, grader, taxonomy = shipped
    photos = [p for p in clutter_photos() if p.split == "val"]
    table = clutter_table(photos, _detect(detector), taxonomy, grader)
    assert table["boxes"] == 0 and table["flagged"] == 0
