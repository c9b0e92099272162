"""Stage history, rollback, stored weights and lineage (code version) in the registry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from onnx_builders import tiny_detector_onnx
from test_registry import make_draft

from vision.errors import ModelLoadError
from vision.model_card import CodeVersion, ModelCard
from vision.registry import Registry, RegistryError
from vision.taxonomy import Taxonomy


@pytest.fixture()
def tiny(tmp_path: Path, taxonomy: Taxonomy) -> Path:
    return tiny_detector_onnx(tmp_path / "tiny.onnx", rows=4 + taxonomy.num_classes)


def stages(reg: Registry) -> dict[str, str]:
    return {c.version: c.stage for c in reg.list()}


def test_set_stage_records_history_and_by_stage(tmp_path: Path, taxonomy: Taxonomy, tiny: Path) -> None:
    reg = Registry.open(tmp_path, seed_from=None)
    v1 = reg.register(tiny, make_draft(taxonomy), stage="production")
    assert [(h.stage, h.reason, h.replaced) for h in v1.history] == [("production", "registered", None)]
    v2 = reg.register(tiny, make_draft(taxonomy)).version
    reg.set_stage(v2, "shadow", reason="score beside production")
    reg.set_stage(v2, "production", reason="better recall on bruised apples")
    assert [c.version for c in reg.by_stage("production")] == [v2]
    assert [c.version for c in reg.by_stage("archived")] == [v1.version]
    assert reg.by_stage("canary") == []
    history = reg.get(v2).history
    assert [(h.stage, h.reason) for h in history] == [
        ("candidate", "registered"),
        ("shadow", "score beside production"),
        ("production", "better recall on bruised apples"),
    ]
    assert history[-1].replaced == v1.version and not history[-1].rollback
    (archived,) = reg.get(v1.version).history[1:]
    assert archived.stage == "archived"
    assert archived.reason == f"replaced by {v2} in production: better recall on bruised apples"
    # Moving a version to the stage it is in writes nothing.
    assert reg.set_stage(v2, "production", reason="again").history == history
    with pytest.raises(RegistryError, match="unknown stage 'live'"):
        reg.by_stage("live")  # type: ignore[arg-type]


def test_rollback_walks_back_through_production_versions(tmp_path: Path, taxonomy: Taxonomy, tiny: Path) -> None:
    reg = Registry.open(tmp_path, seed_from=None)
    v1 = reg.register(tiny, make_draft(taxonomy), stage="production").version
    v2 = reg.register(tiny, make_draft(taxonomy)).version
    v3 = reg.register(tiny, make_draft(taxonomy)).version
    reg.set_stage(v2, "production")
    reg.set_stage(v3, "canary")
    reg.set_stage(v3, "production")
    assert reg.rollback_target().version == v2

    restored = reg.rollback(reason="flag rate doubled on belt 3")
    assert restored.version == v2 and restored.stage == "production"
    assert stages(reg) == {v1: "archived", v2: "production", v3: "archived"}
    last = reg.get(v2).history[-1]
    assert (last.stage, last.reason, last.replaced, last.rollback) == (
        "production",
        "flag rate doubled on belt 3",
        v3,
        True,
    )
    assert reg.get(v3).history[-1].reason == f"rolled back to {v2}: flag rate doubled on belt 3"

    # A second rollback goes further back (to what v2 replaced), not back to v3.
    assert reg.rollback().version == v1
    assert stages(reg) == {v1: "production", v2: "archived", v3: "archived"}
    with pytest.raises(RegistryError, match=f"history of production version {v1} names no earlier production"):
        reg.rollback()
    assert stages(reg) == {v1: "production", v2: "archived", v3: "archived"}


def test_rollback_refuses_a_corrupt_previous_version_and_changes_nothing(
    tmp_path: Path, taxonomy: Taxonomy, tiny: Path
) -> None:
    reg = Registry.open(tmp_path, seed_from=None)
    v1 = reg.register(tiny, make_draft(taxonomy), stage="production")
    v2 = reg.register(tiny, make_draft(taxonomy), stage="production").version
    reg.path_of(v1).write_bytes(reg.path_of(v1).read_bytes() + b"\0")
    with pytest.raises(ModelLoadError, match=f"does not match card {v1.version}"):
        reg.rollback()
    assert stages(reg) == {v1.version: "archived", v2: "production"}


def test_rollback_without_history_or_production(tmp_path: Path, taxonomy: Taxonomy, tiny: Path) -> None:
    reg = Registry.open(tmp_path, seed_from=None)
    with pytest.raises(RegistryError, match="no production model"):
        reg.rollback()
    card = reg.register(tiny, make_draft(taxonomy), stage="production")
    # A card written before the registry kept a history loads with an empty one and cannot be rolled back.
    card_path = reg.path_of(card).parent / "card.json"
    raw = json.loads(card_path.read_text())
    del raw["history"], raw["code_version"]
    card_path.write_text(json.dumps(raw))
    assert reg.get(card.version).history == [] and reg.get(card.version).code_version is None
    with pytest.raises(RegistryError, match="names no earlier production version"):
        reg.rollback()


def test_weights_are_stored_hashed_and_checked(tmp_path: Path, taxonomy: Taxonomy, tiny: Path) -> None:
    weights = tmp_path / "best.pt"
    weights.write_bytes(b"torch weights " * 100)
    reg = Registry.open(tmp_path / "reg", seed_from=None)
    card = reg.register(tiny, make_draft(taxonomy), weights=weights)
    assert card.weights_file == "weights.pt"
    path = reg.weights_path(card)
    assert path == tmp_path / "reg" / "versions" / card.version / "weights.pt"
    assert path.read_bytes() == weights.read_bytes()
    assert reg.weights_path(reg.register(tiny, make_draft(taxonomy))) is None
    path.write_bytes(b"other weights")
    with pytest.raises(ModelLoadError, match=f"does not match the weights sha256 on card {card.version}"):
        reg.weights_path(card)
    with pytest.raises(RegistryError, match="weights file not found"):
        reg.register(tiny, make_draft(taxonomy), weights=tmp_path / "missing.pt")


def test_card_refuses_half_a_weights_reference(taxonomy: Taxonomy) -> None:
    with pytest.raises(ValueError, match="weights_file and weights_sha256 go together"):
        ModelCard(
            **make_draft(taxonomy).model_dump(),
            version="v0001",
            onnx_sha256="0" * 64,
            created_at="2026-01-01T00:00:00+00:00",
            weights_file="weights.pt",
        )


def test_register_fills_code_version_unless_the_draft_has_one(tmp_path: Path, taxonomy: Taxonomy, tiny: Path) -> None:
    reg = Registry.open(tmp_path, seed_from=None)
    filled = reg.register(tiny, make_draft(taxonomy)).code_version
    assert filled is not None and filled.package  # the installed conveyor-qc version
    assert filled.commit is None or len(filled.commit) == 40
    given = CodeVersion(package="0.0.9", commit="a" * 40, dirty=True)
    kept = reg.register(tiny, make_draft(taxonomy, code_version=given))
    assert reg.get(kept.version).code_version == given


def test_seeding_copies_the_shipped_weights(tmp_path: Path, taxonomy: Taxonomy, tiny: Path) -> None:
    source = Registry.open(tmp_path / "train_reg", seed_from=None)
    shipped_card = source.register(tiny, make_draft(taxonomy), stage="production")
    shipped = source.path_of(shipped_card).parent
    (shipped / "weights.pt").write_bytes(b"shipped torch weights")
    reg = Registry.open(tmp_path / "edge_reg", seed_from=shipped)
    (seeded,) = reg.list()
    path = reg.weights_path(seeded)
    assert path is not None and path.read_bytes() == b"shipped torch weights"
    assert seeded.history[0].reason.startswith("seeded from the shipped model")
