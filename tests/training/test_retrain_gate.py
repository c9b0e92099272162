"""The promotion gate (pure) and the item-level flag metrics it gates on."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest

from training.evaluate import evaluate_model
from training.gate import EvalSummary, GateTolerances, check_metric, promotion_gate
from training.item_flags import FlagCounts, greedy_match, item_flags
from training.yolo_dataset import GroundTruth
from vision.detections import Detections
from vision.errors import InputError
from vision.taxonomy import Taxonomy

PROD = EvalSummary(map50=0.50, flag_precision=0.80, flag_recall=0.70, images=20)
TOL = GateTolerances(map50=0.02, flag_precision=0.03, flag_recall=0.03)


def summary(**changes: float | None) -> EvalSummary:
    values = {"map50": PROD.map50, "flag_precision": PROD.flag_precision, "flag_recall": PROD.flag_recall}
    values.update(changes)
    return EvalSummary(images=20, **values)


def test_equal_models_pass_with_a_reason_and_every_check_listed() -> None:
    report = promotion_gate({"holdout": PROD, "reviews": PROD}, {"holdout": PROD, "reviews": PROD}, TOL)
    assert report.passed and report.reason.startswith("passed")
    assert [(c.eval_set, c.metric) for c in report.checks] == [
        ("holdout", "map50"), ("holdout", "flag_precision"), ("holdout", "flag_recall"),
        ("reviews", "map50"), ("reviews", "flag_precision"), ("reviews", "flag_recall"),
    ]
    assert report.to_dict()["checks"][0] == {
        "eval_set": "holdout", "metric": "map50", "candidate": 0.5, "production": 0.5, "tolerance": 0.02, "passed": True
    }


@pytest.mark.parametrize(
    ("metric", "worse"),
    [("map50", 0.47), ("flag_precision", 0.76), ("flag_recall", 0.66)],
)
def test_each_metric_alone_fails_the_gate_and_is_named(metric: str, worse: float) -> None:
    candidate = {"holdout": PROD, "reviews": summary(**{metric: worse})}
    report = promotion_gate(candidate, {"holdout": PROD, "reviews": PROD}, TOL)
    assert not report.passed
    failed = [(c.eval_set, c.metric) for c in report.checks if not c.passed]
    assert failed == [("reviews", metric)]
    assert report.reason.startswith("failed: reviews " + metric) and f"{worse:.3f} <" in report.reason


@pytest.mark.parametrize(
    ("candidate", "production", "tolerance", "passed"),
    [
        (0.48, 0.50, 0.02, True),  # exactly at the tolerance: still passes (float rounding included)
        (0.4799, 0.50, 0.02, False),  # just beyond it
        (0.60, 0.50, 0.0, True),  # better
        (0.50, 0.50, 0.0, True),
        (0.51, 0.50, -0.02, False),  # a negative tolerance demands an improvement of that much
        (0.52, 0.50, -0.02, True),
        (None, None, 0.02, True),  # not measurable for either model
        (0.30, None, 0.02, True),  # production had nothing to lose
        (None, 0.50, 0.02, False),  # the candidate lost a measurable metric
    ],
)
def test_tolerance_edges(candidate: float | None, production: float | None, tolerance: float, passed: bool) -> None:
    assert check_metric("holdout", "map50", candidate, production, tolerance).passed is passed


def test_gate_refuses_to_compare_different_evaluation_sets() -> None:
    with pytest.raises(InputError, match="like with like"):
        promotion_gate({"holdout": PROD}, {"holdout": PROD, "reviews": PROD})
    with pytest.raises(InputError, match="at least one"):
        promotion_gate({}, {})
    with pytest.raises(InputError, match="tolerance for map50"):
        GateTolerances(map50=1.5)


def test_summary_reads_the_evaluation_report_json() -> None:
    report = {"map50": 0.4, "counts": {"images": 7}, "flags": {"precision": 0.5, "recall": None}}
    assert EvalSummary.of(report) == EvalSummary(map50=0.4, flag_precision=0.5, flag_recall=None, images=7)


# -- item-level flags --------------------------------------------------------------------------------------------

# Taxonomy-shaped freshness per class: classes 0..3 are one produce kind fresh/bruised/overripe/rotten.
CLASS_FRESHNESS = np.array([1.0, 0.6, 0.35, 0.0], np.float32)


def dets(xyxy: Sequence[Sequence[float]], conf: Sequence[float], fresh: Sequence[float]) -> Detections:
    boxes = np.asarray(xyxy, np.float32).reshape(-1, 4)
    return Detections(boxes, np.asarray(conf, np.float32), np.zeros(len(boxes), np.int64), np.asarray(fresh, np.float32))


def truth(xyxy: Sequence[Sequence[float]], cls: Sequence[int]) -> GroundTruth:
    return GroundTruth.of(np.asarray(xyxy, np.float32).reshape(-1, 4), cls)


A, B, C = (0, 0, 10, 10), (20, 0, 30, 10), (40, 0, 50, 10)


@pytest.mark.parametrize(
    ("gt", "pred", "expected"),
    [
        # rotten item flagged: tp; fresh item left alone: nothing
        (truth([A, B], [3, 0]), dets([A, B], [0.9, 0.9], [0.1, 0.95]), (1, 0, 0)),
        # rotten item seen as fresh: fn; fresh item flagged: fp
        (truth([A, B], [3, 0]), dets([A, B], [0.9, 0.9], [0.95, 0.1]), (0, 1, 1)),
        # a flagged box on nothing: fp; a bruised item missed entirely: fn
        (truth([A], [1]), dets([C], [0.9], [0.2]), (0, 1, 1)),
        # below the confidence threshold a flagged box does not count: the item is missed
        (truth([A], [2]), dets([A], [0.1], [0.2]), (0, 0, 1)),
        # two flagged boxes on one rotten item: one tp, the duplicate an fp
        (truth([A], [3]), dets([A, A], [0.9, 0.8], [0.1, 0.1]), (1, 1, 0)),
        # no ground truth, no boxes
        (truth([], []), dets([], [], []), (0, 0, 0)),
    ],
)
def test_item_flag_counts(gt: GroundTruth, pred: Detections, expected: tuple[int, int, int]) -> None:
    counts = item_flags([gt], [pred], CLASS_FRESHNESS, flag_below=0.8, conf=0.25)
    assert (counts.tp, counts.fp, counts.fn) == expected


def test_flag_threshold_decides_which_items_should_be_flagged() -> None:
    gt, pred = truth([A], [1]), dets([A], [0.9], [0.7])  # bruised (0.6), predicted 0.7
    assert item_flags([gt], [pred], CLASS_FRESHNESS, flag_below=0.8, conf=0.25) == FlagCounts(1, 0, 0, 0.8)
    # at 0.5 neither the bruised item nor the 0.7 prediction is a flag
    assert item_flags([gt], [pred], CLASS_FRESHNESS, flag_below=0.5, conf=0.25) == FlagCounts(0, 0, 0, 0.5)


def test_flag_precision_recall_and_json() -> None:
    counts = FlagCounts(tp=3, fp=1, fn=2, flag_below=0.8)
    assert counts.precision == 0.75 and counts.recall == 0.6
    assert counts.to_dict() == {"flag_below": 0.8, "precision": 0.75, "recall": 0.6, "tp": 3, "fp": 1, "fn": 2}
    assert FlagCounts(0, 0, 0, 0.8).precision is None and FlagCounts(0, 0, 0, 0.8).recall is None


def test_greedy_match_takes_the_most_confident_prediction_first() -> None:
    match = greedy_match(np.array([A, A], np.float32), np.array([0.3, 0.9], np.float32), np.array([A], np.float32), 0.5)
    assert match.tolist() == [-1, 0]


def test_item_flags_refuses_mismatched_inputs() -> None:
    with pytest.raises(InputError, match="prediction sets"):
        item_flags([truth([A], [0])], [], CLASS_FRESHNESS, conf=0.25)


def test_evaluation_reports_carry_item_flags(
    untrained_onnx: Path, make_yolo_dataset: Callable[..., Path], taxonomy: Taxonomy
) -> None:
    """`qc eval`'s report has the ``flags`` the gate reads: a model that detects nothing misses every spoiled item."""
    rotten, fresh = taxonomy.class_id("apple", "rotten"), taxonomy.class_id("apple", "fresh")
    bruised = taxonomy.class_id("banana", "bruised")
    data = make_yolo_dataset(
        {"test": [[(rotten, 0.3, 0.5, 0.2, 0.3), (fresh, 0.7, 0.5, 0.2, 0.3)], [(bruised, 0.5, 0.5, 0.3, 0.3)]]},
        taxonomy.class_names,
    )
    report = evaluate_model(data, model_path=untrained_onnx, taxonomy=taxonomy, split="all", conf=0.99).to_dict()
    assert report["flags"] == {"flag_below": 0.8, "precision": None, "recall": 0.0, "tp": 0, "fp": 0, "fn": 2}
    assert EvalSummary.of(report).flag_recall == 0.0
