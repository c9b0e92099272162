"""`qc quantize` on real components: the untrained YOLO11n export, a 16-frame `qc synth frames` data set, a real
registry folder. An untrained model's detections are meaningless, so its figures are checked for consistency,
not for quality."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from typer.testing import CliRunner

from training.quantize import (
    QuantizeError,
    calibration_batches,
    calibration_images,
    decode_nodes,
    quantize_int8,
    spread,
)
from training.quantize_check import judge, quantize_and_check
from training.synth.frames import generate_frames
from vision.cli import build_app
from vision.detector import Detector
from vision.detector_options import RuntimeOptions
from vision.errors import InputError, ModelLoadError, QCError
from vision.model_card import ModelCard, ModelCardDraft, graph_mismatches
from vision.registry import DEFAULT_MODEL_DIR, Registry, grader_file_for
from vision.taxonomy import Taxonomy

pytestmark = pytest.mark.slow  # int8 quantization and its evaluation


@pytest.fixture(scope="module")
def synth_set(tmp_path_factory: pytest.TempPathFactory, taxonomy: Taxonomy) -> Path:
    """16 `qc synth frames` frames at 320 x 192 (train 9, val 3, test 4 for this seed)."""
    out = tmp_path_factory.mktemp("synth") / "ds"
    generate_frames(out, 16, 5, taxonomy, 320, 192, 0.5, 0.2, 0.2)
    return out


@pytest.fixture(scope="module")
def registry_with_source(
    tmp_path_factory: pytest.TempPathFactory, untrained_onnx: Path, taxonomy: Taxonomy
) -> tuple[Registry, str, Path]:
    """A registry (seeded with the shipped model) holding the untrained model as a candidate: its version folder
    gives the source a card with a version, as a registry version or the shipped model has."""
    reg = Registry.open(tmp_path_factory.mktemp("registry"))
    draft = ModelCardDraft(classes=list(taxonomy.class_names), taxonomy=taxonomy.to_dict(), input_size=(320, 320))
    card = reg.register(untrained_onnx, draft, stage="candidate", reason="quantize test source")
    return reg, card.version, reg.path_of(card)


def _qc(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "YOLO_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "vision.cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def passed_run(
    tmp_path_factory: pytest.TempPathFactory, synth_set: Path, registry_with_source: tuple[Registry, str, Path]
) -> tuple[subprocess.CompletedProcess[str], Path, Path]:
    """`qc quantize ... --register --json` as a user runs it, from an empty working directory."""
    reg, _, source = registry_with_source
    cwd, out = tmp_path_factory.mktemp("cwd"), tmp_path_factory.mktemp("q") / "int8"
    done = _qc(
        "quantize", "--model", str(source), "--calibration", str(synth_set), "--frames", "8", "--out", str(out),
        "--register", "--registry", str(reg.root), "--json", cwd=cwd,
    )  # fmt: skip
    return done, out, cwd


def test_quantize_writes_an_int8_model_the_detector_loads(
    passed_run: tuple[subprocess.CompletedProcess[str], Path, Path], untrained_onnx: Path, taxonomy: Taxonomy
) -> None:
    done, out, _ = passed_run
    assert done.returncode == 0, done.stderr
    int8 = Detector(out / "model.onnx", taxonomy, runtime=RuntimeOptions(cpu_replicas=1))
    assert int8.input_dtype == np.float32  # QDQ: float in, float out
    graph = onnx.load(str(out / "model.onnx"))
    ops = {n.op_type for n in graph.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    assert any(t.data_type == onnx.TensorProto.INT8 for t in graph.graph.initializer)
    assert (out / "model.onnx").stat().st_size < 0.5 * untrained_onnx.stat().st_size
    # Our detector and ultralytics read these; the quantized graph must keep them.
    source_meta = {p.key: p.value for p in onnx.load(str(untrained_onnx)).metadata_props}
    meta = {p.key: p.value for p in graph.metadata_props}
    assert all(meta[k] == source_meta[k] for k in ("names", "stride", "imgsz"))
    assert int8.imgsz == (320, 320) and int8.stride == 32


def test_int8_outputs_track_the_source_on_the_same_tensor(
    passed_run: tuple[subprocess.CompletedProcess[str], Path, Path],
    untrained_onnx: Path,
    taxonomy: Taxonomy,
    synth_set: Path,
) -> None:
    _, out, _ = passed_run
    fp32 = Detector(untrained_onnx, taxonomy, runtime=RuntimeOptions(cpu_replicas=1))
    int8 = Detector(out / "model.onnx", taxonomy, runtime=RuntimeOptions(cpu_replicas=1))
    images = [cv2.imread(str(p)) for p in sorted((synth_set / "images" / "test").glob("*.jpg"))]
    x, _ = fp32.preprocess(images)
    a, b = fp32.infer(x), int8.infer(x)
    assert a.shape == b.shape and np.isfinite(b).all()
    # Box rows are pixel coordinates up to 320: an untrained model's boxes sit near their anchors, so both agree
    # closely; a broken quantization (a scale off by 2^k, a dropped decode) moves them by tens of pixels.
    assert np.abs(a[:, :4] - b[:, :4]).mean() < 2.0
    assert (b[:, 4:] >= 0).all() and (b[:, 4:] <= 1).all()


def test_report_has_both_evaluations_and_a_consistent_verdict(
    passed_run: tuple[subprocess.CompletedProcess[str], Path, Path], registry_with_source: tuple[Registry, str, Path]
) -> None:
    done, out, _ = passed_run
    report = json.loads(done.stdout)
    on_disk = json.loads((out / "quantize_report.json").read_text())
    assert on_disk == report
    src, q = report["metrics"]["source"], report["metrics"]["int8"]
    for m in (src, q):
        assert {"map50", "map50_95", "condition_recall", "flags", "size_bytes"} <= set(m)
        assert set(m["condition_recall"]) == {"fresh", "bruised", "overripe", "rotten"}
    assert json.loads((out / "eval.json").read_text())["map50"] == q["map50"]
    assert json.loads((out / "eval_source.json").read_text())["map50"] == src["map50"]
    assert report["map50_drop"] == pytest.approx(src["map50"] - q["map50"], abs=2e-6)
    assert report["passed"] is (report["map50_drop"] <= report["max_map50_drop"] + 1e-9)
    assert report["max_map50_drop"] == 0.01 and report["settings"]["max_map50_drop"] == 0.01
    # Without --eval, the calibration data set's test split; calibration came from its train split.
    assert report["eval"]["split"] == "test" and report["eval"]["images"] == 4
    assert report["calibration"]["split"] == "train" and report["calibration"]["frames"] == 8
    assert report["eval"]["calibration_frames_in_eval"] == 0
    assert report["source"]["version"] == registry_with_source[1]
    assert report["settings"]["float_decode_nodes"] > 0


def test_card_is_int8_verifies_against_the_graph_and_is_registered(
    passed_run: tuple[subprocess.CompletedProcess[str], Path, Path], registry_with_source: tuple[Registry, str, Path]
) -> None:
    done, out, _ = passed_run
    reg, source_version, _ = registry_with_source
    draft = ModelCardDraft.load(out / "card.json")
    assert draft.dtype == "int8" and draft.parent_version == source_version
    assert draft.metrics["map50"] == json.loads(done.stdout)["metrics"]["int8"]["map50"]
    assert draft.training["quantization"]["calibration"]["frames"] == 8
    session = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    assert graph_mismatches(draft, session) == []
    # The QDQ graph takes float32: an fp16 card on it is refused.
    fp16 = draft.model_copy(update={"dtype": "fp16"})
    assert any("card dtype fp16 needs tensor(float16)" in p for p in graph_mismatches(fp16, session))
    with pytest.raises(ModelLoadError, match="card dtype fp16 needs tensor"):
        reg.register(out / "model.onnx", fp16)

    (registered,) = json.loads(done.stdout)["registered"]
    card, path = reg.load_verified(registered["version"])  # sha256, external data, card vs graph
    assert card.dtype == "int8" and card.parent_version == source_version and card.stage == "candidate"
    assert path.read_bytes() == (out / "model.onnx").read_bytes()
    assert reg.eval_path(card) is not None


def test_no_stray_files_in_the_working_directory(passed_run: tuple[subprocess.CompletedProcess[str], Path, Path]) -> None:
    _, _, cwd = passed_run
    assert list(cwd.iterdir()) == []


def test_a_source_with_a_grader_gives_its_grader_to_the_int8_folder(
    tmp_path: Path, untrained_onnx: Path, synth_set: Path, taxonomy: Taxonomy
) -> None:
    # Detector and grader are one version: the int8 folder must serve and inspect without a --grader by hand.
    shipped = ModelCard.load(DEFAULT_MODEL_DIR / "card.json").grader
    assert shipped is not None
    reg = Registry.open(tmp_path / "reg")
    draft = ModelCardDraft(classes=list(taxonomy.class_names), taxonomy=taxonomy.to_dict(), input_size=(320, 320),
                           grader=shipped)
    card = reg.register(untrained_onnx, draft, grader=DEFAULT_MODEL_DIR / shipped.file)
    steps: list[str] = []
    outcome = quantize_and_check(reg.path_of(card), tmp_path / "int8", synth_set, taxonomy=taxonomy, frames=4,
                                 on_step=steps.append)
    copied = tmp_path / "int8" / shipped.file
    assert copied.read_bytes() == (DEFAULT_MODEL_DIR / shipped.file).read_bytes()
    assert outcome.draft.grader == shipped and grader_file_for(tmp_path / "int8" / "model.onnx", shipped) == copied
    assert any("copied" in s for s in steps)


def test_over_the_mAP50_limit_exits_3_writes_the_files_and_registers_nothing(
    tmp_path: Path, untrained_onnx: Path, synth_set: Path
) -> None:
    root = tmp_path / "reg"
    out = tmp_path / "out"
    result = CliRunner().invoke(
        build_app(),
        [
            "quantize", "--model", str(untrained_onnx), "--calibration", str(synth_set), "--frames", "4",
            "--out", str(out), "--max-map50-drop", "-1", "--register", "--registry", str(root),
        ],
    )  # fmt: skip
    assert result.exit_code == 3, result.output
    assert "FAILED" in result.stdout and "fp32" in result.stdout and "int8" in result.stdout
    report = json.loads((out / "quantize_report.json").read_text())
    assert report["passed"] is False and report["registered"] == []
    assert {"model.onnx", "card.json", "eval.json", "eval_source.json"} <= {p.name for p in out.iterdir()}
    assert not (out / "grader.onnx").exists()  # a source without a grader gives none
    assert not root.exists()  # --register with a failed bar does not even open the registry
    # No card beside the source: the draft is built from the taxonomy and the graph, without a parent.
    draft = ModelCardDraft.load(out / "card.json")
    assert draft.dtype == "int8" and draft.parent_version is None and draft.input_size == (320, 320)


@pytest.mark.parametrize(
    ("source", "drop", "limit", "passed"),
    [(0.9085, 0.0015, 0.01, True), (0.9085, 0.01, 0.01, True), (0.9085, 0.0101, 0.01, False), (0.5, -0.02, 0.0, True)],
)
def test_judge(source: float, drop: float, limit: float, passed: bool) -> None:
    got_drop, got_passed = judge(source, source - drop, limit)
    assert got_drop == pytest.approx(drop) and got_passed is passed


def test_judge_refuses_an_undefined_map50() -> None:
    with pytest.raises(InputError, match="no labelled boxes"):
        judge(None, 0.5, 0.01)


def test_calibration_tensors_are_what_the_detector_feeds(
    tmp_path: Path, untrained_onnx: Path, taxonomy: Taxonomy
) -> None:
    rng = np.random.default_rng(0)
    sizes = [(192, 320), (320, 320), (192, 320)]  # two shapes: each frame gets its own minimal rectangle
    paths = []
    for i, (h, w) in enumerate(sizes):
        paths.append(tmp_path / f"{i}.png")
        cv2.imwrite(str(paths[-1]), rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
    detector = Detector(untrained_onnx, taxonomy, runtime=RuntimeOptions(cpu_replicas=1))
    batches = list(calibration_batches(detector, paths, batch=8))
    assert sorted(t.shape for t, _ in batches) == [(1, 3, 320, 320), (2, 3, 192, 320)]
    alone = {i: detector.preprocess([cv2.imread(str(p))])[0][0] for i, p in enumerate(paths)}
    by_shape = {t.shape[2:]: t for t, _ in batches}
    np.testing.assert_array_equal(by_shape[(192, 320)][0], alone[0])
    np.testing.assert_array_equal(by_shape[(192, 320)][1], alone[2])
    np.testing.assert_array_equal(by_shape[(320, 320)][0], alone[1])


def test_calibration_images_fall_back_to_any_split(make_yolo_dataset, taxonomy: Taxonomy) -> None:
    names = taxonomy.class_names
    with_train = make_yolo_dataset({"train": [[]] * 3, "val": [[]] * 2}, names=names)
    _, split, images, available = calibration_images(with_train, taxonomy, 2)
    assert split == "train" and [p.parent.name for p in images] == ["train", "train"] and available == 3
    no_train = make_yolo_dataset({"val": [[]] * 2, "test": [[]] * 2}, names=names)
    _, split, images, available = calibration_images(no_train, taxonomy, 10)
    assert split == "all" and len(images) == 4 and available == 4


def test_calibration_frames_are_spread_over_a_mix_not_its_first_part(make_yolo_dataset, taxonomy: Taxonomy) -> None:
    # a mix's parts are runs of sorted names: the first frames alone would all be renders
    paths = [Path(f"comp__{i:03d}.jpg") for i in range(90)] + [Path(f"photos__{i:03d}.jpg") for i in range(30)]
    chosen = spread(paths, 8)
    assert chosen == sorted(chosen) and len(set(chosen)) == 8 and chosen[0] == paths[0]
    assert sum(p.name.startswith("photos__") for p in chosen) == 2
    assert spread(paths[:5], 8) == paths[:5]
    dataset = make_yolo_dataset({"train": [[]] * 12}, names=taxonomy.class_names)
    _, _, images, available = calibration_images(dataset, taxonomy, 4)
    everything = sorted((dataset / "images" / "train").iterdir())
    assert available == 12 and [p.name for p in images] == [everything[i].name for i in (0, 3, 6, 9)]


def test_keep_float_leaves_the_named_layers_float(
    tmp_path: Path, untrained_onnx: Path, synth_set: Path, taxonomy: Taxonomy
) -> None:
    built = quantize_int8(untrained_onnx, tmp_path / "q", synth_set, 4, taxonomy=taxonomy, keep_float=("/model.0/",))
    graph = onnx.load(str(built.onnx_path)).graph
    floats = {t.name for t in graph.initializer if t.data_type == onnx.TensorProto.FLOAT}
    convs = {n.name: n for n in graph.node if n.op_type == "Conv"}
    first = next(n for name, n in convs.items() if name.startswith("/model.0/"))
    later = next(n for name, n in convs.items() if name.startswith("/model.2/"))
    assert first.input[1] in floats  # its weights are the float initializer itself
    assert later.input[1] not in floats  # quantized: fed by a DequantizeLinear of int8 weights
    kept = built.settings["float_kept"]
    assert kept["prefixes"] == ["/model.0/"] and kept["nodes"] >= 1


def test_keep_float_refuses_a_prefix_that_names_no_node(
    tmp_path: Path, untrained_onnx: Path, synth_set: Path, taxonomy: Taxonomy
) -> None:
    with pytest.raises(InputError, match="'/model.99/'"):
        quantize_int8(untrained_onnx, tmp_path / "q", synth_set, 4, taxonomy=taxonomy, keep_float=("/model.99/",))
    assert not (tmp_path / "q").exists()


def test_decode_nodes_are_the_detect_heads(untrained_onnx: Path) -> None:
    names = decode_nodes(onnx.load(str(untrained_onnx)))
    graph = {n.name: n for n in onnx.load(str(untrained_onnx)).graph.node}
    assert names and all(n.startswith("/model.23/") for n in names)
    # The head's feature convs are quantized; only the DFL conv (a fixed arange kernel) stays float.
    assert all("/dfl/" in n for n in names if graph[n].op_type == "Conv")
    assert any(graph[n].op_type == "Softmax" for n in names)


def test_qc_quantize_exits_2_naming_a_missing_model(tmp_path: Path, synth_set: Path) -> None:
    done = _qc(
        "quantize", "--model", str(tmp_path / "nope.onnx"), "--calibration", str(synth_set), "--out",
        str(tmp_path / "out"), cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 2
    assert f"error: model file not found: {tmp_path / 'nope.onnx'}" in done.stderr
    assert done.stdout == "" and not (tmp_path / "out").exists()


def test_bad_inputs_name_the_problem(
    tmp_path: Path,
    untrained_onnx: Path,
    synth_set: Path,
    passed_run: tuple[subprocess.CompletedProcess[str], Path, Path],
) -> None:
    runner, app = CliRunner(), build_app()
    base = ["quantize", "--model", str(untrained_onnx), "--calibration", str(synth_set)]
    file_out = tmp_path / "a_file"
    file_out.write_text("x")
    cases: list[tuple[list[str], type[QCError], str]] = [
        ([*base, "--out", str(file_out)], InputError, f"output folder {file_out} is a file"),
        (
            ["quantize", "--model", str(untrained_onnx), "--calibration", str(tmp_path / "none"), "--out",
             str(tmp_path / "o1")],
            QCError,
            f"data set not found: {tmp_path / 'none'}",
        ),
        ([*base, "--eval", str(tmp_path / "none"), "--out", str(tmp_path / "o2")], QCError, "data set not found"),
        ([*base, "--split", "nosuch", "--out", str(tmp_path / "o3")], QCError, "no 'nosuch' split"),
        (
            ["quantize", "--model", str(passed_run[1] / "model.onnx"), "--calibration", str(synth_set), "--out",
             str(tmp_path / "o4")],
            QuantizeError,
            "is already quantized",
        ),
        (
            ["quantize", "--model", str(tmp_path), "--calibration", str(synth_set), "--out", str(tmp_path / "o5")],
            ModelLoadError,
            "is a directory, not a model file",
        ),
    ]  # fmt: skip
    for args, error, message in cases:
        result = runner.invoke(app, args)
        assert isinstance(result.exception, error), (args, result.output, result.exception)
        assert message in str(result.exception)
    for out in ("o1", "o2", "o3", "o4", "o5"):
        assert not (tmp_path / out).exists()
    usage = runner.invoke(app, [*base, "--frames", "0", "--out", str(tmp_path / "o6")])
    assert usage.exit_code == 2 and "--frames" in usage.output
