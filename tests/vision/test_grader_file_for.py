"""`grader_file_for`: the grader a card beside a model names is the file beside it, or, inside the shipped model
folder (which ships each ONNX file once), the shipped file with the card's grader sha256."""

from __future__ import annotations

from pathlib import Path

from vision.model_card import ModelCardDraft, sha256_file
from vision.registry import CARD_NAME, DEFAULT_INT8_DIR, DEFAULT_MODEL_DIR, ONNX_NAME, grader_file_for


def test_the_shipped_int8_finds_its_sources_grader_by_sha256() -> None:
    spec = ModelCardDraft.load(DEFAULT_INT8_DIR / CARD_NAME).grader
    assert spec is not None
    assert not (DEFAULT_INT8_DIR / spec.file).exists()  # the wheel holds the grader once, beside the fp32 model
    found = grader_file_for(DEFAULT_INT8_DIR / ONNX_NAME, spec)
    assert found.is_file() and found.resolve().is_relative_to(DEFAULT_MODEL_DIR.resolve())
    assert sha256_file(found) == spec.sha256


def test_a_file_beside_the_model_is_taken_as_it_is(tmp_path: Path) -> None:
    spec = ModelCardDraft.load(DEFAULT_MODEL_DIR / CARD_NAME).grader
    assert spec is not None
    beside = tmp_path / spec.file
    beside.write_bytes(b"not the shipped grader")  # the caller's sha256 check refuses it, not this lookup
    assert grader_file_for(tmp_path / ONNX_NAME, spec) == beside


def test_outside_the_shipped_folder_nothing_is_looked_up_by_sha256(tmp_path: Path) -> None:
    spec = ModelCardDraft.load(DEFAULT_MODEL_DIR / CARD_NAME).grader
    assert spec is not None
    missing = grader_file_for(tmp_path / ONNX_NAME, spec)
    assert missing == tmp_path / spec.file and not missing.exists()  # named missing by the caller
