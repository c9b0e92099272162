"""ModelCard validation and the card-vs-graph check, on real ONNX Runtime sessions of real (tiny or YOLO) graphs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from onnx_builders import tiny_detector_onnx

from vision.errors import ModelLoadError
from vision.model_card import ModelCard, ModelCardDraft, sha256_file, verify_against_graph
from vision.taxonomy import Taxonomy


def draft_fields(tax: Taxonomy, /, **overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "classes": list(tax.class_names),
        "taxonomy": tax.to_dict(),
        "input_size": [64, 64],
        "dtype": "fp32",
    }
    fields.update(overrides)
    return fields


def card_for(path: Path, taxonomy: Taxonomy, **overrides: Any) -> ModelCard:
    return ModelCard(
        **draft_fields(taxonomy, **overrides),
        version="v0001",
        onnx_sha256=sha256_file(path),
        created_at="2026-01-01T00:00:00+00:00",
    )


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({}, None),
        ({"dtype": "fp16", "letterbox": {"stride": 32, "pad_value": 0, "center": False, "dynamic_hw": False}}, None),
        ({"classes": ["apple_fresh"]}, "differ from the taxonomy's class names"),
        ({"input_size": [64, 50]}, "not a multiple of the letterbox stride 32"),
        ({"input_size": [0, 64]}, "two positive ints"),
        ({"dtype": "bf16"}, "dtype"),
        ({"parent_version": "7"}, "parent_version must look like 'v0001'"),
        ({"taxonomy": {"produce": []}}, "taxonomy"),
        ({"surprise": 1}, "Extra inputs are not permitted"),
        ({"letterbox": {"stride": 32, "colour": 1}}, "Extra inputs are not permitted"),
        ({"spoiled_vote": {"tomato": 0.37, "apple": 1.0}}, None),
        ({"spoiled_vote": {"tomato": 0.0}}, r"spoiled_vote\['tomato'\] must be within"),
        ({"spoiled_vote": {"kiwi": 0.5}}, r"spoiled_vote names unknown produce kinds \['kiwi'\]"),
        ({"spoiled_vote": {"tomato": "a lot"}}, "spoiled_vote.tomato"),
    ],
)
def test_draft_validation(taxonomy: Taxonomy, tmp_path: Path, overrides: dict[str, Any], error: str | None) -> None:
    path = tmp_path / "draft.json"
    path.write_text(json.dumps(draft_fields(taxonomy, **overrides)))
    if error is None:
        draft = ModelCardDraft.load(path)
        assert draft.taxonomy_obj() == taxonomy
        assert draft.classes == list(taxonomy.class_names)
    else:
        with pytest.raises(ModelLoadError, match=error) as exc:
            ModelCardDraft.load(path)
        assert str(path) in str(exc.value)


@pytest.mark.parametrize(
    ("identity", "error"),
    [
        ({"version": "v0012", "onnx_sha256": "a" * 64}, None),
        ({"version": "12", "onnx_sha256": "a" * 64}, "version must look like 'v0001'"),
        ({"version": "v0001", "onnx_sha256": "A" * 64}, "64 lowercase hex"),
        ({"version": "v0001", "onnx_sha256": "a" * 64, "stage": "live"}, "stage"),
        ({"version": "v0001", "onnx_sha256": "a" * 64, "onnx_file": "../model.onnx"}, "plain file name"),
    ],
)
def test_card_round_trip_and_validation(
    taxonomy: Taxonomy, tmp_path: Path, identity: dict[str, Any], error: str | None
) -> None:
    raw = {**draft_fields(taxonomy), "created_at": "2026-01-01T00:00:00+00:00", **identity}
    path = tmp_path / "card.json"
    path.write_text(json.dumps(raw))
    if error is None:
        card = ModelCard.load(path)
        card.save(tmp_path / "again.json")
        assert ModelCard.load(tmp_path / "again.json") == card
        # A full card is also a valid draft source: identity is dropped, content kept.
        assert ModelCardDraft.load(path) == card.draft()
        assert card.stage == "candidate"
    else:
        with pytest.raises(ModelLoadError, match=error):
            ModelCard.load(path)


@pytest.mark.parametrize(
    ("content", "error"),
    [(None, "model card not found"), ("{not json", "not a readable JSON model card")],
)
def test_card_file_problems_name_the_file(tmp_path: Path, content: str | None, error: str) -> None:
    path = tmp_path / "card.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ModelLoadError, match=error):
        ModelCard.load(path)


@pytest.mark.parametrize(
    ("graph", "card", "error"),
    [
        ({}, {}, None),
        ({"h": "height", "w": "width"}, {"input_size": [320, 640]}, None),  # dynamic H/W accepts any size
        ({"fp16": True}, {"dtype": "fp16"}, None),
        ({"rows": 4 + 15}, {}, r"4 \+ 15 classes, card has 16 classes"),
        ({"h": 32}, {}, "graph input height is 32, card input_size says 64"),
        ({"w": 96}, {}, "graph input width is 96, card input_size says 64"),
        ({"channels": 1}, {}, "1 channels, expected 3"),
        ({"fp16": True}, {}, r"graph input type is tensor\(float16\), card dtype fp32"),
        ({}, {"dtype": "fp16"}, r"graph input type is tensor\(float\), card dtype fp16"),
        ({"names": ["a"] * 16}, {}, "class names embedded in the graph"),
    ],
)
def test_verify_against_graph(
    taxonomy: Taxonomy, tmp_path: Path, graph: dict[str, Any], card: dict[str, Any], error: str | None
) -> None:
    graph = {"rows": 4 + taxonomy.num_classes, **graph}
    path = tiny_detector_onnx(tmp_path / "tiny.onnx", **graph)
    model_card = card_for(path, taxonomy, **card)
    if error is None:
        verify_against_graph(model_card, path)
    else:
        with pytest.raises(ModelLoadError, match=error) as exc:
            verify_against_graph(model_card, path)
        assert str(path) in str(exc.value)


def test_verify_detects_a_flipped_byte(taxonomy: Taxonomy, tmp_path: Path) -> None:
    path = tiny_detector_onnx(tmp_path / "tiny.onnx", rows=4 + taxonomy.num_classes)
    card = card_for(path, taxonomy)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match=r"sha256 .* does not match card v0001"):
        verify_against_graph(card, path)


def test_verify_accepts_the_real_yolo_export(taxonomy: Taxonomy, untrained_onnx: Path) -> None:
    """The ultralytics export (dynamic batch/H/W, 4+16 output rows, names in metadata) matches a correct card."""
    card = card_for(untrained_onnx, taxonomy, input_size=[320, 320])
    verify_against_graph(card, untrained_onnx)
    wrong = card_for(untrained_onnx, taxonomy, input_size=[320, 320], dtype="fp16")
    with pytest.raises(ModelLoadError, match="card dtype fp16"):
        verify_against_graph(wrong, untrained_onnx)
