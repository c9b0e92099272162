"""`qc export`: real ultralytics export of a real (conditioned random) YOLO11n, real fp16 conversion, real parity
check through ultralytics and our ONNX Runtime detector, real registry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
from conditioned_models import build_conditioned_checkpoint, drawn_frames

from training.export import ExportError, ExportResult, export_model, load_parity_frames, synthetic_parity_frames
from training.parity import ParityError, ParityTolerances, check_parity, compare_frame
from vision.detections import Detections
from vision.errors import InputError
from vision.model_card import ModelCardDraft
from vision.registry import Registry
from vision.taxonomy import Condition, Taxonomy

pytestmark = pytest.mark.slow  # ultralytics export and parity

IMGSZ = 320


@pytest.fixture(scope="session")
def conditioned_pt(tmp_path_factory: pytest.TempPathFactory, taxonomy: Taxonomy) -> Path:
    return build_conditioned_checkpoint(tmp_path_factory.mktemp("cond") / "cond0.pt", taxonomy, seed=0)


@pytest.fixture(scope="session")
def generated_frames(taxonomy: Taxonomy) -> list[np.ndarray]:
    """50 frames from the synthetic conveyor generator (small, to keep the test quick)."""
    return synthetic_parity_frames(50, taxonomy, width=320, height=192)


@pytest.fixture(scope="session")
def exported(
    tmp_path_factory: pytest.TempPathFactory,
    conditioned_pt: Path,
    generated_frames: list[np.ndarray],
    taxonomy: Taxonomy,
) -> ExportResult:
    return export_model(
        conditioned_pt,
        tmp_path_factory.mktemp("export"),
        IMGSZ,
        taxonomy=taxonomy,
        parity_frames=generated_frames,
        training={"note": "test"},
    )


def test_export_writes_fp32_and_fp16_with_cards_and_report(exported: ExportResult, taxonomy: Taxonomy) -> None:
    assert [m.dtype for m in exported.models] == ["fp32", "fp16"]
    assert exported.model("fp32").onnx_path.name == "model.onnx"
    assert exported.model("fp16").onnx_path.name == "model_fp16.onnx"
    # fp16 weights: about half the bytes.
    assert exported.model("fp16").size_bytes < 0.6 * exported.model("fp32").size_bytes
    for m in exported.models:
        draft = ModelCardDraft.load(m.card_path)
        assert draft == m.draft
        assert draft.dtype == m.dtype
        assert draft.classes == list(taxonomy.class_names)
        assert draft.input_size == (IMGSZ, IMGSZ)
        assert draft.letterbox.stride == 32 and draft.letterbox.dynamic_hw
        assert draft.training["note"] == "test"
        assert draft.training["export"]["dtype"] == m.dtype
        assert len(draft.training["checkpoint_sha256"]) == 64
    report = json.loads(exported.report_path.read_text())
    assert report["passed"] is True
    assert [m["dtype"] for m in report["models"]] == ["fp32", "fp16"]
    assert all(m["parity"]["passed"] and m["parity"]["frames"] == 50 for m in report["models"])


@pytest.mark.parametrize(("dtype", "np_dtype"), [("fp32", np.float32), ("fp16", np.float16)])
def test_exported_graph_has_dynamic_batch_and_its_dtype(exported: ExportResult, dtype: str, np_dtype: Any) -> None:
    session = ort.InferenceSession(str(exported.model(dtype).onnx_path), providers=["CPUExecutionProvider"])
    inp = session.get_inputs()[0]
    assert inp.type == ("tensor(float)" if dtype == "fp32" else "tensor(float16)")
    assert not isinstance(inp.shape[0], int)
    rng = np.random.default_rng(0)
    batch4 = rng.random((4, 3, 192, IMGSZ)).astype(np_dtype)
    out1 = session.run(None, {inp.name: batch4[:1]})[0]
    out4 = session.run(None, {inp.name: batch4})[0]
    anchors = (192 // 8) * (IMGSZ // 8) + (192 // 16) * (IMGSZ // 16) + (192 // 32) * (IMGSZ // 32)
    assert out1.shape == (1, 20, anchors)
    assert out4.shape == (4, 20, anchors)
    assert out4.dtype == np_dtype
    tol = 1e-3 if dtype == "fp32" else 0.5  # fp16 box coordinates: 0.25 px steps
    np.testing.assert_allclose(out4[0].astype(np.float32), out1[0].astype(np.float32), atol=tol)


@pytest.mark.parametrize("dtype", ["fp32", "fp16"])
def test_parity_passes_on_50_generated_frames(exported: ExportResult, dtype: str) -> None:
    report = exported.model(dtype).parity
    assert report is not None and report.passed, report.summary() if report else "no report"
    assert len(report.frames) == 50
    # The check compared real boxes, paired nearly all of them, and measured drift.
    assert report.torch_boxes >= 100
    assert report.matched >= 0.97 * report.torch_boxes
    assert report.violating_boxes <= report.allowed_violations
    if dtype == "fp32":  # same maths on both sides: everything pairs, nothing drifts
        assert report.unmatched == 0 and report.class_mismatches == 0 and report.violating_boxes == 0
        assert report.min_iou is not None and report.min_iou > 0.999
        assert report.max_score_diff is not None and report.max_score_diff < 1e-3


def test_exported_files_register_and_load_verified(exported: ExportResult, tmp_path: Path) -> None:
    reg = Registry.open(tmp_path / "reg", seed_from=None)
    fp32 = reg.register(exported.model("fp32").onnx_path, exported.model("fp32").draft, stage="production")
    fp16_draft = exported.model("fp16").draft.model_copy(update={"parent_version": fp32.version})
    fp16 = reg.register(exported.model("fp16").onnx_path, fp16_draft)
    assert fp32.onnx_sha256 == exported.model("fp32").sha256
    assert (fp32.version, fp16.version, fp16.parent_version) == ("v0001", "v0002", "v0001")
    card, path = reg.load_verified()
    assert card == fp32 and path.read_bytes() == exported.model("fp32").onnx_path.read_bytes()
    assert reg.load_verified("v0002")[0].dtype == "fp16"


def test_parity_fails_against_another_models_onnx(
    tmp_path: Path, conditioned_pt: Path, taxonomy: Taxonomy, generated_frames: list[np.ndarray]
) -> None:
    from tests.training.testing_models import export_onnx_plain

    other_pt = build_conditioned_checkpoint(tmp_path / "cond1.pt", taxonomy, seed=1)
    other_onnx = export_onnx_plain(other_pt, tmp_path / "other", imgsz=IMGSZ)
    report = check_parity(conditioned_pt, other_onnx, generated_frames[:10], taxonomy, IMGSZ)
    assert not report.passed
    assert report.violating_boxes > report.torch_boxes / 2
    with pytest.raises(ParityError, match=r"parity FAILED for cond1\.onnx"):
        report.raise_for_failure()


def test_export_fails_and_still_writes_the_report_when_parity_fails(
    tmp_path: Path, conditioned_pt: Path, taxonomy: Taxonomy
) -> None:
    impossible = {"fp32": ParityTolerances(min_iou=1.5)}  # no pair can pass: the failure path, end to end
    with pytest.raises(ParityError, match=r"IoU .* < 1.5") as exc:
        export_model(
            conditioned_pt,
            tmp_path,
            IMGSZ,
            taxonomy=taxonomy,
            half_variant=False,
            parity_frames=drawn_frames(3, seed=1),
            tolerances=impossible,
        )
    assert "export_report.json" in str(exc.value)
    report = json.loads((tmp_path / "export_report.json").read_text())
    assert report["passed"] is False and report["models"][0]["parity"]["passed"] is False
    assert not (tmp_path / "model_fp16.onnx").exists()


def test_parity_refuses_to_pass_when_nothing_was_compared(
    exported: ExportResult, conditioned_pt: Path, taxonomy: Taxonomy
) -> None:
    blank = [np.full((192, IMGSZ, 3), 60, np.uint8)]
    report = check_parity(conditioned_pt, exported.model("fp32").onnx_path, blank, taxonomy, IMGSZ, conf=0.99)
    assert report.torch_boxes == 0
    assert not report.passed
    assert "found 0 boxes" in report.summary()


def other_taxonomy() -> Taxonomy:
    return Taxonomy(produce=("pear",), conditions=(Condition("fresh", 1.0),))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"checkpoint_pt": "missing.pt"}, ExportError, "checkpoint not found"),
        ({"imgsz": 100}, ExportError, "not a multiple of the model stride 32"),
        ({"imgsz": 0}, ExportError, "imgsz must be an int >= 1, got 0"),
        ({"imgsz": True}, ExportError, "imgsz must be an int >= 1, got True"),
        ({"taxonomy": other_taxonomy()}, ExportError, "class names .* differ from the taxonomy"),
        ({"parity_frames": []}, InputError, "parity_frames is empty"),
    ],
)
def test_export_refuses_bad_requests(
    tmp_path: Path, conditioned_pt: Path, taxonomy: Taxonomy, kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    args: dict[str, Any] = {
        "checkpoint_pt": conditioned_pt,
        "out_dir": tmp_path / "out",
        "imgsz": IMGSZ,
        "taxonomy": taxonomy,
    }
    if kwargs.get("checkpoint_pt") == "missing.pt":
        kwargs = {"checkpoint_pt": tmp_path / "missing.pt"}
    args.update(kwargs)
    with pytest.raises(error, match=match):
        export_model(**args)
    assert not (tmp_path / "out" / "model.onnx").exists()


def dets(rows: list[tuple[float, float, float, float, float, int]]) -> Detections:
    arr = np.array(rows, np.float32).reshape(-1, 6)
    return Detections(
        xyxy=arr[:, :4],
        confidence=arr[:, 4],
        class_id=arr[:, 5].astype(np.int64),
        freshness=np.zeros(len(arr), np.float32),
    )


@pytest.mark.parametrize(
    ("torch_rows", "onnx_rows", "violating", "borderline"),
    [
        ([(10, 10, 60, 60, 0.8, 1)], [(10, 10, 60, 60, 0.8, 1)], 0, 0),
        ([], [], 0, 0),
        ([(10, 10, 60, 60, 0.8, 1)], [(10, 10, 60, 60, 0.805, 1)], 0, 0),  # drift within 0.01
        ([(10, 10, 60, 60, 0.8, 1)], [(10, 10, 60, 60, 0.82, 1)], 1, 0),  # score drift 0.02
        ([(10, 10, 60, 60, 0.8, 1)], [(12, 10, 62, 60, 0.8, 1)], 1, 0),  # shifted 2 px: IoU 0.92
        ([(10, 10, 60, 60, 0.8, 1)], [(10, 10, 60, 60, 0.8, 2)], 1, 0),  # other class, no scores to call it a tie
        ([(10, 10, 60, 60, 0.8, 1)], [], 1, 0),  # lost a confident box
        ([(10, 10, 60, 60, 0.26, 1)], [], 0, 1),  # lost a box at the threshold: borderline
        ([], [(10, 10, 60, 60, 0.9, 1), (30, 10, 80, 60, 0.5, 1)], 2, 0),  # extra boxes, no twin at all
        # ONNX kept a box its stronger neighbour overlaps at ~the NMS threshold (IoU 0.6): NMS rounding
        ([(0, 0, 100, 100, 0.9, 3)], [(0, 0, 100, 100, 0.9, 3), (0, 0, 100, 60, 0.7, 3)], 0, 1),
        # ONNX kept a box its paired stronger neighbour overlaps by 0.9: NMS disagreed for real (e.g. no NMS)
        ([(0, 0, 100, 100, 0.9, 3)], [(0, 0, 100, 100, 0.9, 3), (0, 0, 100, 90, 0.8, 3)], 1, 0),
        # torch has a strong box ONNX lacks, which suppressed a weaker one ONNX kept: they pair, one bad pair
        ([(0, 0, 100, 100, 0.9, 3)], [(0, 0, 100, 70, 0.7, 3)], 1, 0),
        # two classes on one spot: same-class twins pair up, nothing crosses
        (
            [(0, 0, 50, 50, 0.9, 3), (0, 0, 50, 50, 0.5, 7)],
            [(0, 0, 50, 50, 0.5, 7), (0, 0, 50, 50, 0.9, 3)],
            0,
            0,
        ),
    ],
)
def test_compare_frame_table(torch_rows: list[Any], onnx_rows: list[Any], violating: int, borderline: int) -> None:
    result = compare_frame(0, dets(torch_rows), dets(onnx_rows), ParityTolerances(), conf=0.25, iou_threshold=0.6)
    assert (result.violating_boxes, result.borderline_unmatched) == (violating, borderline), result.problems
    assert len(result.problems) >= result.violating_boxes


@pytest.mark.parametrize(
    ("torch_candidates", "onnx_candidates", "flips", "violating"),
    [
        # Both candidates exist on both sides with near-equal scores: each side kept the other one.
        (
            [(0, 0, 100, 100, 0.5, 3), (0, 0, 100, 80, 0.5, 3)],
            [(0, 0, 100, 100, 0.5, 3), (0, 0, 100, 80, 0.5, 3)],
            1,
            0,
        ),
        # The ONNX model never produced the torch box: a differently decoded box, not an NMS flip.
        ([(0, 0, 100, 100, 0.5, 3), (0, 0, 100, 80, 0.5, 3)], [(0, 0, 100, 80, 0.5, 3)], 0, 1),
        (None, None, 0, 1),
    ],
)
def test_nms_order_flip_needs_both_candidates_on_both_sides(
    torch_candidates: list[Any] | None, onnx_candidates: list[Any] | None, flips: int, violating: int
) -> None:
    candidates = None if torch_candidates is None else (dets(torch_candidates), dets(onnx_candidates or []))
    result = compare_frame(
        0,
        dets([(0, 0, 100, 100, 0.5, 3)]),
        dets([(0, 0, 100, 80, 0.5, 3)]),
        ParityTolerances(),
        0.25,
        0.6,
        candidates=candidates,
    )
    assert (result.nms_flips, result.violating_boxes) == (flips, violating), result.problems


def test_class_tie_is_not_a_mismatch() -> None:
    scores = np.zeros((1, 16), np.float32)
    scores[0, 2], scores[0, 1] = 0.801, 0.799
    onnx = dets([(10, 10, 60, 60, 0.801, 2)])
    onnx = Detections(onnx.xyxy, onnx.confidence, onnx.class_id, onnx.freshness, data={"class_scores": scores})
    result = compare_frame(0, dets([(10, 10, 60, 60, 0.8, 1)]), onnx, ParityTolerances(), 0.25, 0.6)
    assert (result.class_ties, result.class_mismatches, result.violating_boxes) == (1, 0, 0)


@pytest.mark.parametrize(
    ("dtype", "expected"),
    [("fp32", (0.98, 0.01, 0.0)), ("fp16", (0.95, 0.03, 0.01)), ("int8", InputError)],
)
def test_tolerance_defaults(dtype: str, expected: Any) -> None:
    if expected is InputError:
        with pytest.raises(InputError, match="no parity tolerances for dtype 'int8'"):
            ParityTolerances.for_dtype(dtype)
    else:
        t = ParityTolerances.for_dtype(dtype)
        assert (t.min_iou, t.max_score_diff, t.max_violation_share) == expected


def test_load_parity_frames(tmp_path: Path) -> None:
    import cv2

    (tmp_path / "images" / "val").mkdir(parents=True)
    for i, img in enumerate(drawn_frames(3, seed=2)):
        cv2.imwrite(str(tmp_path / "images" / "val" / f"{i}.png"), img)
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "0.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    frames = load_parity_frames(tmp_path, 2)
    assert len(frames) == 2 and frames[0].shape == (240, 320, 3) and frames[0].dtype == np.uint8
    with pytest.raises(InputError, match="no images"):
        load_parity_frames(tmp_path / "labels", 5)
    with pytest.raises(InputError, match="parity data folder not found"):
        load_parity_frames(tmp_path / "nope", 5)
