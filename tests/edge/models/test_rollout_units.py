"""The rollout's pure parts: shadow agreement, which card each role wants, the rollout settings; and the shadow
results table on both store backends."""

from __future__ import annotations

import numpy as np
import pytest

from edge.config import ConfigError, load_config
from edge.models.agreement import agreement
from edge.models.candidate import same_taxonomy_problem
from edge.models.stages import wanted_of
from edge.store import ShadowBox, ShadowFrame, Store, StoreValueError
from vision.detections import Detections
from vision.errors import InputError
from vision.model_card import ModelCard
from vision.taxonomy import Taxonomy


def dets(*boxes: tuple[float, float, float, float, int]) -> Detections:
    """Boxes (x0, y0, x1, y1, class id)."""
    if not boxes:
        return Detections.empty()
    arr = np.array(boxes, np.float32)
    n = len(boxes)
    return Detections(xyxy=arr[:, :4], confidence=np.full(n, 0.9, np.float32), class_id=arr[:, 4].astype(np.int64),
                      freshness=np.ones(n, np.float32))


A, B, C = (0, 0, 10, 10, 0), (20, 20, 40, 40, 1), (100, 100, 120, 130, 2)


@pytest.mark.parametrize(
    ("production", "shadow", "matched", "value"),
    [
        ((), (), 0, 1.0),  # both empty: full agreement
        ((A,), (), 0, 0.0),
        ((), (A,), 0, 0.0),
        ((A, B, C), (C, A, B), 3, 1.0),  # order does not matter
        ((A, B), (A,), 1, 0.5),  # a missed box
        ((A,), (A, B, C), 1, 1 / 3),  # extra boxes
        ((A,), ((0, 0, 10, 10, 3),), 0, 0.0),  # same place, another class
        ((A,), ((1, 1, 11, 11, 0),), 1, 1.0),  # IoU 0.68
        ((A,), ((5, 5, 15, 15, 0),), 0, 0.0),  # IoU 0.14
        # one-to-one: two shadow boxes over one production box match once
        ((A,), (A, (0.5, 0.5, 10.5, 10.5, 0)), 1, 0.5),
    ],
)
def test_agreement(production: tuple, shadow: tuple, matched: int, value: float) -> None:
    a = agreement(dets(*production), dets(*shadow), 0.5)
    assert (a.matched, a.n_production, a.n_shadow) == (matched, len(production), len(shadow))
    assert a.value == pytest.approx(value)


def test_agreement_maximises_matched_pairs() -> None:
    # p0-s0 is the best pair (IoU 0.82), but s0 is p1's only match (0.67; p1-s1 is 0.25): greedy-by-IoU matches
    # one pair, the assignment gives p0 s1 (0.54) and matches both
    p = dets((5, 0, 15, 10, 0), (8, 0, 18, 10, 0))
    s = dets((6, 0, 16, 10, 0), (2, 0, 12, 10, 0))
    assert agreement(p, s, 0.5).matched == 2


def test_agreement_refuses_a_bad_threshold() -> None:
    with pytest.raises(InputError, match="iou_threshold"):
        agreement(dets(A), dets(A), 0.0)


def card(version: str, stage: str, taxonomy: Taxonomy, **update: object) -> ModelCard:
    return ModelCard(classes=list(taxonomy.class_names), taxonomy=taxonomy.to_dict(), input_size=(320, 320),
                     version=version, onnx_sha256="0" * 64, stage=stage,  # type: ignore[arg-type]
                     created_at="2026-11-26T12:00:00+00:00", **update)  # type: ignore[arg-type]


def test_each_role_wants_the_newest_card_of_its_stage(taxonomy: Taxonomy) -> None:
    cards = [card("v0001", "archived", taxonomy), card("v0002", "production", taxonomy),
             card("v0003", "shadow", taxonomy), card("v0004", "shadow", taxonomy), card("v0005", "candidate", taxonomy)]
    wanted = wanted_of(cards)
    assert (wanted.production and wanted.production.version) == "v0002"
    assert wanted.canary is None
    assert (wanted.shadow and wanted.shadow.version) == "v0004"


def test_another_taxonomy_is_named_with_the_way_out(taxonomy: Taxonomy) -> None:
    fewer = Taxonomy.from_dict({**taxonomy.to_dict(), "produce": list(taxonomy.produce[:2])})
    assert same_taxonomy_problem(card("v0002", "production", taxonomy), card("v0001", "production", taxonomy)) is None
    problem = same_taxonomy_problem(card("v0002", "production", fewer), card("v0001", "production", taxonomy))
    assert problem is not None and "v0001" in problem and "restart the service" in problem


def test_rollout_settings() -> None:
    cams = [{"id": "belt1", "token": "token-belt1"}, {"id": "belt2", "token": "token-belt2"}]
    config = load_config(None, cameras=cams, rollout={"canary_cameras": ["belt2"], "watch_s": 2})
    assert (config.rollout.watch_s, config.rollout.canary_cameras, config.rollout.shadow) == (2, ["belt2"], True)
    with pytest.raises(ConfigError, match=r"rollout.canary_cameras names unknown camera\(s\) \['belt9'\]"):
        load_config(None, cameras=cams, rollout={"canary_cameras": ["belt9"]})
    with pytest.raises(ConfigError, match="rollout.watch_s"):
        load_config(None, cameras=cams, rollout={"watch_s": -1})
    with pytest.raises(ConfigError, match="rollout.surprise"):
        load_config(None, cameras=cams, rollout={"surprise": 1})


def shadow_frame(seq: int, agreement_value: float = 0.5, version: str = "v0003") -> ShadowFrame:
    return ShadowFrame(camera_id="cam1", seq=seq, model_version=version, production_version="v0001", n_production=2,
                       matched=1, agreement=agreement_value,
                       detections=(ShadowBox((1.04, 2.0, 30.0, 40.55), "apple", "fresh", 0.912345),
                                   ShadowBox((5.0, 5.0, 9.0, 9.0), "banana", "rotten", 0.5)))


def test_shadow_results_are_stored_once_per_frame_and_version(store: Store) -> None:
    assert store.record_shadow_frames([shadow_frame(1), shadow_frame(2)]) == 2
    assert store.record_shadow_frames([shadow_frame(2), shadow_frame(3)]) == 1  # a frame scored again: kept once
    assert store.record_shadow_frames([shadow_frame(2, version="v0004")]) == 1  # another shadow version
    stored = store.shadow_frames(model_version="v0003")
    assert [f.seq for f in stored] == [1, 2, 3]
    first = stored[0]
    assert (first.n_detections, first.n_production, first.matched, first.agreement) == (2, 2, 1, 0.5)
    assert first.detections[0] == ShadowBox((1.0, 2.0, 30.0, 40.5), "apple", "fresh", 0.9123)
    assert first.recorded_at is not None
    assert [f.model_version for f in store.shadow_frames(camera_id="cam1")] == ["v0003"] * 3 + ["v0004"]
    assert store.shadow_frames(camera_id="cam2") == []


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"agreement": 1.5}, "agreement"),
        ({"agreement": float("nan")}, "agreement"),
        ({"seq": -1}, "seq"),
        ({"model_version": ""}, "model_version"),
        ({"matched": 3}, "matched"),
    ],
)
def test_a_bad_shadow_result_is_refused_naming_it(store: Store, bad: dict, message: str) -> None:
    frame = shadow_frame(1)
    values = {**frame.__dict__, **bad}
    with pytest.raises(StoreValueError, match=message):
        store.record_shadow_frames([ShadowFrame(**values)])
    assert store.shadow_frames() == []
