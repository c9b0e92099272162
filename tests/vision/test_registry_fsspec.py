"""The registry on a local folder, a ``file://`` URL and a ``memory://`` fsspec URL: same behaviour, local cache."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import fsspec
import pytest
from onnx_builders import tiny_detector_onnx
from test_registry import make_draft

from vision.errors import ModelLoadError
from vision.model_card import ModelCard
from vision.registry import Registry, RegistryError
from vision.taxonomy import Taxonomy


@pytest.fixture()
def memory_url() -> Iterator[str]:
    """A fresh ``memory://`` registry URL (the memory file system is shared by the process: remove it after)."""
    url = f"memory://qc-test-{uuid.uuid4().hex}/registry"
    yield url
    fs = fsspec.filesystem("memory")
    if fs.exists(url):
        fs.rm(url, recursive=True)


@pytest.fixture(params=["path", "file_url", "memory"])
def root(request: pytest.FixtureRequest, tmp_path: Path, memory_url: str) -> str | Path:
    if request.param == "path":
        return tmp_path / "reg"
    if request.param == "file_url":
        return f"file://{tmp_path / 'reg'}"
    return memory_url


@pytest.fixture()
def tiny(tmp_path: Path, taxonomy: Taxonomy) -> Path:
    return tiny_detector_onnx(tmp_path / "tiny.onnx", rows=4 + taxonomy.num_classes)


def test_round_trip_on_every_backend(root: str | Path, tmp_path: Path, taxonomy: Taxonomy, tiny: Path) -> None:
    cache = tmp_path / "cache"
    weights = tmp_path / "best.pt"
    weights.write_bytes(b"weights" * 1000)
    eval_report = tmp_path / "eval.json"
    eval_report.write_text('{"map50": 0.7}')
    reg = Registry.open(root, seed_from=None, cache_dir=cache)
    assert reg.list() == []
    v1 = reg.register(tiny, make_draft(taxonomy), stage="production", weights=weights, eval_report=eval_report)
    v2 = reg.register(tiny, make_draft(taxonomy, parent_version=v1.version))
    assert (v1.version, v2.version) == ("v0001", "v0002")

    # Another process (a fresh object) sees the same versions, stages and history.
    again = Registry(root, cache_dir=cache)
    assert again.list() == [v1, v2]
    again.set_stage(v2.version, "production", reason="better")
    assert [c.version for c in Registry(root, cache_dir=cache).by_stage("archived")] == [v1.version]
    assert again.rollback(reason="worse on belt 2").version == v1.version

    card, path = again.load_verified()
    assert card.version == v1.version and path.is_file() and path.read_bytes() == tiny.read_bytes()
    weights_path = again.weights_path(card)
    assert weights_path is not None and weights_path.read_bytes() == weights.read_bytes()
    eval_path = again.eval_path(card)
    assert eval_path is not None and eval_path.read_text() == '{"map50": 0.7}'
    if isinstance(root, str) and root.startswith("memory://"):
        assert not again.is_local and again.root == root
        assert path.is_relative_to(cache) and weights_path.is_relative_to(cache)
        assert again.location_of(card) == f"{root}/versions/v0001/model.onnx"
    else:
        assert again.is_local and again.root == tmp_path / "reg"
        assert path == tmp_path / "reg" / "versions" / "v0001" / "model.onnx"
        assert not cache.exists()  # local registries are read in place


def test_remote_tampering_and_stale_cache(memory_url: str, tmp_path: Path, taxonomy: Taxonomy, tiny: Path) -> None:
    cache = tmp_path / "cache"
    reg = Registry.open(memory_url, seed_from=None, cache_dir=cache)
    card = reg.register(tiny, make_draft(taxonomy))
    _, cached = reg.load_verified(card.version)
    # A damaged cache copy is fetched again, not trusted and not fatal.
    cached.write_bytes(b"garbage")
    assert reg.load_verified(card.version)[1].read_bytes() == tiny.read_bytes()
    # A damaged object in the store is refused once copied; a cache already holding the card's bytes keeps them
    # (the cache is addressed by the card's sha256, so what it serves is still exactly the registered model).
    fs = fsspec.filesystem("memory")
    fs.pipe_file(f"{memory_url}/versions/{card.version}/model.onnx", tiny.read_bytes() + b"\0")
    assert reg.load_verified(card.version)[1].read_bytes() == tiny.read_bytes()
    fresh = Registry(memory_url, cache_dir=tmp_path / "other_cache")
    with pytest.raises(ModelLoadError, match=f"does not match card {card.version}"):
        fresh.load_verified(card.version)
    with pytest.raises(ModelLoadError, match="sha256"):
        fresh.set_stage(card.version, "production")
    assert fresh.get(card.version).stage == "candidate"


def test_remote_version_without_card_is_invisible_and_its_id_is_not_reused(
    memory_url: str, tmp_path: Path, taxonomy: Taxonomy, tiny: Path
) -> None:
    reg = Registry.open(memory_url, seed_from=None, cache_dir=tmp_path / "cache")
    v1 = reg.register(tiny, make_draft(taxonomy))
    fs = fsspec.filesystem("memory")
    # A writer that died (or is still uploading) after the ONNX file and before the card.
    fs.pipe_file(f"{memory_url}/versions/v0002/model.onnx", b"half")
    assert [c.version for c in reg.list()] == [v1.version]
    with pytest.raises(RegistryError, match="no model version v0002"):
        reg.get("v0002")
    assert reg.register(tiny, make_draft(taxonomy)).version == "v0003"
    assert fs.cat_file(f"{memory_url}/versions/v0002/model.onnx") == b"half"


def test_remote_card_is_written_last(memory_url: str, tmp_path: Path, taxonomy: Taxonomy, tiny: Path) -> None:
    """Watch the store while a version is uploaded: the card appears only after every other file."""
    fs = fsspec.filesystem("memory")
    seen: list[str] = []
    original = fs.pipe_file, fs.put_file

    def record_pipe(path: str, value: bytes, *args: object, **kwargs: object) -> None:
        seen.append(str(path).rsplit("/", 1)[-1])
        original[0](path, value, *args, **kwargs)

    def record_put(lpath: str, rpath: str, *args: object, **kwargs: object) -> None:
        seen.append(str(rpath).rsplit("/", 1)[-1])
        original[1](lpath, rpath, *args, **kwargs)

    weights = tmp_path / "w.pt"
    weights.write_bytes(b"w")
    reg = Registry.open(memory_url, seed_from=None, cache_dir=tmp_path / "cache")
    fs.pipe_file, fs.put_file = record_pipe, record_put  # type: ignore[method-assign]
    try:
        reg.register(tiny, make_draft(taxonomy), weights=weights)
    finally:
        del fs.pipe_file, fs.put_file
    assert sorted(seen[:-1]) == ["model.onnx", "weights.pt"] and seen[-1] == "card.json"
    assert ModelCard.from_json(fs.cat_file(f"{memory_url}/versions/v0001/card.json"), "x").version == "v0001"


def test_bad_urls_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="cannot open registry URL 'nosuchproto://bucket/models'"):
        Registry.open("nosuchproto://bucket/models", seed_from=None)
