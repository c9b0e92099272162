"""A version with a grader: detector and grader are stored, hashed, verified, cached and served as one unit;
a grader that is missing, replaced or not the card's is refused with a message that says so."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import fsspec
import numpy as np
import pytest
from onnx_builders import tiny_detector_onnx
from test_registry import make_draft

from tests.training.testing_models import colour_grader_onnx, colour_grader_spec
from vision.errors import ModelLoadError
from vision.model_card import ModelCardDraft, sha256_file
from vision.registry import GRADER_NAME, Registry, RegistryError
from vision.taxonomy import Taxonomy


@pytest.fixture()
def tiny(tmp_path: Path, taxonomy: Taxonomy) -> Path:
    return tiny_detector_onnx(tmp_path / "tiny.onnx", rows=4 + taxonomy.num_classes)


@pytest.fixture()
def grader_file(tmp_path: Path) -> Path:
    return colour_grader_onnx(tmp_path / "runs" / "best.onnx")


def graded_draft(taxonomy: Taxonomy, grader: Path, **spec: object) -> ModelCardDraft:
    return make_draft(taxonomy, grader=colour_grader_spec(grader).model_copy(update=spec))


@pytest.fixture()
def memory_url() -> Iterator[str]:
    url = f"memory://qc-grader-{uuid.uuid4().hex}/registry"
    yield url
    fs = fsspec.filesystem("memory")
    if fs.exists(url):
        fs.rm(url, recursive=True)


@pytest.mark.parametrize("backend", ["path", "memory"])
def test_round_trip_with_a_grader(
    backend: str, tmp_path: Path, memory_url: str, taxonomy: Taxonomy, tiny: Path, grader_file: Path
) -> None:
    root: str | Path = tmp_path / "reg" if backend == "path" else memory_url
    cache = tmp_path / "cache"
    reg = Registry.open(root, seed_from=None, cache_dir=cache)
    plain = reg.register(tiny, make_draft(taxonomy), stage="production")
    graded = reg.register(tiny, graded_draft(taxonomy, grader_file), grader=grader_file)
    assert plain.grader is None and reg.grader_path(plain) is None  # a version without one is unchanged
    assert graded.grader is not None and graded.grader.file == GRADER_NAME
    assert graded.grader.sha256 == sha256_file(grader_file)
    assert graded.grader.classes == ["apple_fresh", "apple_rotten", "banana_fresh", "banana_rotten"]

    again = Registry(root, cache_dir=cache)  # another process
    card, path = again.load_verified(graded.version)
    assert card == graded
    grader_path = again.grader_path(card)
    assert grader_path == path.parent / GRADER_NAME and grader_path.read_bytes() == grader_file.read_bytes()
    assert again.location_of(card, GRADER_NAME).endswith(f"versions/{graded.version}/{GRADER_NAME}")
    again.set_stage(graded.version, "production", reason="graded")
    assert again.production().grader == graded.grader


def test_a_card_with_a_grader_needs_its_file_and_a_file_needs_the_section(
    tmp_path: Path, taxonomy: Taxonomy, tiny: Path, grader_file: Path
) -> None:
    reg = Registry.open(tmp_path / "reg", seed_from=None)
    with pytest.raises(RegistryError, match=r"names a grader \(grader.onnx.*--grader PATH"):
        reg.register(tiny, graded_draft(taxonomy, grader_file))
    with pytest.raises(RegistryError, match="the card has no grader section"):
        reg.register(tiny, make_draft(taxonomy), grader=grader_file)
    with pytest.raises(RegistryError, match="grader file not found"):
        reg.register(tiny, graded_draft(taxonomy, grader_file), grader=tmp_path / "nope.onnx")
    assert reg.list() == []


def test_register_refuses_a_grader_whose_sha256_is_not_the_cards(
    tmp_path: Path, taxonomy: Taxonomy, tiny: Path, grader_file: Path
) -> None:
    reg = Registry.open(tmp_path / "reg", seed_from=None)
    other = colour_grader_onnx(tmp_path / "other.onnx", bias=np.array([2.0, 10.0, 0.0, 8.0]))
    with pytest.raises(ModelLoadError, match=r"does not match the grader sha256 on the card of the version being "
                                              r"registered from .*not this version's grader"):
        reg.register(tiny, graded_draft(taxonomy, grader_file), grader=other)
    assert reg.list() == [] and [p.name for p in (tmp_path / "reg" / "versions").iterdir()] == []


def test_register_refuses_a_grader_whose_embedded_names_are_not_the_cards(
    tmp_path: Path, taxonomy: Taxonomy, tiny: Path
) -> None:
    swapped = colour_grader_onnx(tmp_path / "swapped.onnx",
                                 names=("apple_rotten", "apple_fresh", "banana_fresh", "banana_rotten"))
    reg = Registry.open(tmp_path / "reg", seed_from=None)
    with pytest.raises(ModelLoadError, match="class names embedded in the grader"):
        reg.register(tiny, graded_draft(taxonomy, swapped), grader=swapped)


def test_a_replaced_or_missing_grader_refuses_the_whole_version(
    tmp_path: Path, taxonomy: Taxonomy, tiny: Path, grader_file: Path
) -> None:
    reg = Registry.open(tmp_path / "reg", seed_from=None)
    v1 = reg.register(tiny, make_draft(taxonomy), stage="production")
    v2 = reg.register(tiny, graded_draft(taxonomy, grader_file), grader=grader_file)
    stored = reg.path_of(v2).parent / GRADER_NAME
    colour_grader_onnx(stored, bias=np.array([3.0, 10.0, 0.0, 8.0]))  # replaced by hand
    with pytest.raises(ModelLoadError, match=f"does not match the grader sha256 on the card of {v2.version}"):
        reg.load_verified(v2.version)
    with pytest.raises(ModelLoadError, match="grader"):
        reg.set_stage(v2.version, "production")
    assert reg.production().version == v1.version  # nothing moved
    stored.unlink()
    with pytest.raises(ModelLoadError, match=f"grader file of {v2.version} not found"):
        reg.grader_path(v2)


def test_an_empty_registry_is_seeded_with_the_shipped_folders_grader(
    tmp_path: Path, taxonomy: Taxonomy, tiny: Path, grader_file: Path
) -> None:
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    shutil.copyfile(tiny, shipped / "model.onnx")
    shutil.copyfile(grader_file, shipped / GRADER_NAME)
    graded_draft(taxonomy, grader_file).save(shipped / "card.json")
    reg = Registry.open(tmp_path / "reg", seed_from=shipped)
    card = reg.production()
    assert card.grader is not None and reg.grader_path(card) is not None
