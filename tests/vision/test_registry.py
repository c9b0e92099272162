"""The folder model registry: round trip, version numbering, stages, seeding, and refusing tampered files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from onnx_builders import tiny_detector_onnx

from vision.errors import ModelLoadError
from vision.model_card import ModelCard, ModelCardDraft, sha256_file, write_json_atomic
from vision.registry import Registry, RegistryError, default_registry_root
from vision.taxonomy import Taxonomy


def make_draft(taxonomy: Taxonomy, **overrides: Any) -> ModelCardDraft:
    fields: dict[str, Any] = {
        "classes": list(taxonomy.class_names),
        "taxonomy": taxonomy.to_dict(),
        "input_size": [64, 64],
        "metrics": {"map50_95": 0.5, "per_class": {"apple_fresh": {"ap50": 0.9}}},
        "training": {"epochs": 3, "seed": 0},
    }
    fields.update(overrides)
    return ModelCardDraft(**fields)


@pytest.fixture()
def tiny(tmp_path: Path, taxonomy: Taxonomy) -> Path:
    return tiny_detector_onnx(tmp_path / "tiny.onnx", rows=4 + taxonomy.num_classes)


def test_round_trip(tmp_path: Path, taxonomy: Taxonomy, tiny: Path) -> None:
    reg = Registry.open(tmp_path / "reg", seed_from=None)
    assert reg.list() == []
    eval_report = tmp_path / "eval.json"
    eval_report.write_text('{"map50": 0.7}')
    card = reg.register(tiny, make_draft(taxonomy), eval_report=eval_report)
    assert card.version == "v0001"
    assert card.stage == "candidate"
    assert card.onnx_sha256 == sha256_file(tiny)
    assert reg.path_of(card) == tmp_path / "reg" / "versions" / "v0001" / "model.onnx"
    assert reg.path_of(card).read_bytes() == tiny.read_bytes()
    assert reg.eval_path(card) is not None and reg.eval_path(card).read_text() == '{"map50": 0.7}'
    # A fresh Registry object on the same folder (another process) sees the same card.
    again = Registry(tmp_path / "reg")
    assert again.list() == [card]
    assert again.get("v0001") == card
    assert again.get("v0001").metrics["per_class"]["apple_fresh"]["ap50"] == 0.9
    loaded, path = again.load_verified("v0001")
    assert loaded == card and path == reg.path_of(card)
    # No temp folders or files left behind.
    assert sorted(p.name for p in (tmp_path / "reg" / "versions").iterdir()) == ["v0001"]
    assert sorted(p.name for p in reg.path_of(card).parent.iterdir()) == ["card.json", "eval.json", "model.onnx"]


def test_versions_are_numbered_and_listed_in_order(tmp_path: Path, taxonomy: Taxonomy, tiny: Path) -> None:
    reg = Registry.open(tmp_path, seed_from=None)
    versions = [reg.register(tiny, make_draft(taxonomy)).version for _ in range(3)]
    assert versions == ["v0001", "v0002", "v0003"]
    child = reg.register(tiny, make_draft(taxonomy, parent_version="v0002"))
    assert child.version == "v0004" and child.parent_version == "v0002"
    assert [c.version for c in reg.list()] == ["v0001", "v0002", "v0003", "v0004"]


def test_set_stage_keeps_one_production(tmp_path: Path, taxonomy: Taxonomy, tiny: Path) -> None:
    reg = Registry.open(tmp_path, seed_from=None)
    with pytest.raises(RegistryError, match="no production model"):
        reg.production()
    v1 = reg.register(tiny, make_draft(taxonomy), stage="production").version
    v2 = reg.register(tiny, make_draft(taxonomy)).version
    assert reg.production().version == v1
    assert reg.set_stage(v2, "shadow").stage == "shadow"
    reg.set_stage(v2, "production")
    assert reg.production().version == v2
    assert reg.get(v1).stage == "archived"
    v3 = reg.register(tiny, make_draft(taxonomy), stage="production").version
    assert {c.version: c.stage for c in reg.list()} == {v1: "archived", v2: "archived", v3: "production"}
    assert reg.load_verified()[0].version == v3


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda reg, tiny, d: reg.get("v0009"), RegistryError, r"no model version v0009 .* \(versions: v0001\)"),
        (lambda reg, tiny, d: reg.get("latest"), RegistryError, "'latest' is not a version id"),
        (lambda reg, tiny, d: reg.set_stage("v0001", "live"), RegistryError, "unknown stage 'live'"),
        (lambda reg, tiny, d: reg.register(tiny, d, stage="live"), RegistryError, "unknown stage 'live'"),
        (lambda reg, tiny, d: reg.register(tiny.with_name("nope.onnx"), d), ModelLoadError, "ONNX file not found"),
        (
            lambda reg, tiny, d: reg.register(tiny, d.model_copy(update={"parent_version": "v0042"})),
            RegistryError,
            "parent version v0042 is not in registry",
        ),
        (
            lambda reg, tiny, d: reg.register(tiny, d, eval_report=tiny.with_name("missing.json")),
            RegistryError,
            "evaluation report not found",
        ),
    ],
)
def test_bad_requests(
    tmp_path: Path, taxonomy: Taxonomy, tiny: Path, call: Any, error: type[Exception], match: str
) -> None:
    reg = Registry.open(tmp_path / "reg", seed_from=None)
    reg.register(tiny, make_draft(taxonomy))
    with pytest.raises(error, match=match):
        call(reg, tiny, make_draft(taxonomy))
    assert [c.version for c in reg.list()] == ["v0001"]  # nothing half-registered


@pytest.mark.parametrize(
    ("graph", "draft", "match"),
    [
        ({"rows": 4 + 15}, {}, r"4 \+ 15 classes, card has 16 classes"),
        ({"h": 96, "w": 96}, {}, "graph input height is 96, card input_size says 64"),
        ({"fp16": True}, {}, "card dtype fp32"),
    ],
)
def test_register_refuses_a_graph_that_does_not_match_its_card(
    tmp_path: Path, taxonomy: Taxonomy, graph: dict[str, Any], draft: dict[str, Any], match: str
) -> None:
    onnx_path = tiny_detector_onnx(tmp_path / "m.onnx", **{"rows": 4 + taxonomy.num_classes, **graph})
    reg = Registry.open(tmp_path / "reg", seed_from=None)
    with pytest.raises(ModelLoadError, match=match):
        reg.register(onnx_path, make_draft(taxonomy, **draft))
    assert reg.list() == []
    assert list((tmp_path / "reg" / "versions").iterdir()) == []


def test_tampered_model_is_refused(tmp_path: Path, taxonomy: Taxonomy, tiny: Path) -> None:
    reg = Registry.open(tmp_path, seed_from=None)
    card = reg.register(tiny, make_draft(taxonomy))
    path = reg.path_of(card)
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match=r"sha256 .* does not match card v0001"):
        reg.load_verified(card.version)
    with pytest.raises(ModelLoadError, match="sha256"):
        reg.set_stage(card.version, "production")
    assert reg.get(card.version).stage == "candidate"


def test_edited_card_is_refused(tmp_path: Path, taxonomy: Taxonomy, tiny: Path) -> None:
    """A card edited by hand to claim another input size no longer matches a static graph."""
    static = tiny_detector_onnx(tmp_path / "static.onnx", rows=4 + taxonomy.num_classes, h=64, w=64)
    reg = Registry.open(tmp_path / "reg", seed_from=None)
    card = reg.register(static, make_draft(taxonomy))
    card_path = reg.path_of(card).parent / "card.json"
    write_json_atomic(card_path, {**card.model_dump(mode="json"), "input_size": [128, 128]})
    with pytest.raises(ModelLoadError, match="graph input height is 64, card input_size says 128"):
        reg.load_verified(card.version)
    write_json_atomic(card_path, {**card.model_dump(mode="json"), "version": "v0002"})
    with pytest.raises(ModelLoadError, match="card says version v0002 but lives in folder v0001"):
        reg.get("v0001")


def test_open_seeds_an_empty_registry_from_the_shipped_folder(tmp_path: Path, taxonomy: Taxonomy, tiny: Path) -> None:
    # A shipped folder as the lead will commit it: a card from the registry it was trained in.
    source = Registry.open(tmp_path / "train_reg", seed_from=None)
    source.register(tiny, make_draft(taxonomy))
    shipped_card = source.register(tiny, make_draft(taxonomy, parent_version="v0001"), stage="production")
    shipped = source.path_of(shipped_card).parent

    reg = Registry.open(tmp_path / "edge_reg", seed_from=shipped)
    (seeded,) = reg.list()
    assert seeded.version == shipped_card.version == "v0002"
    assert seeded.stage == "production"
    assert seeded.onnx_sha256 == shipped_card.onnx_sha256
    assert seeded.parent_version is None  # its parent lives in the training registry, not here
    assert reg.eval_path(seeded) is None
    # Not seeded twice, and new versions count on from the shipped id.
    reg = Registry.open(tmp_path / "edge_reg", seed_from=shipped)
    assert reg.register(tiny, make_draft(taxonomy)).version == "v0003"
    # No shipped folder: nothing to seed.
    assert Registry.open(tmp_path / "empty", seed_from=tmp_path / "no_such_folder").list() == []


def test_seeding_refuses_a_shipped_file_that_does_not_match_its_card(
    tmp_path: Path, taxonomy: Taxonomy, tiny: Path
) -> None:
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    (shipped / "model.onnx").write_bytes(tiny.read_bytes() + b"\0")
    card = ModelCard(
        **make_draft(taxonomy).model_dump(),
        version="v0001",
        onnx_sha256=sha256_file(tiny),
        created_at="2026-01-01T00:00:00+00:00",
    )
    card.save(shipped / "card.json")
    with pytest.raises(ModelLoadError, match="does not match the sha256"):
        Registry.open(tmp_path / "reg", seed_from=shipped)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"QC_REGISTRY": "/srv/models"}, Path("/srv/models")),
        ({"QC_REGISTRY": "/srv/models", "XDG_DATA_HOME": "/x"}, Path("/srv/models")),
        ({"XDG_DATA_HOME": "/x"}, Path("/x/conveyor-qc/registry")),
        ({}, Path.home() / ".local" / "share" / "conveyor-qc" / "registry"),
    ],
)
def test_default_root(env: dict[str, str], expected: Path) -> None:
    assert default_registry_root(env) == expected
