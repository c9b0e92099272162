"""Counting accuracy on rendered clips (belt 0.5 / 1.5 / 2.5 m/s, 2 and 6 items per metre) with oracle detections
from the clip's truth: exact boxes, and boxes damaged as a real detector damages them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from oracle_streams import Damage, load_truth, oracle_stream, run_counter, score

from edge.tracking import CameraCounter, CounterConfig, CountingLine
from vision.taxonomy import Taxonomy

pytestmark = pytest.mark.slow  # counts rendered clips with the shipped model

CELLS = [(0.5, 2), (0.5, 6), (1.5, 2), (1.5, 6), (2.5, 2), (2.5, 6)]
DAMAGED = Damage(jitter_px=2.0, miss=0.05, flicker=0.05, false_positives=0.1, conf=(0.5, 0.95))


def _run(clip: Path, taxonomy: Taxonomy, damage: Damage):
    truth = load_truth(clip)
    c = CameraCounter("cam", taxonomy, CounterConfig(line=CountingLine.vertical(truth["width"] / 2)))
    items, sources = run_counter(c, oracle_stream(truth, taxonomy, damage, seed=5))
    return score(items, sources, truth, truth["width"] / 2), c, truth


@pytest.mark.parametrize(("speed", "density"), CELLS)
def test_exact_boxes_count_every_item_once(
    synth_clip: Callable[..., Path], taxonomy: Taxonomy, speed: float, density: float
) -> None:
    s, counter, truth = _run(synth_clip(speed, density), taxonomy, Damage())
    assert sum(s.truth.values()) >= 5  # the clip really has items crossing
    assert s.counted == s.truth
    assert (s.duplicates, s.missed, s.spurious, s.wrong_produce) == (0, 0, 0, 0)
    assert s.flag_precision == 1.0 and s.flag_recall == 1.0
    step = truth["speed_m_per_s"] * truth["px_per_m"] / truth["fps"]
    assert counter.belt_speed == pytest.approx(step, abs=0.5)


@pytest.mark.parametrize(("speed", "density"), CELLS)
def test_damaged_boxes_count_within_two_percent(
    synth_clip: Callable[..., Path], taxonomy: Taxonomy, speed: float, density: float
) -> None:
    """Jitter, 5 % missed boxes, 5 % class flicker, false positives: no item counted twice, totals within 2 %
    (at least one item of slack on these short clips), flags at >= 0.9 precision and recall."""
    s, _, _ = _run(synth_clip(speed, density), taxonomy, DAMAGED)
    total_truth, total_counted = sum(s.truth.values()), sum(s.counted.values())
    assert s.duplicates == 0
    assert abs(total_counted - total_truth) <= max(1, round(0.02 * total_truth))
    assert s.missed + s.spurious <= max(1, round(0.02 * total_truth))
    assert s.flag_precision >= 0.9 and s.flag_recall >= 0.9
