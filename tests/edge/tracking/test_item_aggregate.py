"""Aggregates over an item's frames: weighted median, produce/condition votes, flag policy, snapshots."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from edge.tracking.aggregate import MAX_SAMPLES, Evidence, FlagPolicy, weighted_median
from edge.tracking.item import Item
from vision.errors import InputError
from vision.model_card import check_spoiled_vote
from vision.taxonomy import Taxonomy


@pytest.mark.parametrize(
    ("values", "weights", "expected", "error"),
    [
        ([0.2, 0.9, 0.5], [1, 1, 1], 0.5, None),
        ([1.0, 1.0, 0.6, 1.0], [1, 1, 1, 1], 1.0, None),  # one flickered frame does not move it
        ([1.0, 0.0], [1, 1], 0.5, None),  # exactly half and half: the midpoint
        ([1.0, 0.0], [3, 1], 1.0, None),
        ([0.3], [0.01], 0.3, None),
        ([], [], None, "non-empty"),
        ([0.1, 0.2], [1], None, "equal"),
        ([0.1, 0.2], [0, 0], None, "positive sum"),
        ([0.1, float("nan")], [1, 1], None, "finite"),
    ],
)
def test_weighted_median(values: list, weights: list, expected: float | None, error: str | None) -> None:
    if error:
        with pytest.raises(InputError, match=error):
            weighted_median(np.array(values), np.array(weights))
    else:
        assert weighted_median(np.array(values), np.array(weights)) == pytest.approx(expected)


def _add(ev: Evidence, tax: Taxonomy, produce: str, condition: str, conf: float = 0.9, complete: bool = True) -> None:
    cid = tax.class_id(produce, condition)
    scores = np.full(tax.num_classes, 0.01, np.float32)
    scores[cid] = conf
    ev.add(cid, conf, float(tax.freshness(scores[None], np.array([cid]))[0]), complete, scores)


def test_flicker_fresh_bruised_fresh_stays_fresh(taxonomy: Taxonomy) -> None:
    ev = Evidence(taxonomy)
    for cond in ["fresh", "bruised", "fresh", "rotten", "fresh", "fresh"]:
        _add(ev, taxonomy, "apple", cond)
    v = ev.verdict(FlagPolicy())
    assert (v.produce, v.condition, v.flagged) == ("apple", "fresh", False)
    assert v.freshness > 0.9
    assert v.votes == {"apple": 6}


def test_spoiled_item_with_a_fresh_frame_is_flagged(taxonomy: Taxonomy) -> None:
    ev = Evidence(taxonomy)
    for cond in ["rotten", "rotten", "fresh", "overripe", "rotten"]:
        _add(ev, taxonomy, "banana", cond)
    v = ev.verdict(FlagPolicy())
    assert (v.condition, v.flagged) == ("rotten", True)


def test_produce_vote_weighs_confidence_and_completeness(taxonomy: Taxonomy) -> None:
    ev = Evidence(taxonomy)
    _add(ev, taxonomy, "tomato", "fresh", conf=0.9, complete=False)  # cut by the frame edge
    _add(ev, taxonomy, "tomato", "fresh", conf=0.9, complete=False)
    _add(ev, taxonomy, "orange", "fresh", conf=0.8, complete=True)
    v = ev.verdict(FlagPolicy())
    assert v.produce == "orange"  # one full view outweighs two edge views
    assert v.votes == {"tomato": 2, "orange": 1}


def _add_scores(ev: Evidence, tax: Taxonomy, scores: dict[str, float], complete: bool = True) -> None:
    """One frame with the given class scores (``"<produce>_<condition>"``), the rest near zero."""
    row = np.full(tax.num_classes, 0.001, np.float32)
    for name, value in scores.items():
        row[tax.class_names.index(name)] = value
    cid = int(row.argmax())
    ev.add(cid, float(row[cid]), float(tax.freshness(row[None], np.array([cid]))[0]), complete, row)


def test_produce_vote_follows_the_scores_not_the_arg_max(taxonomy: Taxonomy) -> None:
    # A rotten apple that looks like a rotten tomato (v0003's look-alike): most frames' arg-max is tomato, narrowly, while the
    # apple frames are clear. The arg-max vote said tomato (3 x 0.55 > 2 x 0.7); the scores say apple.
    ev = Evidence(taxonomy)
    for _ in range(3):
        _add_scores(ev, taxonomy, {"tomato_rotten": 0.55, "apple_rotten": 0.5})
    for _ in range(2):
        _add_scores(ev, taxonomy, {"apple_rotten": 0.7, "tomato_rotten": 0.1})
    v = ev.verdict(FlagPolicy())
    assert (v.produce, v.condition, v.flagged) == ("apple", "rotten", True)
    assert v.votes == {"tomato": 3, "apple": 2}  # votes still count the frames' arg-max kinds


V0003_VOTE = {"tomato": 0.37}  # the shipped model card's calibration (vision/default_model/card.json)


def test_spoiled_tomato_scores_are_discounted_fresh_and_clear_calls_are_not(taxonomy: Taxonomy) -> None:
    rotten_apple = Evidence(taxonomy)  # every frame says tomato first, with a steady apple score behind it
    for _ in range(5):
        _add_scores(rotten_apple, taxonomy, {"tomato_rotten": 0.8, "apple_rotten": 0.45})
    assert rotten_apple.verdict(FlagPolicy(), spoiled_vote=V0003_VOTE).produce == "apple"
    # Without a calibration (a model whose card has none) the scores alone say tomato.
    assert rotten_apple.verdict(FlagPolicy()).produce == "tomato"
    rotten_tomato = Evidence(taxonomy)
    for _ in range(5):
        _add_scores(rotten_tomato, taxonomy, {"tomato_rotten": 0.85, "apple_rotten": 0.05})
    assert rotten_tomato.verdict(FlagPolicy(), spoiled_vote=V0003_VOTE).produce == "tomato"
    fresh_tomato = Evidence(taxonomy)  # the discount is for spoiled classes only
    for _ in range(5):
        _add_scores(fresh_tomato, taxonomy, {"tomato_fresh": 0.6, "apple_fresh": 0.45})
    assert fresh_tomato.verdict(FlagPolicy(), spoiled_vote=V0003_VOTE).produce == "tomato"


def test_produce_vote_without_class_scores_is_the_arg_max_vote(taxonomy: Taxonomy) -> None:
    ev = Evidence(taxonomy)
    ev.add(taxonomy.class_id("orange", "fresh"), 0.9, 1.0, True)
    ev.add(taxonomy.class_id("apple", "fresh"), 0.6, 1.0, True)
    ev.add(taxonomy.class_id("apple", "fresh"), 0.2, 1.0, True, np.zeros(taxonomy.num_classes))  # no usable scores
    assert ev.verdict(FlagPolicy()).produce == "orange"
    assert ev.produce_vote() == pytest.approx([0.8, 0.0, 0.9, 0.0])


def test_spoiled_vote_factors_are_checked(taxonomy: Taxonomy) -> None:
    check_spoiled_vote({"tomato": 1.0, "apple": 0.1}, taxonomy.produce)
    with pytest.raises(InputError, match=r"spoiled_vote\['tomato'\] must be within \(0, 1\], got 0"):
        check_spoiled_vote({"tomato": 0})
    with pytest.raises(InputError, match=r"spoiled_vote\['tomato'\] must be within \(0, 1\], got 1.5"):
        check_spoiled_vote({"tomato": 1.5})
    with pytest.raises(InputError, match=r"must be within \(0, 1\], got nan"):
        check_spoiled_vote({"tomato": float("nan")})
    with pytest.raises(InputError, match=r"unknown produce kinds \['kiwi'\]"):
        check_spoiled_vote({"kiwi": 0.5}, taxonomy.produce)


def _counter(taxonomy: Taxonomy, override: dict[str, float] | None = None, **kwargs: Any) -> Any:
    from edge.tracking.counter import CameraCounter, CounterConfig
    from edge.tracking.line import CountingLine

    return CameraCounter("c", taxonomy, CounterConfig(line=CountingLine.vertical(320), spoiled_vote=override),
                         **kwargs)


def test_a_counter_votes_with_its_models_calibration_unless_the_config_names_one(taxonomy: Taxonomy) -> None:
    assert dict(_counter(taxonomy).spoiled_vote) == {}  # no model calibration given: undiscounted
    counter = _counter(taxonomy, model_version="v0003", model_spoiled_vote=V0003_VOTE)
    assert (counter.model_version, dict(counter.spoiled_vote)) == ("v0003", V0003_VOTE)
    counter.serve("v0004", {})  # a swap to a version without one: its items vote undiscounted
    assert (counter.model_version, dict(counter.spoiled_vote)) == ("v0004", {})
    pinned = _counter(taxonomy, {"apple": 0.5}, model_version="v0003", model_spoiled_vote=V0003_VOTE)
    assert dict(pinned.spoiled_vote) == {"apple": 0.5}
    pinned.serve("v0004", {"orange": 0.9})  # the config's calibration stays through swaps
    assert (pinned.model_version, dict(pinned.spoiled_vote)) == ("v0004", {"apple": 0.5})
    assert dict(_counter(taxonomy, {}, model_spoiled_vote=V0003_VOTE).spoiled_vote) == {}  # {} turns it off


def test_a_counter_names_a_calibrated_produce_kind_its_taxonomy_lacks() -> None:
    no_tomato = Taxonomy.from_dict({"produce": ["apple"], "conditions": [{"name": "fresh", "freshness": 1.0}]})
    _counter(no_tomato)  # no calibration anywhere: nothing to check
    with pytest.raises(InputError, match=r"unknown produce kinds \['tomatoe'\]"):
        _counter(no_tomato, {"tomatoe": 0.5})
    with pytest.raises(InputError, match=r"unknown produce kinds \['tomato'\]"):
        _counter(no_tomato, model_spoiled_vote=V0003_VOTE)


def test_sku_override_and_its_condition_row(taxonomy: Taxonomy) -> None:
    ev = Evidence(taxonomy)
    cid = taxonomy.class_id("apple", "bruised")
    for _ in range(3):  # no class scores: the condition vote goes to the SKU's produce row
        ev.add(cid, 0.9, 0.6, True, None, as_produce="tomato")
    v = ev.verdict(FlagPolicy(), produce_override="tomato")
    assert (v.produce, v.condition, v.flagged) == ("tomato", "bruised", True)
    with pytest.raises(InputError, match="not in the taxonomy"):
        ev.verdict(FlagPolicy(), produce_override="durian")


def test_samples_are_bounded(taxonomy: Taxonomy) -> None:
    ev = Evidence(taxonomy)
    for i in range(MAX_SAMPLES * 3):
        _add(ev, taxonomy, "apple", "fresh", conf=0.5 + 0.4 * (i % 2))
    assert len(ev.fresh_values) == MAX_SAMPLES
    assert min(ev.fresh_weights) == pytest.approx(0.9)  # the least-weighted samples went first
    assert ev.frames == MAX_SAMPLES * 3


def test_no_observation_has_no_verdict(taxonomy: Taxonomy) -> None:
    with pytest.raises(InputError, match="no observations"):
        Evidence(taxonomy).verdict(FlagPolicy())


@pytest.mark.parametrize(
    ("policy", "produce", "freshness", "flagged", "error"),
    [
        (FlagPolicy(), "apple", 0.79, True, None),
        (FlagPolicy(), "apple", 0.8, False, None),
        (FlagPolicy(default=0.5, per_produce={"banana": 0.9}), "banana", 0.85, True, None),
        (FlagPolicy(default=0.5, per_produce={"banana": 0.9}), "apple", 0.85, False, None),
        (None, None, None, None, "within \\[0, 1\\]"),
    ],
)
def test_flag_policy(policy, produce, freshness, flagged, error) -> None:
    if error:
        with pytest.raises(InputError, match=error):
            FlagPolicy(default=1.5)
        return
    assert policy.flagged(produce, freshness) is flagged


def test_flag_policy_names_unknown_produce(taxonomy: Taxonomy) -> None:
    with pytest.raises(InputError, match="durian"):
        FlagPolicy(per_produce={"durian": 0.5}).check(taxonomy)


def test_evidence_snapshot_round_trip(taxonomy: Taxonomy) -> None:
    ev = Evidence(taxonomy)
    for cond in ["fresh", "bruised", "bruised"]:
        _add(ev, taxonomy, "orange", cond)
    back = Evidence.from_state(taxonomy, json.loads(json.dumps(ev.to_state())))
    assert back.verdict(FlagPolicy()) == ev.verdict(FlagPolicy())
    small = Taxonomy.from_dict({"produce": ["apple"], "conditions": [{"name": "fresh", "freshness": 1.0}]})
    with pytest.raises(InputError, match="does not match the taxonomy"):
        Evidence.from_state(small, ev.to_state())


def test_evidence_snapshot_from_before_the_soft_vote(taxonomy: Taxonomy) -> None:
    ev = Evidence(taxonomy)
    for _ in range(2):
        _add(ev, taxonomy, "banana", "fresh")
    _add(ev, taxonomy, "orange", "fresh")
    old = ev.to_state()
    del old["class_weight"]
    old["produce_weight"] = [0.0, 1.8, 0.9, 0.0]  # the arg-max vote sums the old format kept per produce kind
    back = Evidence.from_state(taxonomy, json.loads(json.dumps(old)))
    assert back.produce_vote() == pytest.approx([0.0, 1.8, 0.9, 0.0])
    assert back.verdict(FlagPolicy()) == ev.verdict(FlagPolicy())


def test_item_to_dict_is_json_and_hides_crop_bytes() -> None:
    item = Item(
        camera_id="c", track_id=3, first_seq=1, last_seq=5, first_seen_at=0.1, last_seen_at=0.5, counted_seq=3,
        produce="apple", condition="rotten", freshness=0.1, flagged=True, votes={"apple": 5}, frames=5,
        best_box=(1.0, 2.0, 3.0, 4.0), best_seq=2, best_crop_jpeg=b"\xff\xd8jpeg",
    )
    d = json.loads(json.dumps(item.to_dict()))
    assert d["has_crop"] is True and "best_crop_jpeg" not in d
    assert "jpeg" not in repr(item)
