"""Seeding an empty registry from a shipped folder with history versions: a history version may omit its detector,
grader or torch weights when another file of the shipped folder holds it byte for byte (found by the sha256 its card
records); a detector or grader that is neither there nor found refuses the seeding, naming the version, the file and
the sha256, and leaves the registry empty (weights not found are left out: they are optional)."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx_builders import tiny_detector_onnx
from test_registry import make_draft

from tests.training.testing_models import COLOUR_GRADER_CLASSES, colour_grader_onnx, colour_grader_spec
from vision.errors import ModelLoadError
from vision.model_card import ModelCard, sha256_file
from vision.registry import GRADER_NAME, Registry
from vision.registry import model_registry
from vision.taxonomy import Taxonomy

MISSING_SHA = "0" * 64


@pytest.fixture()
def detectors(tmp_path: Path, taxonomy: Taxonomy) -> tuple[Path, Path]:
    """Two runnable detectors with the same I/O and different bytes (the shipped one and an older one)."""
    (tmp_path / "build").mkdir(exist_ok=True)
    new = tiny_detector_onnx(tmp_path / "build" / "new.onnx", rows=4 + taxonomy.num_classes)
    old = tmp_path / "build" / "old.onnx"
    model = onnx.load(str(new))
    model.doc_string = "an older training run"
    onnx.save(model, str(old))
    assert sha256_file(old) != sha256_file(new)
    return new, old


@pytest.fixture()
def graders(tmp_path: Path) -> tuple[Path, Path]:
    """The shipped grader and an older, different one."""
    new = colour_grader_onnx(tmp_path / "build" / "grader_new.onnx")
    old = colour_grader_onnx(tmp_path / "build" / "grader_old.onnx", bias=np.full(len(COLOUR_GRADER_CLASSES), 0.1))
    assert sha256_file(old) != sha256_file(new)
    return new, old


def write_card(folder: Path, taxonomy: Taxonomy, version: str, onnx_sha256: str, grader: Path | None = None,
               grader_sha256: str | None = None, **fields: Any) -> None:
    """A full shipped card (as the registry the version was trained in wrote it) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    draft = make_draft(taxonomy, **fields)
    if grader is not None:
        spec = colour_grader_spec(grader)
        draft = draft.model_copy(update={"grader": spec.model_copy(update={"sha256": grader_sha256 or spec.sha256})})
    ModelCard(
        **draft.model_dump(),
        version=version,
        onnx_sha256=onnx_sha256,
        created_at="2026-01-01T00:00:00+00:00",
    ).save(folder / "card.json")


@pytest.fixture()
def shipped(tmp_path: Path, taxonomy: Taxonomy, detectors: tuple[Path, Path], graders: tuple[Path, Path]) -> Path:
    """shipped/ (v0003, with grader) + history/v0001 (own, older detector) + history/v0002 (same detector and grader
    as the shipped one, files omitted: only card.json and eval.json)."""
    (new, old), (grader_new, grader_old) = detectors, graders
    root = tmp_path / "shipped"
    write_card(root, taxonomy, "v0003", sha256_file(new), grader=grader_new, parent_version="v0002")
    shutil.copyfile(new, root / "model.onnx")
    shutil.copyfile(grader_new, root / GRADER_NAME)
    v1 = root / "history" / "v0001"
    write_card(v1, taxonomy, "v0001", sha256_file(old), grader=grader_old)
    shutil.copyfile(old, v1 / "model.onnx")
    shutil.copyfile(grader_old, v1 / GRADER_NAME)
    v2 = root / "history" / "v0002"
    write_card(v2, taxonomy, "v0002", sha256_file(new), grader=grader_new, parent_version="v0001")
    (v2 / "eval.json").write_text('{"note": "v0002 eval"}\n')
    assert not (v2 / "model.onnx").exists() and not (v2 / GRADER_NAME).exists()
    return root


def test_a_history_version_without_its_files_is_seeded_from_an_identical_shipped_file(
    tmp_path: Path, shipped: Path
) -> None:
    reg = Registry.open(tmp_path / "reg", seed_from=shipped)
    assert [(c.version, c.stage) for c in reg.list()] == [
        ("v0001", "archived"), ("v0002", "archived"), ("v0003", "production")
    ]
    card, path = reg.load_verified("v0002")  # sha256, graph and grader checked against the card
    assert path.read_bytes() == (shipped / "model.onnx").read_bytes()
    grader = reg.grader_path(card)
    assert grader is not None and grader.read_bytes() == (shipped / GRADER_NAME).read_bytes()
    # The registry holds its own copies: nothing points back into the shipped folder.
    assert path.is_relative_to(tmp_path / "reg") and grader.is_relative_to(tmp_path / "reg")
    assert not path.is_symlink() and not grader.is_symlink()
    eval_path = reg.eval_path(card)
    assert eval_path is not None and "v0002 eval" in eval_path.read_text()
    assert card.parent_version == "v0001"  # the lineage the history brought along
    assert card.history[0].reason.startswith("seeded from the shipped model's history")
    _, old_path = reg.load_verified("v0001")
    assert old_path.read_bytes() == (shipped / "history" / "v0001" / "model.onnx").read_bytes()
    assert reg.load_verified()[0].version == "v0003"


def test_a_grader_is_found_in_another_history_version_too(tmp_path: Path, shipped: Path, taxonomy: Taxonomy) -> None:
    """Any *.onnx under the shipped folder counts, history included: v0002's grader may be v0001's bytes."""
    v1, v2 = shipped / "history" / "v0001", shipped / "history" / "v0002"
    card = ModelCard.load(v2 / "card.json")
    old_grader = colour_grader_spec(v1 / GRADER_NAME)
    write_card(v2, taxonomy, "v0002", card.onnx_sha256, grader=v1 / GRADER_NAME, parent_version=card.parent_version)
    reg = Registry.open(tmp_path / "reg", seed_from=shipped)
    seeded = reg.get("v0002")
    assert seeded.grader is not None and seeded.grader.sha256 == old_grader.sha256
    grader = reg.grader_path(seeded)
    assert grader is not None and grader.read_bytes() == (v1 / GRADER_NAME).read_bytes()


def test_nothing_is_hashed_for_lookup_when_every_file_is_there(
    tmp_path: Path, shipped: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    v2 = shipped / "history" / "v0002"
    shutil.copyfile(shipped / "model.onnx", v2 / "model.onnx")
    shutil.copyfile(shipped / GRADER_NAME, v2 / GRADER_NAME)

    def no_lookup(*args: object, **kwargs: object) -> Path:
        raise AssertionError("the sha256 index was built although no file was missing")

    monkeypatch.setattr(model_registry.ShippedFiles, "lookup", no_lookup)
    reg = Registry.open(tmp_path / "reg", seed_from=shipped)
    assert [c.version for c in reg.list()] == ["v0001", "v0002", "v0003"]


def test_a_history_version_gets_the_shipped_weights_its_card_names_so_the_golden_gate_can_check_it(
    tmp_path: Path, shipped: Path
) -> None:
    """v0002 (the shipped detector) omits its weights too: the shipped weights.pt has the sha256 its card records, so
    it is stored with it; v0001's card names weights no shipped file holds, which is no error (weights are
    optional), it is seeded without."""
    weights = shipped / "weights.pt"
    weights.write_bytes(b"torch weights of the shipped detector")
    older = b"torch weights of an older detector, not shipped"
    for folder, body in ((shipped, weights.read_bytes()), (shipped / "history" / "v0002", weights.read_bytes()),
                         (shipped / "history" / "v0001", older)):
        card = ModelCard.load(folder / "card.json")
        card.model_copy(update={"weights_file": "weights.pt", "weights_sha256": hashlib.sha256(body).hexdigest()}
                        ).save(folder / "card.json")
    assert not (shipped / "history" / "v0002" / "weights.pt").exists()
    reg = Registry.open(tmp_path / "reg", seed_from=shipped)
    v2 = reg.weights_path(reg.get("v0002"))
    assert v2 is not None and v2.read_bytes() == weights.read_bytes() and v2.is_relative_to(tmp_path / "reg")
    assert reg.weights_path(reg.get("v0001")) is None
    assert reg.get("v0001").weights_sha256 is None  # what the registry holds, not what the shipped card hoped for
    current = reg.weights_path(reg.get("v0003"))
    assert current is not None and current.read_bytes() == weights.read_bytes()


def test_a_folder_without_a_card_is_not_a_history_version(tmp_path: Path, shipped: Path) -> None:
    stray = shipped / "history" / "notes"
    stray.mkdir()
    (stray / "README.txt").write_text("not a version\n")
    reg = Registry.open(tmp_path / "reg", seed_from=shipped)
    assert [c.version for c in reg.list()] == ["v0001", "v0002", "v0003"]


@pytest.mark.parametrize("which", ["model", "grader"])
def test_a_file_neither_there_nor_found_by_its_sha256_refuses_the_seeding(
    tmp_path: Path, shipped: Path, taxonomy: Taxonomy, which: str
) -> None:
    """v0002's card records a sha256 no shipped file has: the seeding fails naming the version folder, the file
    and the sha256, and the registry is left empty (v0001, found fine before it, is not registered either), so the
    next open seeds again from a fixed folder."""
    v2 = shipped / "history" / "v0002"
    card = ModelCard.load(v2 / "card.json")
    if which == "model":
        write_card(v2, taxonomy, "v0002", MISSING_SHA, grader=shipped / GRADER_NAME, parent_version="v0001")
        name = "model.onnx"
    else:
        write_card(v2, taxonomy, "v0002", card.onnx_sha256, grader=shipped / GRADER_NAME,
                   grader_sha256=MISSING_SHA, parent_version="v0001")
        name = GRADER_NAME
    root = tmp_path / "reg"
    with pytest.raises(ModelLoadError) as err:
        Registry.open(root, seed_from=shipped)
    message = str(err.value)
    assert str(v2) in message and name in message and MISSING_SHA in message
    assert Registry.open(root, seed_from=None).list() == []
    # Fixed (the file shipped after all): the still-empty registry is seeded in full.
    shutil.copyfile(shipped / "model.onnx", v2 / "model.onnx")
    shutil.copyfile(shipped / GRADER_NAME, v2 / GRADER_NAME)
    card.save(v2 / "card.json")
    assert [c.version for c in Registry.open(root, seed_from=shipped).list()] == ["v0001", "v0002", "v0003"]


def test_a_history_file_that_is_not_its_cards_refuses_the_seeding_before_anything_is_registered(
    tmp_path: Path, shipped: Path
) -> None:
    v2 = shipped / "history" / "v0002"
    (v2 / "model.onnx").write_bytes((shipped / "model.onnx").read_bytes() + b"\0")
    with pytest.raises(ModelLoadError, match="does not match the sha256"):
        Registry.open(tmp_path / "reg", seed_from=shipped)
    assert Registry.open(tmp_path / "reg", seed_from=None).list() == []


def test_a_draft_history_card_needs_its_file(tmp_path: Path, shipped: Path, taxonomy: Taxonomy) -> None:
    """A draft card records no sha256, so there is nothing to find its detector by."""
    v2 = shipped / "history" / "v0002"
    make_draft(taxonomy).save(v2 / "card.json")
    with pytest.raises(ModelLoadError, match=r"v0002: model\.onnx is not in the folder.*draft"):
        Registry.open(tmp_path / "reg", seed_from=shipped)
    assert Registry.open(tmp_path / "reg", seed_from=None).list() == []
    shutil.copyfile(shipped / "model.onnx", v2 / "model.onnx")  # with its file, a draft is seeded (next free id)
    assert [c.stage for c in Registry.open(tmp_path / "reg", seed_from=shipped).list()] == [
        "archived", "archived", "production"
    ]


def test_a_grader_whose_classes_are_not_its_cards_refuses_the_seeding_before_anything_is_registered(
    tmp_path: Path, shipped: Path, taxonomy: Taxonomy
) -> None:
    """The right bytes (sha256 found) but a card whose grader classes are not the graph's: checked with the rest,
    before v0001 is registered, so the registry stays empty instead of holding history without production."""
    v2 = shipped / "history" / "v0002"
    card = ModelCard.load(v2 / "card.json")
    assert card.grader is not None
    wrong = card.grader.model_copy(update={"classes": list(reversed(card.grader.classes))})
    card.model_copy(update={"grader": wrong}).save(v2 / "card.json")
    with pytest.raises(ModelLoadError, match="differ from the card"):
        Registry.open(tmp_path / "reg", seed_from=shipped)
    assert Registry.open(tmp_path / "reg", seed_from=None).list() == []
