"""`qc retrain` refuses bad input before any work, naming the problem (exit 2 through `qc`'s error handling)."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from training.retrain import (
    FineTune,
    RetrainChecks,
    RetrainConfig,
    RetrainData,
    RetrainError,
    check_inputs,
    run_retrain,
)
from training.retrain_data import Source, assemble
from training.yolo_dataset import DatasetError
from vision.errors import InputError
from vision.model_card import ModelCardDraft
from vision.registry import DEFAULT_MODEL_DIR, Registry
from vision.taxonomy import Taxonomy


@pytest.fixture
def data(tmp_path: Path, make_yolo_dataset: Callable[..., Path], taxonomy: Taxonomy) -> dict[str, Path]:
    """Three tiny valid data sets (base, reviews, hold-out) named after the taxonomy."""
    names = taxonomy.class_names
    box = [(3, 0.5, 0.5, 0.3, 0.3)]
    return {
        "base": make_yolo_dataset({"train": [box, box], "val": [box]}, names, size=(64, 48)),
        "reviews": make_yolo_dataset({"train": [box] * 4, "val": [box]}, names, size=(64, 48)),
        "holdout": make_yolo_dataset({"test": [box]}, names, size=(64, 48)),
        "tmp": tmp_path,
    }


def _weightless_registry(root: Path) -> Registry:
    """A registry whose production model (the shipped ONNX) was registered without its torch weights."""
    registry = Registry.open(root, seed_from=None)
    draft = ModelCardDraft.load(DEFAULT_MODEL_DIR / "card.json")
    grader = DEFAULT_MODEL_DIR / draft.grader.file if draft.grader is not None else None
    registry.register(DEFAULT_MODEL_DIR / "model.onnx", draft.model_copy(update={"parent_version": None}),
                      stage="production", grader=grader)
    return registry


def _config(d: dict[str, Path], out: Path | None = None, weights: Path | None = None, **sources: Any) -> RetrainConfig:
    data = RetrainData(**{"base": d["base"], "holdout": d["holdout"], "reviews": d["reviews"], **sources})
    return RetrainConfig(out=out or d["tmp"] / "run", data=data, fine_tune=FineTune(weights=weights))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: _config(d, base=d["tmp"] / "nope"), r"--base .*nope: data set folder not found"),
        (lambda d: _config(d, holdout=d["tmp"]), r"--holdout .*: no data.yaml in it"),
        (lambda d: _config(d, reviews=d["tmp"] / "no_reviews"), r"--reviews .*no_reviews: data set folder not found"),
        (lambda d: _config(d, imports=(d["tmp"] / "imp",)), r"--import .*imp: data set folder not found"),
        (lambda d: _config(d, weights=d["tmp"] / "w.pt"), r"--weights .*w.pt: file not found"),
        (lambda d: _config(d, out=d["base"]), r"run folder .* is not empty; choose a new --out"),
    ],
)
def test_bad_inputs_are_named(data: dict[str, Path], change: Callable, message: str) -> None:
    with pytest.raises(RetrainError, match=message):
        check_inputs(change(data))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: FineTune(epochs=0), "epochs: input should be greater than or equal to 1, got 0"),
        (lambda: FineTune(imgsz=100), "imgsz: input should be a multiple of 32, got 100"),
        (lambda: FineTune(cache="yes"), "cache: input should be a valid boolean, got 'yes'"),
        (lambda: RetrainChecks(flag_below=1.5), "flag_below: input should be less than or equal to 1, got 1.5"),
        (lambda: RetrainChecks(parity_frames=True), "parity_frames: input should be a valid integer, got True"),
        (lambda: RetrainData(base=Path("b"), holdout=Path("h"), review_holdout=1.0),
         "review_holdout: input should be less than or equal to 0.99, got 1.0"),
    ],
)
def test_bad_settings_are_named_when_the_values_are_made(make: Callable[[], object], message: str) -> None:
    """A caller of `run_retrain` from Python gets the checks the CLI's options have."""
    with pytest.raises(InputError, match=re.escape(message)):
        make()


def test_a_production_model_without_weights_is_refused_before_any_work(
    data: dict[str, Path], taxonomy: Taxonomy
) -> None:
    registry = _weightless_registry(data["tmp"] / "registry")
    config = RetrainConfig(out=data["tmp"] / "run", data=RetrainData(base=data["base"], holdout=data["holdout"]))
    with pytest.raises(RetrainError, match=r"production model v\d+ .* has no stored torch weights.*pass --weights"):
        run_retrain(config, registry, taxonomy)
    assert not (data["tmp"] / "run").exists()


def test_the_cli_prints_the_error_and_exits_2(data: dict[str, Path]) -> None:
    _weightless_registry(data["tmp"] / "registry")
    done = subprocess.run(
        [sys.executable, "-m", "vision.cli", "retrain", "--base", str(data["base"]), "--holdout", str(data["holdout"]),
         "--registry", str(data["tmp"] / "registry"), "--out", str(data["tmp"] / "run"), "--no-mlflow"],
        capture_output=True, text=True,
    )
    assert done.returncode == 2
    assert "error: production model" in done.stderr and "pass --weights" in done.stderr


def test_frozen_holdout_frames_in_the_training_data_are_refused(data: dict[str, Path], taxonomy: Taxonomy) -> None:
    with pytest.raises(DatasetError, match="frozen hold-out set are in the training data"):
        assemble([Source("base", data["base"])], data["tmp"] / "run", taxonomy, frozen_holdout=data["base"])


def test_a_data_set_with_other_class_names_is_refused(
    data: dict[str, Path], make_yolo_dataset: Callable[..., Path], taxonomy: Taxonomy
) -> None:
    other = make_yolo_dataset({"train": [[(0, 0.5, 0.5, 0.2, 0.2)]], "val": [[]]}, ["cat", "dog"])
    with pytest.raises(DatasetError, match="names do not match the taxonomy"):
        assemble([Source("base", data["base"]), Source("import1", other)], data["tmp"] / "run", taxonomy)


def test_assembly_oversamples_reviews_and_holds_back_by_image_hash(data: dict[str, Path], taxonomy: Taxonomy) -> None:
    sources = [Source("base", data["base"]), Source("reviews", data["reviews"], reviewed=True)]
    # Fraction 0: nothing is held back and every reviewed training frame appears three times (val ones once).
    assembled = assemble(sources, data["tmp"] / "run", taxonomy, review_weight=3, review_holdout=0.0)
    assert assembled.counts["reviews"].train == 4 and assembled.counts["reviews"].held_back == 0
    assert assembled.manifest.splits["train"].images == 2 + 3 * 4
    assert assembled.manifest.splits["val"].images == 2 and assembled.review_holdout_dir is None
    again = assemble(sources, data["tmp"] / "run2", taxonomy, review_weight=3, review_holdout=0.0)
    assert again.manifest.content_hash == assembled.manifest.content_hash

    everything = assemble(sources, data["tmp"] / "run3", taxonomy, review_weight=3, review_holdout=0.999)
    assert everything.counts["reviews"].held_back == 5 and everything.review_holdout_dir is not None
    assert len(list((everything.review_holdout_dir / "images" / "test").rglob("*.jpg"))) == 5
