"""Tiny real ONNX detectors with known answers, and bad registry versions written by hand, for the rollout tests.

A `constant_detector_onnx` graph is a stride-32 Conv with zero weights and a chosen bias, reshaped to the
detector's (batch, 4 + nc, anchors) layout: every anchor says the same box and scores, so after NMS every frame gets
exactly that one box (or none when the scores are 0). Two such models agree (same box and class) or not, by
construction. Imported by sibling test modules (pytest puts this folder on sys.path); needs the `onnx` package.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from vision.model_card import ModelCard, ModelCardDraft, sha256_file
from vision.taxonomy import Taxonomy


def constant_detector_onnx(
    path: Path,
    *,
    nc: int,
    box: tuple[float, float, float, float] = (160.0, 120.0, 48.0, 48.0),
    class_id: int = 0,
    score: float = 0.9,
    anchors: int | None = None,
    external_data: str | None = None,
) -> Path:
    """A graph answering one box ``box`` (centre x, y, w, h in input pixels) of ``class_id`` at ``score`` on every
    frame. ``anchors``: a fixed anchor count in the Reshape, which fails at run time on any other input size (a
    model that loads and verifies but cannot run). ``external_data``: store the bias outside the graph file under
    this location (written as given, relative to the graph's folder)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rows = 4 + nc
    bias = np.zeros(rows, np.float32)
    bias[:4] = box
    bias[4 + class_id] = score
    weight = numpy_helper.from_array(np.zeros((rows, 3, 32, 32), np.float32), "w")
    bias_t = numpy_helper.from_array(bias, "b")
    shape = numpy_helper.from_array(np.array([0, rows, -1 if anchors is None else anchors], np.int64), "shape")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["images", "w", "b"], ["feat"], strides=[32, 32]),
         helper.make_node("Reshape", ["feat", "shape"], ["output0"])],
        "constant",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 3, "h", "w"])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, ["batch", rows, "anchors"])],
        initializer=[weight, bias_t, shape],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    if external_data is not None:
        # The bias lives in another file; its location is rewritten to ``external_data`` verbatim.
        from onnx.external_data_helper import set_external_data

        tensor = next(t for t in model.graph.initializer if t.name == "b")
        target = (path.parent / external_data).resolve()
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(tensor.raw_data or bias.tobytes())
        set_external_data(tensor, location=external_data)
        tensor.ClearField("raw_data")
        tensor.data_location = TensorProto.EXTERNAL
    onnx.save(model, str(path))
    return path


def draft_for(taxonomy: Taxonomy, input_size: tuple[int, int] = (320, 320), **extra: object) -> ModelCardDraft:
    """A card draft for a model of ``taxonomy``."""
    return ModelCardDraft(classes=list(taxonomy.class_names), taxonomy=taxonomy.to_dict(), input_size=input_size,
                          training={"note": "rollout test model"}, **extra)  # type: ignore[arg-type]


def write_version_by_hand(
    root: Path, version: str, onnx_bytes: bytes, draft: ModelCardDraft, stage: str = "production",
    *, extra_files: dict[str, bytes] | None = None,
) -> ModelCard:
    """A version folder written straight into a local registry, bypassing `Registry.register`'s checks (as a careless
    tool or a bad sync could): the graph (and ``extra_files``) first, the card, with the bytes' real sha256, last."""
    folder = root / "versions" / version
    folder.mkdir(parents=True)
    (folder / "model.onnx").write_bytes(onnx_bytes)
    for name, data in (extra_files or {}).items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    card = ModelCard(**draft.model_dump(), version=version, onnx_file="model.onnx",
                     onnx_sha256=sha256_file(folder / "model.onnx"), stage=stage,  # type: ignore[arg-type]
                     created_at="2026-11-26T12:00:00+00:00")
    tmp = folder / ".card.json.tmp"
    tmp.write_text(json.dumps(card.model_dump(mode="json"), indent=2))
    tmp.rename(folder / "card.json")
    return card
