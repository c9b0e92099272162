"""training.evaluate and `qc eval`: COCO mAP (checked against pycocotools), operating-point matching, the report."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from training.evaluate import (
    MAX_DETS,
    OperatingPoint,
    coco_inputs,
    coco_metrics,
    default_model_path,
    evaluate_model,
    operating_points,
)
from training.yolo_dataset import DatasetError, GroundTruth
from vision.detections import Detections
from vision.errors import InputError, ModelLoadError, QCError
from vision.taxonomy import Taxonomy

NC = 16
TOL = 0.005


def dets(xyxy: Sequence[Sequence[float]], conf: Sequence[float], cls: Sequence[int]) -> Detections:
    """Predictions of one image (freshness is irrelevant to the metrics)."""
    boxes = np.asarray(xyxy, np.float32).reshape(-1, 4)
    return Detections(boxes, np.asarray(conf, np.float32), np.asarray(cls, np.int64), np.ones(len(boxes), np.float32))


def gt(xyxy: Sequence[Sequence[float]], cls: Sequence[int]) -> GroundTruth:
    return GroundTruth.of(np.asarray(xyxy, np.float32).reshape(-1, 4), cls)


def pycocotools_reference(
    truths: Sequence[GroundTruth], predictions: Sequence[Detections]
) -> tuple[float, float, list[float | None]]:
    """(AP50-95, AP50, per-class AP50) by pycocotools on the same COCO dicts, reduced the way summarize() does."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gt_dict, results = coco_inputs(truths, predictions, NC)
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = copy.deepcopy(gt_dict)
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(copy.deepcopy(results))
        ev = COCOeval(coco_gt, coco_dt, "bbox")
        ev.params.maxDets = list(MAX_DETS)
        ev.evaluate()
        ev.accumulate()
    p = ev.eval["precision"][:, :, :, 0, -1]  # [T, R, K] at area "all", maxDets 300
    t50 = int(np.flatnonzero(np.isclose(ev.params.iouThrs, 0.5))[0])
    per_class = [float(p[t50, :, k].mean()) if (p[t50, :, k] > -1).any() else None for k in range(NC)]
    return float(p[p > -1].mean()), float(p[t50][p[t50] > -1].mean()), per_class


# --- exact, hand-computable cases -----------------------------------------------------------------------------

A, B, C = [10, 10, 50, 50], [100, 100, 150, 150], [200, 10, 260, 70]


def test_two_gt_one_fp_ranked_above_one_tp_has_exact_coco_ap() -> None:
    # Ranked: FP (0.9) then TP (0.8): precision 0.5 at recall 0.5, nothing beyond. COCO's 101-point interpolation
    # gives 0.5 at recall 0.00..0.50 (51 points) and 0 above: AP = 51 * 0.5 / 101 at every IoU threshold.
    truths = [gt([A, B], [0, 0])]
    preds = [dets([C, A], [0.9, 0.8], [0, 0])]
    m = coco_metrics(truths, preds, NC)
    assert m.map50 == pytest.approx(25.5 / 101, abs=1e-9)
    assert m.map50_95 == pytest.approx(25.5 / 101, abs=1e-9)
    assert m.ap50[0] == pytest.approx(25.5 / 101, abs=1e-9)
    assert m.ap50[1:] == (None,) * (NC - 1)


@pytest.mark.parametrize(
    ("truths", "preds", "map50", "map50_95"),
    [
        pytest.param([gt([A, B], [0, 1])], [dets([A, B], [0.9, 0.8], [0, 1])], 1.0, 1.0, id="perfect"),
        pytest.param([gt([A], [0])], [dets([], [], [])], 0.0, 0.0, id="no-predictions"),
        pytest.param([gt([A], [0])], [dets([A], [0.9], [1])], 0.0, 0.0, id="wrong-class"),
        # A duplicate below the true positive comes after recall is already 1: interpolated precision stays 1.
        pytest.param([gt([A], [0])], [dets([A, A], [0.9, 0.8], [0, 0])], 1.0, 1.0, id="duplicate-below"),
        # A false positive of a class with no ground truth is outside COCO's mean (that class has no AP).
        pytest.param([gt([A], [0])], [dets([A, C], [0.9, 0.95], [0, 5])], 1.0, 1.0, id="fp-of-class-without-gt"),
        # IoU 0.72 passes thresholds .50 .55 .60 .65 .70 and fails the other five.
        pytest.param([gt([[0, 0, 100, 100]], [0])], [dets([[0, 0, 100, 72]], [0.9], [0])], 1.0, 0.5, id="iou-0.72"),
        # Per-class mean: class 0 perfect, class 1 missed entirely.
        pytest.param([gt([A, B], [0, 1])], [dets([A], [0.9], [0])], 0.5, 0.5, id="mean-over-classes"),
        # 150 items in one frame: COCO's default maxDets=100 would cap recall at 2/3.
        pytest.param(
            [gt([[i * 10, 0, i * 10 + 8, 8] for i in range(150)], [0] * 150)],
            [dets([[i * 10, 0, i * 10 + 8, 8] for i in range(150)], [0.5] * 150, [0] * 150)],
            1.0,
            1.0,
            id="crowded-frame-not-truncated",
        ),
        pytest.param([gt([], [])], [dets([A], [0.9], [0])], None, None, id="no-ground-truth-at-all"),
    ],
)
def test_coco_map_hand_cases(truths, preds, map50, map50_95) -> None:
    m = coco_metrics(truths, preds, NC)
    if map50 is None:
        assert m.map50 is None and m.map50_95 is None
    else:
        assert m.map50 == pytest.approx(map50, abs=1e-6)
        assert m.map50_95 == pytest.approx(map50_95, abs=1e-6)


@pytest.mark.parametrize(
    ("truths", "preds", "message"),
    [
        ([gt([A], [0])], [], "1 ground-truth images but 0 prediction sets"),
        ([gt([A], [0])], [dets([A], [0.9], [NC])], "prediction class id outside 0..15"),
        ([gt([A], [NC + 3])], [dets([A], [0.9], [0])], "ground truth class id outside 0..15"),
    ],
)
def test_inconsistent_metric_inputs_raise(truths, preds, message: str) -> None:
    with pytest.raises(InputError, match=message):
        coco_metrics(truths, preds, NC)


# --- cross-check against the reference evaluator ---------------------------------------------------------------


def scripted_scene(seed: int = 3) -> tuple[list[GroundTruth], list[Detections]]:
    """Twelve frames, several classes: jittered hits, misses, duplicates, false positives and confused classes."""
    rng = np.random.default_rng(seed)
    truths, preds = [], []
    for _ in range(12):
        n = int(rng.integers(0, 9))
        xy = rng.uniform(0, 500, (n, 2))
        wh = rng.uniform(20, 120, (n, 2))
        boxes = np.concatenate([xy, xy + wh], axis=1)
        cls = rng.integers(0, 6, n)
        truths.append(gt(boxes, cls))
        p_boxes, p_conf, p_cls = [], [], []
        for box, c in zip(boxes, cls):
            if rng.random() < 0.2:
                continue  # missed
            jitter = rng.normal(0, 0.08, 4) * np.tile(box[2:] - box[:2], 2)
            p_boxes.append(box + jitter)
            p_conf.append(rng.uniform(0.2, 1.0))
            p_cls.append(c if rng.random() > 0.15 else rng.integers(0, 6))  # sometimes the wrong class
            if rng.random() < 0.2:  # duplicate
                p_boxes.append(box + rng.normal(0, 3, 4))
                p_conf.append(rng.uniform(0.05, 0.9))
                p_cls.append(c)
        for _ in range(int(rng.integers(0, 4))):  # false positives
            xy0 = rng.uniform(0, 500, 2)
            p_boxes.append(np.concatenate([xy0, xy0 + rng.uniform(20, 100, 2)]))
            p_conf.append(rng.uniform(0.0, 1.0))
            p_cls.append(rng.integers(0, 8))
        preds.append(dets(np.reshape(p_boxes, (-1, 4)), p_conf, p_cls))
    return truths, preds


def assert_agrees_with_reference(truths: list[GroundTruth], preds: list[Detections]) -> tuple[float, float]:
    ours = coco_metrics(truths, preds, NC)
    ref_map, ref_map50, ref_per_class = pycocotools_reference(truths, preds)
    assert abs(ours.map50 - ref_map50) <= TOL
    assert abs(ours.map50_95 - ref_map) <= TOL
    for k, ref in enumerate(ref_per_class):
        assert (ours.ap50[k] is None) == (ref is None), k
        if ref is not None:
            assert abs(ours.ap50[k] - ref) <= TOL, k
    return ref_map50, ref_map


def test_scripted_scene_agrees_with_pycocotools() -> None:
    ref_map50, ref_map = assert_agrees_with_reference(*scripted_scene())
    # The scene must be neither trivial nor hopeless, or agreement would prove little.
    assert 0.2 < ref_map < ref_map50 < 0.95


def test_real_detector_output_agrees_with_pycocotools(
    untrained_onnx: Path, taxonomy: Taxonomy, make_yolo_dataset
) -> None:
    from training.yolo_dataset import load_dataset
    from vision.decode import DecodeOptions
    from vision.detector import Detector
    from vision.detector_options import InputOptions

    import cv2

    root = make_yolo_dataset({"val": [[(1, 0.4, 0.5, 0.3, 0.4)], [(6, 0.5, 0.5, 0.5, 0.5)], []]}, taxonomy.class_names)
    samples = load_dataset(root).samples("val")
    # Random weights score everything near the head's prior (~1e-4), so take every box the detector keeps.
    detector = Detector(
        untrained_onnx, taxonomy, decoding=DecodeOptions(conf_threshold=0.0), inputs=InputOptions(imgsz=320)
    )
    preds = detector.detect([cv2.imread(str(s.image_path)) for s in samples])
    assert sum(len(p) for p in preds) > 50
    # Random weights find nothing real, so half the ground truth is taken from the detector's own boxes (jittered):
    # AP then lands in the informative middle instead of at 0 for both evaluators.
    rng = np.random.default_rng(0)
    truths = []
    for s, p in zip(samples, preds):
        pick = rng.choice(len(p), size=min(len(p), 12), replace=False)
        borrowed = p.xyxy[pick] + rng.normal(0, 2, (len(pick), 4)).astype(np.float32)
        classes = np.concatenate([s.truth.class_id, p.class_id[pick]])
        truths.append(gt(np.concatenate([s.truth.xyxy, borrowed]), classes))
    ref_map50, _ = assert_agrees_with_reference(truths, preds)
    assert 0.05 < ref_map50 < 0.95


# --- operating point ---------------------------------------------------------------------------------------------

# taxonomy order: class = produce * 4 + condition; conditions fresh, bruised, overripe, rotten.
APPLE_ROTTEN, BANANA_ROTTEN, APPLE_FRESH = 3, 7, 0
CONDITION_OF_CLASS = np.arange(NC) % 4
PRODUCE_OF_CLASS = np.arange(NC) // 4


@pytest.mark.parametrize(
    ("truths", "preds", "groups", "expected"),
    [
        pytest.param(  # the condition is right though the produce kind is wrong: a rotten hit
            [gt([A], [BANANA_ROTTEN])], [dets([A], [0.9], [APPLE_ROTTEN])], CONDITION_OF_CLASS, {3: (1, 1, 1)},
            id="condition-matches-across-produce",
        ),
        pytest.param(  # ... and by produce kind it is a miss plus a false positive
            [gt([A], [BANANA_ROTTEN])], [dets([A], [0.9], [APPLE_ROTTEN])], PRODUCE_OF_CLASS,
            {0: (0, 1, 0), 1: (0, 0, 1)}, id="produce-mismatch",
        ),
        pytest.param(  # a duplicate is a false positive
            [gt([A], [APPLE_ROTTEN])], [dets([A, A], [0.9, 0.8], [3, 3])], CONDITION_OF_CLASS, {3: (1, 2, 1)},
            id="duplicate",
        ),
        pytest.param(  # below the operating threshold it does not count at all
            [gt([A], [APPLE_ROTTEN])], [dets([A, B], [0.9, 0.1], [3, 3])], CONDITION_OF_CLASS, {3: (1, 1, 1)},
            id="below-threshold-ignored",
        ),
        pytest.param(  # IoU 0.4 < 0.5
            [gt([[0, 0, 100, 100]], [APPLE_ROTTEN])], [dets([[0, 0, 100, 40]], [0.9], [3])], CONDITION_OF_CLASS,
            {3: (0, 1, 1)}, id="low-iou",
        ),
        pytest.param(  # COCO-style greedy: the higher-confidence box takes its best GT (IoU .74) first, leaving the
            # exact box only a GT at IoU .43; taken in list order both would have matched
            [gt([[0, 0, 100, 100], [40, 0, 140, 100]], [3, 3])],
            [dets([[0, 0, 100, 100], [15, 0, 115, 100]], [0.6, 0.9], [3, 3])],
            CONDITION_OF_CLASS, {3: (1, 2, 2)}, id="greedy-by-confidence",
        ),
        pytest.param(
            [gt([A, B], [APPLE_FRESH, APPLE_ROTTEN])], [dets([], [], [])], CONDITION_OF_CLASS,
            {0: (0, 0, 1), 3: (0, 0, 1)}, id="nothing-predicted",
        ),
    ],
)
def test_operating_points(truths, preds, groups, expected: dict[int, tuple[int, int, int]]) -> None:
    points = operating_points(truths, preds, groups, 4, conf=0.25)
    for g, point in enumerate(points):
        assert (point.tp, point.predictions, point.ground_truth) == expected.get(g, (0, 0, 0)), g


@pytest.mark.parametrize(
    ("point", "precision", "recall"),
    [(OperatingPoint(1, 2, 4), 0.5, 0.25), (OperatingPoint(0, 0, 3), None, 0.0), (OperatingPoint(0, 2, 0), 0.0, None)],
)
def test_precision_recall_are_null_without_a_denominator(point: OperatingPoint, precision, recall) -> None:
    assert (point.precision, point.recall) == (precision, recall)


# --- the whole evaluation: library, CLI ---------------------------------------------------------------------------


@pytest.fixture
def taxonomy_dataset(make_yolo_dataset, taxonomy: Taxonomy) -> Path:
    """Three frames labelled with the taxonomy's classes: two rotten items, a fresh one, a background frame."""
    return make_yolo_dataset(
        {
            "val": [
                [(APPLE_ROTTEN, 0.3, 0.4, 0.3, 0.4), (APPLE_FRESH, 0.7, 0.6, 0.25, 0.3)],
                [(BANANA_ROTTEN, 0.5, 0.5, 0.5, 0.3)],
                [],
            ]
        },
        taxonomy.class_names,
    )


def test_report_of_a_real_model(untrained_onnx: Path, taxonomy: Taxonomy, taxonomy_dataset: Path) -> None:
    from vision.model_card import sha256_file

    calls: list[tuple[int, int]] = []
    # Random weights score ~1e-4: an operating threshold that low (below MAP_CONF) gives the counts something to count.
    report = evaluate_model(
        taxonomy_dataset,
        model_path=untrained_onnx,
        taxonomy=taxonomy,
        conf=2e-4,
        batch=2,
        progress=lambda d, t: calls.append((d, t)),
    )
    r = json.loads(json.dumps(report.to_dict()))  # plain JSON all the way down
    assert calls == [(2, 3), (3, 3)]
    assert r["model"] == {"path": str(untrained_onnx), "sha256": sha256_file(untrained_onnx)}
    assert r["data"] == {"path": str(taxonomy_dataset / "data.yaml"), "split": "val"}
    assert r["imgsz"] == 320  # from the export's metadata: the model is dynamic
    assert r["conf"] == 2e-4 and r["map_conf"] == 0.001
    assert r["provider"].endswith("ExecutionProvider")
    assert r["counts"]["images"] == 3 and r["counts"]["gt_boxes"] == 3
    assert r["counts"]["predictions"] > r["counts"]["map_predictions"]  # the mAP pass keeps only >= MAP_CONF
    assert 0.0 <= r["map50"] <= 1.0 and 0.0 <= r["map50_95"] <= r["map50"]
    assert list(r["per_class"]) == list(taxonomy.class_names)
    assert {k for k, v in r["per_class"].items() if v is not None} == {"apple_fresh", "apple_rotten", "banana_rotten"}
    assert list(r["conditions"]) == list(taxonomy.condition_names)
    assert list(r["produce"]) == list(taxonomy.produce)
    assert r["conditions"]["rotten"]["ground_truth"] == 2 and r["conditions"]["bruised"]["ground_truth"] == 0
    assert r["conditions"]["bruised"]["recall"] is None
    assert sum(v["predictions"] for v in r["conditions"].values()) == r["counts"]["predictions"]



@pytest.mark.parametrize("conf", [1e-3, 2e-3, 5e-3])
def test_filtering_a_low_threshold_pass_equals_a_pass_at_the_threshold(
    untrained_onnx: Path, taxonomy: Taxonomy, taxonomy_dataset: Path, conf: float
) -> None:
    # evaluate_model runs once at MAP_CONF and filters for the operating point; this is why that is exact.
    # (Random weights score ~5e-5 to 1e-3 per class, item scores ~8e-4 to 1e-2: the thresholds sit where they do.)
    from vision.decode import DecodeOptions
    from vision.detector import Detector

    import cv2

    images = [cv2.imread(str(p)) for p in sorted((taxonomy_dataset / "images" / "val").iterdir())]
    low = Detector(untrained_onnx, taxonomy, decoding=DecodeOptions(conf_threshold=0.0)).detect(images)
    direct = Detector(untrained_onnx, taxonomy, decoding=DecodeOptions(conf_threshold=conf)).detect(images)
    for lo, di in zip(low, direct):
        kept = lo[lo.confidence >= conf]
        assert 0 < len(kept) < len(lo)
        np.testing.assert_array_equal(kept.xyxy, di.xyxy)
        np.testing.assert_array_equal(kept.class_id, di.class_id)


def test_default_model_is_the_registry_production_model_seeded_from_the_shipped_one(tmp_path: Path) -> None:
    import vision
    from vision.model_card import sha256_file

    shipped = Path(vision.__file__).resolve().parent / "default_model" / "model.onnx"
    path = default_model_path(tmp_path / "registry")
    assert path.is_relative_to(tmp_path / "registry")
    assert sha256_file(path) == sha256_file(shipped)


@pytest.mark.parametrize(
    ("case", "error", "message"),
    [
        ("missing-model", ModelLoadError, "model not found: "),
        ("missing-data", DatasetError, "data set not found: "),
        ("names-differ", DatasetError, "names do not match the taxonomy in use (3 classes vs 16)"),
        ("names-reordered", DatasetError, "class 0 is 'apple_bruised' in the data set but 'apple_fresh' in the"),
        ("bad-conf", InputError, "--conf must be in [0, 1], got 1.5"),
        ("bad-decode", InputError, "--decode must be one of ['full', 'scaled', 'device'], got 'half'"),
        ("bad-label", DatasetError, "val_0000.txt:1: class id 99 outside 0..15"),
    ],
)
def test_user_errors_are_clear(
    make_yolo_dataset, taxonomy: Taxonomy, tmp_path: Path, case: str, error: type[QCError], message: str
) -> None:
    names = list(taxonomy.class_names)
    if case == "names-differ":
        names = ["a", "b", "c"]
    elif case == "names-reordered":
        names[0], names[1] = names[1], names[0]
    root = make_yolo_dataset({"val": [[(0, 0.5, 0.5, 0.2, 0.2)]]}, names)
    if case == "bad-label":
        (root / "labels" / "val" / "val_0000.txt").write_text("99 0.5 0.5 0.2 0.2\n")
    model = tmp_path / "model.onnx"
    model.write_bytes(b"never loaded: every case fails before the detector starts")
    kwargs = {
        "missing-model": {"model_path": tmp_path / "nope.onnx"},
        "missing-data": {"data": tmp_path / "no-data"},
        "bad-conf": {"conf": 1.5},
        "bad-decode": {"decode": "half"},
    }.get(case, {})
    with pytest.raises(error) as info:
        evaluate_model(kwargs.pop("data", root), taxonomy=taxonomy, **{"model_path": model, **kwargs})
    assert message in str(info.value)
    assert isinstance(info.value, QCError)


def test_cli_prints_the_json_report(untrained_onnx: Path, taxonomy_dataset: Path) -> None:
    from typer.testing import CliRunner

    from vision.cli import build_app

    result = CliRunner().invoke(
        build_app(), ["eval", "--data", str(taxonomy_dataset), "--model", str(untrained_onnx), "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert {"map50", "map50_95", "per_class", "conditions", "produce", "counts", "model", "provider"} <= set(report)
    assert set(report["conditions"]["rotten"]) >= {"precision", "recall"}


def test_cli_raises_qc_error_for_a_bad_data_set(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from vision.cli import build_app

    model = tmp_path / "model.onnx"
    model.write_bytes(b"never loaded: the data set fails first")
    result = CliRunner().invoke(build_app(), ["eval", "--data", str(tmp_path), "--model", str(model)])
    assert isinstance(result.exception, DatasetError)
    assert "no data.yaml in data set folder" in str(result.exception)


def test_qc_eval_prints_an_error_line_and_exits_2(tmp_path: Path) -> None:
    qc = Path(sys.executable).with_name("qc")
    proc = subprocess.run(
        [str(qc), "eval", "--data", str(tmp_path), "--model", str(tmp_path / "missing.onnx")],
        capture_output=True,
        text=True,
        env={**os.environ, "YOLO_OFFLINE": "1"},
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert f"error: model not found: {tmp_path / 'missing.onnx'}" in proc.stderr
    assert proc.stdout == ""


def _labels_under_a_nested_images_folder(make_yolo_dataset, taxonomy: Taxonomy) -> Path:
    """A data set laid out as a source folder called "images" kept below the split: images/val/images/x.jpg with
    labels/val/images/x.txt. The ultralytics rule looks for images/val/labels/x.txt, which does not exist."""
    root = make_yolo_dataset({"val": [[(0, 0.5, 0.5, 0.2, 0.2)], [(1, 0.3, 0.3, 0.2, 0.2)]]}, taxonomy.class_names)
    for kind in ("images", "labels"):
        nested = root / kind / "val" / "images"
        nested.mkdir()
        for f in sorted((root / kind / "val").glob("val_*")):
            f.rename(nested / f.name)
    return root


def test_a_split_without_any_label_file_is_an_error_naming_the_split_and_the_label_folder(
    make_yolo_dataset, taxonomy: Taxonomy, tmp_path: Path
) -> None:
    root = _labels_under_a_nested_images_folder(make_yolo_dataset, taxonomy)
    model = tmp_path / "model.onnx"
    model.write_bytes(b"never loaded: the labels are checked first")
    with pytest.raises(DatasetError) as info:
        evaluate_model(root, model_path=model, taxonomy=taxonomy)
    message = str(info.value)
    assert "split 'val' has 2 image(s) but no label file for any of them" in message
    assert f"expected them in {root / 'images' / 'val' / 'labels'}" in message
    assert "a background image needs an empty label file" in message


def test_split_all_names_the_one_split_whose_labels_are_all_missing(
    make_yolo_dataset, taxonomy: Taxonomy, tmp_path: Path
) -> None:
    # val: one labelled image and one without a label file (a negative); test: no label file at all.
    root = make_yolo_dataset({"val": [[(0, 0.5, 0.5, 0.2, 0.2)], None], "test": [None, None]}, taxonomy.class_names)
    model = tmp_path / "model.onnx"
    model.write_bytes(b"never loaded: the labels are checked first")
    with pytest.raises(DatasetError, match=r"split 'test' has 2 image\(s\) but no label file"):
        evaluate_model(root, model_path=model, taxonomy=taxonomy, split="all")
    with pytest.raises(DatasetError, match=r"split 'test' has 2 image\(s\)"):
        evaluate_model(root, model_path=model, taxonomy=taxonomy, split="test")


def test_empty_label_files_are_valid_negatives_not_missing_labels(
    make_yolo_dataset, untrained_onnx: Path, taxonomy: Taxonomy
) -> None:
    root = make_yolo_dataset({"val": [[], []]}, taxonomy.class_names)  # each image has an empty label file
    report = evaluate_model(root, model_path=untrained_onnx, taxonomy=taxonomy, split="val").to_dict()
    assert report["counts"]["images"] == 2 and report["counts"]["gt_boxes"] == 0
    assert report["map50"] is None  # no ground truth: COCO has nothing to average, and that is not an error


def test_qc_eval_without_labels_prints_one_error_line_and_exits_2(
    make_yolo_dataset, taxonomy: Taxonomy, tmp_path: Path
) -> None:
    root = _labels_under_a_nested_images_folder(make_yolo_dataset, taxonomy)
    model = tmp_path / "model.onnx"
    model.write_bytes(b"never loaded: the labels are checked first")
    qc = Path(sys.executable).with_name("qc")
    proc = subprocess.run(
        [str(qc), "eval", "--data", str(root), "--model", str(model), "--json"],
        capture_output=True,
        text=True,
        env={**os.environ, "YOLO_OFFLINE": "1"},
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    error_lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1 and "split 'val'" in error_lines[0], proc.stderr
    assert str(root / "images" / "val" / "labels") in error_lines[0]
    assert "Traceback" not in proc.stderr and proc.stdout == ""
