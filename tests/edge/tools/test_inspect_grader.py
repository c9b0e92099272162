"""`qc inspect` with a grader: the version's grader, or an unregistered pair (`--model` + `--grader`), grades each
counted item once, and the grader alone decides which items are flagged.

The video is painted: squares, one at a time, ride across a grey belt, red ones and dark ones. The detector is a
real ONNX graph built here that finds the one square in view (the centroid of the pixels far from belt grey) and
calls it a fresh apple with confidence 0.9; the colour grader reads red as a fresh apple and dark as a rotten one.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from edge.tools.inspect import inspect_video, load_models
from edge.tools.inspect_cli import inspect
from tests.training.testing_models import colour_grader_onnx, colour_grader_spec
from vision.errors import QCError
from vision.model_card import ModelCardDraft
from vision.registry import GRADER_NAME, Registry
from vision.taxonomy import Taxonomy

SIZE = 320  # the detector's static input
RED, DARK = (0, 0, 220), (25, 25, 25)
COLOURS = [RED, DARK, RED, DARK]


def centroid_detector_onnx(path: Path, nc: int, box_side: float = 45.0) -> Path:
    """(1, 3, 320, 320) -> (1, 4 + nc, 1): one box of side ``box_side`` at the centroid of the pixels whose channels
    differ from mid grey by more than 0.25 in all (summed), class 0 at min(0.9, their count / 50)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    ys, xs = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32) + 0.5
    consts = {
        "half": np.array(0.5, np.float32), "thr": np.array(0.25, np.float32), "eps": np.array(1e-6, np.float32),
        "k": np.array(1 / 50, np.float32), "cap": np.array(0.9, np.float32), "one_axis": np.array([1], np.int64),
        "xs": xs[None, None], "ys": ys[None, None], "wh": np.array([box_side, box_side], np.float32),
        "zeros": np.zeros(nc - 1, np.float32), "shape": np.array([1, 4 + nc, 1], np.int64),
    }
    node = helper.make_node
    nodes = [
        node("Sub", ["images", "half"], ["d"]), node("Abs", ["d"], ["a"]),
        node("ReduceSum", ["a", "one_axis"], ["m0"], keepdims=1),
        node("Sub", ["m0", "thr"], ["m1"]), node("Sign", ["m1"], ["m2"]), node("Relu", ["m2"], ["m"]),
        node("ReduceSum", ["m"], ["s"], keepdims=0),
        node("Mul", ["m", "xs"], ["mx"]), node("ReduceSum", ["mx"], ["sx"], keepdims=0),
        node("Mul", ["m", "ys"], ["my"]), node("ReduceSum", ["my"], ["sy"], keepdims=0),
        node("Add", ["s", "eps"], ["se"]), node("Div", ["sx", "se"], ["cx"]), node("Div", ["sy", "se"], ["cy"]),
        node("Mul", ["s", "k"], ["sk"]), node("Min", ["sk", "cap"], ["score"]),
        node("Unsqueeze", ["cx", "one_axis_0"], ["cx1"]), node("Unsqueeze", ["cy", "one_axis_0"], ["cy1"]),
        node("Unsqueeze", ["score", "one_axis_0"], ["score1"]),
        node("Concat", ["cx1", "cy1", "wh", "score1", "zeros"], ["flat"], axis=0),
        node("Reshape", ["flat", "shape"], ["output0"]),
    ]
    consts["one_axis_0"] = np.array([0], np.int64)
    graph = helper.make_graph(
        nodes, "centroid",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, SIZE, SIZE])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 4 + nc, 1])],
        initializer=[numpy_helper.from_array(v, k) for k, v in consts.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def painted_video(path: Path, colours: list[tuple[int, int, int]], w: int = 640, h: int = 360) -> Path:
    """Squares of 90 px, one in view at a time, crossing the frame at 30 px/frame; mp4 at 15 fps."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 15.0, (w, h))
    per_item = (w + 90) // 30 + 2
    for colour in colours:
        for k in range(per_item):
            image = np.full((h, w, 3), 128, np.uint8)
            x0 = -90 + 30 * k
            image[135:225, max(0, x0):max(0, x0 + 90)] = colour
            writer.write(image)
    writer.release()
    return path


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory, taxonomy: Taxonomy) -> tuple[Path, Path, Path]:
    """A video, the centroid detector and the colour grader (files, no card)."""
    folder = tmp_path_factory.mktemp("inspect_grader")
    video = painted_video(folder / "belt.mp4", COLOURS)
    detector = centroid_detector_onnx(folder / "detector.onnx", taxonomy.num_classes)
    grader = colour_grader_onnx(folder / "grader.onnx")
    return video, detector, grader


def cli() -> typer.Typer:
    app = typer.Typer()
    app.command("inspect")(inspect)
    app.command("noop")(lambda: None)
    return app


def test_an_unregistered_pair_flags_what_the_grader_sees(pair: tuple[Path, Path, Path]) -> None:
    video, detector, grader = pair
    alone = CliRunner().invoke(cli(), ["inspect", str(video), "--json", "--model", str(detector)])
    assert alone.exit_code == 0, alone.output
    report = json.loads(alone.stdout)
    assert report["model"]["grader"] is None
    assert [(it["produce"], it["flagged"], it["graded_views"]) for it in report["items"]] == [("apple", False, 0)] * 4

    graded = CliRunner().invoke(
        cli(), ["inspect", str(video), "--json", "--model", str(detector), "--grader", str(grader)])
    assert graded.exit_code == 0, graded.output
    report = json.loads(graded.stdout)
    assert report["model"]["grader"]["path"] == str(grader) and report["model"]["grader"]["input_size"] == 64
    assert [(it["condition"], it["flagged"]) for it in report["items"]] == [
        ("fresh", False), ("rotten", True), ("fresh", False), ("rotten", True)]
    assert all(it["graded_views"] == 3 for it in report["items"])
    assert report["total"] == 4 and report["total_flagged"] == 2


def test_the_registry_versions_grader_is_used(
    pair: tuple[Path, Path, Path], tmp_path: Path, taxonomy: Taxonomy, monkeypatch: pytest.MonkeyPatch
) -> None:
    video, detector, grader = pair
    draft = ModelCardDraft(classes=list(taxonomy.class_names), taxonomy=taxonomy.to_dict(), input_size=(SIZE, SIZE),
                           grader=colour_grader_spec(grader))
    monkeypatch.setenv("QC_REGISTRY", str(tmp_path / "registry"))
    card = Registry.open(seed_from=None).register(detector, draft, stage="production", grader=grader)
    models = load_models(None)
    assert models.grader is not None and models.grader.spec == card.grader
    assert models.info["version"] == card.version and models.info["grader"]["classes"] == card.grader.classes
    report, items = inspect_video(video, models.detector, model_info=models.info, grader=models.grader)
    assert [it.flagged for it in items] == [False, True, False, True]
    assert all(it.model_version == card.version for it in items)


def test_a_card_beside_the_model_brings_its_grader(pair: tuple[Path, Path, Path], tmp_path: Path,
                                                   taxonomy: Taxonomy) -> None:
    _, detector, grader = pair
    shutil.copyfile(detector, tmp_path / "model.onnx")
    shutil.copyfile(grader, tmp_path / GRADER_NAME)
    spec = colour_grader_spec(grader, produce_weight=0.25).model_copy(update={"turns": 4})
    ModelCardDraft(classes=list(taxonomy.class_names), taxonomy=taxonomy.to_dict(), input_size=(SIZE, SIZE),
                   grader=spec).save(tmp_path / "card.json")
    models = load_models(tmp_path / "model.onnx")
    assert models.grader is not None and models.grader.produce_weight == 0.25
    assert models.grader.turns == 4 and models.info["grader"]["turns"] == 4  # the card's turns, as served
    # --grader with the same file keeps the card's section (its produce weight); another file gets its own.
    assert load_models(tmp_path / "model.onnx", grader=grader).grader.produce_weight == 0.25  # type: ignore[union-attr]
    other = colour_grader_onnx(tmp_path / "other.onnx", bias=np.array([1.0, 10.0, 0.0, 8.0]))
    assert load_models(tmp_path / "model.onnx", grader=other).grader.produce_weight == 1.0  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("grader_arg", "error"),
    [
        ("missing.onnx", "--grader missing.onnx: no such file"),
        ("{nameless}", "embeds no class names"),
    ],
)
def test_grader_option_errors_name_the_problem(
    pair: tuple[Path, Path, Path], tmp_path: Path, grader_arg: str, error: str
) -> None:
    video, detector, _ = pair
    nameless = colour_grader_onnx(tmp_path / "nameless.onnx", names=None)
    args = ["inspect", str(video), "--json", "--model", str(detector), "--grader", grader_arg.format(nameless=nameless)]
    result = CliRunner().invoke(cli(), args)
    assert isinstance(result.exception, QCError), result.output
    assert re.search(re.escape(error), str(result.exception))
