"""Belt motion estimation and the belt-coordinate tracker, on clip truth and on hand-made boxes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from oracle_streams import load_truth, oracle_stream

from edge.tracking.belt import BeltConfig, BeltMotion, box_geometry, pair_displacements
from edge.tracking.tracker import BeltTracker, TrackerConfig
from vision.errors import InputError
from vision.taxonomy import Taxonomy

pytestmark = pytest.mark.slow  # tracks rendered clips with the shipped model

PLUS_X = np.array([1.0, 0.0])


def ids_per_item(truth: dict, taxonomy: Taxonomy, config: TrackerConfig) -> dict[int, set[int]]:
    """Track a clip's exact truth boxes; the set of track ids each truth item got."""
    tracker = BeltTracker(PLUS_X, config)
    got: dict[int, set[int]] = {}
    for frame, dets in oracle_stream(truth, taxonomy):
        step = tracker.update(frame.seq, dets.xyxy, dets.confidence, (truth["width"], truth["height"]))
        for tid, truth_id in zip(step.track_ids, dets.data["truth_id"]):
            got.setdefault(int(truth_id), set()).add(int(tid))
    return got


@pytest.mark.parametrize("speed", [0.5, 1.5, 2.5])
def test_belt_speed_is_found_within_a_few_frames(
    synth_clip: Callable[..., Path], taxonomy: Taxonomy, speed: float
) -> None:
    truth = load_truth(synth_clip(speed, 6))
    step = speed * truth["px_per_m"] / truth["fps"]
    belt = BeltMotion(PLUS_X)
    estimates = []
    for frame, dets in oracle_stream(truth, taxonomy):
        estimates.append(belt.observe(frame.seq, dets.xyxy, (truth["width"], truth["height"])))
    assert estimates[3] == pytest.approx(step, abs=1.0)  # six items a metre: ambiguous pairings, still right
    assert np.allclose(estimates[10:], step, atol=0.5)
    assert belt.offset == pytest.approx(step * (len(estimates) - 1), rel=0.01)


def test_one_track_per_item_at_2_5_m_s_thanks_to_the_belt_prior(
    synth_clip: Callable[..., Path], taxonomy: Taxonomy
) -> None:
    """~167 px between frames, so an item's consecutive boxes do not overlap. With the belt prior every item keeps
    one track; with the prior crippled (the estimator may not look beyond 32 px/frame) tracks fall apart."""
    truth = load_truth(synth_clip(2.5, 6))
    good = ids_per_item(truth, taxonomy, TrackerConfig())
    blind = ids_per_item(truth, taxonomy, TrackerConfig(belt=BeltConfig(max_step=0.05)))
    multi = [k for k, ids in good.items() if len(ids) > 1]
    assert len(good) > 40 and multi == []
    assert sum(len(ids) > 1 for ids in blind.values()) > len(blind) // 2


def test_prior_speed_is_used_until_boxes_say_otherwise() -> None:
    belt = BeltMotion(PLUS_X, BeltConfig(prior_speed=42.0))
    assert belt.observe(0, np.zeros((0, 4)), (640, 360)) == 42.0
    assert belt.observe(1, np.zeros((0, 4)), (640, 360)) == 42.0
    boxes = np.array([[100, 100, 160, 160]], float)
    belt.observe(2, boxes, (640, 360))
    for k in range(3, 12):
        belt.observe(k, boxes + [30 * (k - 2), 0, 30 * (k - 2), 0], (640, 360))
    assert belt.speed == pytest.approx(30.0, abs=0.5)


def test_cut_boxes_vote_with_their_uncut_edge() -> None:
    """An 80 px item entering the view at 30 px/frame: its cut box's centre moves 15 px, its leading edge 30."""
    geo_prev = box_geometry(np.array([[0, 100, 40, 180]], float), PLUS_X, (640, 360))
    geo_cur = box_geometry(np.array([[0, 100, 70, 180]], float), PLUS_X, (640, 360))
    assert geo_prev.cut_up[0] and not geo_prev.cut_down[0]
    steps, weights = pair_displacements(geo_prev, geo_cur, dt=1)
    assert steps.tolist() == [30.0] and weights[0] > 0
    leaving_prev = box_geometry(np.array([[560, 100, 640, 180]], float), PLUS_X, (640, 360))
    leaving_cur = box_geometry(np.array([[590, 100, 640, 180]], float), PLUS_X, (640, 360))
    assert pair_displacements(leaving_prev, leaving_cur, dt=2)[0].tolist() == [15.0]  # per frame over a 2-frame gap


@pytest.mark.parametrize(
    ("direction", "box", "cut_up", "cut_down"),
    [
        ((1, 0), (0, 10, 50, 60), True, False),
        ((1, 0), (600, 10, 640, 60), False, True),
        ((-1, 0), (0, 10, 50, 60), False, True),
        ((0, 1), (100, 0, 150, 40), True, False),
        ((0, -1), (100, 320, 150, 360), True, False),
        ((1, 0), (100, 0, 150, 40), False, False),  # the top border runs along the belt: cuts neither end
    ],
)
def test_which_side_the_frame_cuts(direction, box, cut_up: bool, cut_down: bool) -> None:
    g = box_geometry(np.array([box], float), np.array(direction, float), (640, 360))
    assert (bool(g.cut_up[0]), bool(g.cut_down[0])) == (cut_up, cut_down)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"prior_speed": float("inf")}, "prior_speed"),
        ({"max_step": 0.0}, "max_step"),
        ({"half_life": 0}, "half_life"),
    ],
)
def test_belt_config_errors(kwargs: dict, error: str) -> None:
    with pytest.raises(InputError, match=error):
        BeltConfig(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"high_conf": 1.5}, "high_conf"),
        ({"low_conf": 0.6, "high_conf": 0.5}, "low_conf"),
        ({"centre_gate": 0}, "centre_gate"),
        ({"max_lost": -1}, "max_lost"),
        ({"lost_per_hit": 0}, "lost_per_hit"),
    ],
)
def test_tracker_config_errors(kwargs: dict, error: str) -> None:
    with pytest.raises(InputError, match=error):
        TrackerConfig(**kwargs)


def test_tracker_rejects_bad_input() -> None:
    t = BeltTracker(PLUS_X)
    with pytest.raises(InputError, match="confidences"):
        t.update(0, np.zeros((2, 4)), np.zeros(1), (640, 360))
    t.update(5, np.zeros((0, 4)), np.zeros(0), (640, 360))
    with pytest.raises(InputError, match="does not follow"):
        t.update(5, np.zeros((0, 4)), np.zeros(0), (640, 360))


def test_a_track_ends_as_soon_as_the_belt_carries_it_out_of_view() -> None:
    t = BeltTracker(PLUS_X, TrackerConfig(max_lost=30))
    ended_at = {}
    for k in range(40):
        left = 300 + 40 * k
        boxes = np.array([[left, 100, min(left + 80, 640), 180]], float) if left + 32 <= 640 else np.zeros((0, 4))
        step = t.update(k, boxes, np.full(len(boxes), 0.9), (640, 360))
        for e in step.ended:
            ended_at[e.track_id] = (k, e.reason)
    assert ended_at == {1: (9, "exited")}  # last seen at k=7 (x 580..640), out of view at k=9, not 30 frames later


def test_belt_and_tracker_snapshots_are_json_and_exact(synth_clip: Callable[..., Path], taxonomy: Taxonomy) -> None:
    truth = load_truth(synth_clip(1.5, 6))
    stream = list(oracle_stream(truth, taxonomy))
    wh = (truth["width"], truth["height"])
    a = BeltTracker(PLUS_X)
    for frame, dets in stream[:30]:
        a.update(frame.seq, dets.xyxy, dets.confidence, wh)
    b = BeltTracker(PLUS_X)
    b.load_state(json.loads(json.dumps(a.to_state())))
    for frame, dets in stream[30:]:
        sa = a.update(frame.seq, dets.xyxy, dets.confidence, wh)
        sb = b.update(frame.seq, dets.xyxy, dets.confidence, wh)
        assert sa.track_ids.tolist() == sb.track_ids.tolist() and sa.ended == sb.ended
    with pytest.raises(InputError, match="malformed"):
        BeltTracker(PLUS_X).load_state({"belt": a.to_state()["belt"], "next_id": 1, "tracks": [{"id": 1}]})
