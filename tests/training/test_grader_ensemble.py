"""`qc grader-ensemble`: two real ONNX graders folded into one file whose output is the mean of theirs, which our
`Grader` opens as any grader; members that cannot be averaged are refused by name."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from typer.testing import CliRunner

from tests.training.testing_models import colour_bias, colour_grader_onnx, colour_logits
from training.grader_ensemble import ensemble_graders
from vision.cli import build_app
from vision.errors import InputError
from vision.grader import Grader, grader_spec_from_onnx
from vision.taxonomy import Taxonomy


def _second(path: Path, **kwargs: object) -> Path:
    """A colour grader that disagrees with the first: its weights scaled down and its bias flipped."""
    return colour_grader_onnx(path, weights=colour_logits() * 0.05, bias=colour_bias()[::-1].copy(), **kwargs)


def _probs(path: Path, x: np.ndarray) -> np.ndarray:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"images": x})[0]


def test_the_merged_grader_outputs_the_mean_of_its_members(tmp_path: Path) -> None:
    a, b = colour_grader_onnx(tmp_path / "a.onnx"), _second(tmp_path / "b.onnx")
    report = ensemble_graders([a, b], tmp_path / "ens" / "grader.onnx")
    x = np.random.default_rng(0).random((5, 3, 64, 64), dtype=np.float32)
    pa, pb, merged = _probs(a, x), _probs(b, x), _probs(report.out, x)
    assert not np.allclose(pa, pb, atol=1e-2)  # the members disagree, so the mean is not either one
    np.testing.assert_allclose(merged, (pa + pb) / 2, atol=1e-6)
    np.testing.assert_allclose(merged.sum(axis=1), 1.0, atol=1e-5)
    assert [m["path"] for m in report.members] == [str(a), str(b)]
    assert report.members[0]["sha256"] != report.members[1]["sha256"]

    spec = grader_spec_from_onnx(report.out)  # the class names and size our runtime reads survive the merge
    assert list(spec.classes) == report.classes and spec.input_size == 64
    grader = Grader(report.out, spec, taxonomy=Taxonomy.load())
    probs = grader.grade(np.full((80, 80, 3), 60, np.uint8), np.array([[10, 10, 70, 70]], np.float32))
    assert probs.shape == (1, len(spec.classes)) and abs(float(probs.sum()) - 1.0) < 1e-4


def test_the_cli_writes_the_file_and_reports_its_members(tmp_path: Path) -> None:
    a, b, c = (colour_grader_onnx(tmp_path / "a.onnx"), _second(tmp_path / "b.onnx"),
               colour_grader_onnx(tmp_path / "c.onnx", weights=colour_logits() * 0.5))
    out = tmp_path / "merged.onnx"
    result = CliRunner().invoke(build_app(), ["grader-ensemble", str(a), str(b), str(c), "--out", str(out)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["out"] == str(out) and len(report["members"]) == 3
    x = np.random.default_rng(1).random((2, 3, 64, 64), dtype=np.float32)
    np.testing.assert_allclose(_probs(out, x), (_probs(a, x) + _probs(b, x) + _probs(c, x)) / 3, atol=1e-6)


@pytest.mark.parametrize(
    ("make_b", "message"),
    [
        (lambda p: colour_grader_onnx(p, names=("apple_rotten", "apple_fresh", "banana_fresh", "banana_rotten")),
         "same classes in the same order"),
        (lambda p: colour_grader_onnx(p, size=96), "'imgsz'"),
        (lambda p: colour_grader_onnx(p, softmax=False), "no Softmax"),
        (lambda p: colour_grader_onnx(p, names=None), "no class names"),
    ],
    ids=["class order", "input size", "logits", "no names"],
)
def test_members_that_cannot_be_averaged_are_refused(tmp_path: Path, make_b: object, message: str) -> None:
    a = colour_grader_onnx(tmp_path / "a.onnx")
    b = make_b(tmp_path / "b.onnx")  # type: ignore[operator]
    with pytest.raises(InputError, match=message):
        ensemble_graders([a, b], tmp_path / "out.onnx")
    assert not (tmp_path / "out.onnx").exists()


def test_one_member_the_same_file_twice_and_a_missing_file_are_refused(tmp_path: Path) -> None:
    a = colour_grader_onnx(tmp_path / "a.onnx")
    with pytest.raises(InputError, match="at least 2"):
        ensemble_graders([a], tmp_path / "out.onnx")
    with pytest.raises(InputError, match="twice"):
        ensemble_graders([a, tmp_path / "." / "a.onnx"], tmp_path / "out.onnx")
    with pytest.raises(InputError, match="does not exist"):
        ensemble_graders([a, tmp_path / "nope.onnx"], tmp_path / "out.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(InputError, match="not an ONNX model"):
        ensemble_graders([a, tmp_path / "junk.onnx"], tmp_path / "out.onnx")


def test_a_registered_version_carries_the_ensemble_as_its_one_grader(tmp_path: Path) -> None:
    """The registry stores, hashes and verifies the merged file as any grader, and our runtime grades with the copy."""
    from vision.model_card import ModelCardDraft, sha256_file
    from vision.registry import CARD_NAME, DEFAULT_MODEL_DIR, ONNX_NAME, Registry

    ens = ensemble_graders([colour_grader_onnx(tmp_path / "a.onnx"), _second(tmp_path / "b.onnx")],
                           tmp_path / "ens.onnx").out
    draft = ModelCardDraft.load(DEFAULT_MODEL_DIR / CARD_NAME).model_copy(
        update={"grader": grader_spec_from_onnx(ens), "parent_version": None})
    reg = Registry.open(tmp_path / "reg", seed_from=None)
    card = reg.register(DEFAULT_MODEL_DIR / ONNX_NAME, draft, stage="production", grader=ens)
    verified, _ = reg.load_verified(card.version)
    stored = reg.grader_path(verified)
    assert stored is not None and stored != ens and sha256_file(stored) == sha256_file(ens)
    assert verified.grader is not None and verified.grader.sha256 == sha256_file(ens)
    grader = Grader(stored, verified.grader, taxonomy=Taxonomy.load())
    probs = grader.grade(np.full((80, 80, 3), 200, np.uint8), np.array([[5, 5, 75, 75]], np.float32))
    assert probs.shape == (1, 4) and abs(float(probs.sum()) - 1.0) < 1e-4
