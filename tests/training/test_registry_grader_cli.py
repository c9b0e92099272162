"""`qc registry register --grader`, `show` and `list` with a grader, and the golden-frame gate refusing a version
whose grader is missing or not its card's; on real files (a tiny detector graph, the colour grader)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from tests.training.testing_models import colour_grader_onnx, colour_grader_spec
from tests.vision.onnx_builders import tiny_detector_onnx
from training.cli import registry as registry_cli
from training.golden import GoldenGateError, run_golden_gate
from vision.errors import ModelLoadError
from vision.model_card import ModelCardDraft
from vision.registry import GRADER_NAME, Registry, RegistryError
from vision.taxonomy import Taxonomy


def qc() -> typer.Typer:
    app = typer.Typer()
    app.add_typer(registry_cli.app, name="registry")
    app.command("noop")(lambda: None)
    return app


@pytest.fixture()
def files(tmp_path: Path, taxonomy: Taxonomy) -> dict[str, Path]:
    """A detector, its draft card without a grader section, a grader, and a draft card naming that grader."""
    detector = tiny_detector_onnx(tmp_path / "model.onnx", rows=4 + taxonomy.num_classes)
    grader = colour_grader_onnx(tmp_path / "runs" / "grader" / "best.onnx")
    base = ModelCardDraft(classes=list(taxonomy.class_names), taxonomy=taxonomy.to_dict(), input_size=(64, 64))
    plain = base.save(tmp_path / "card.json")
    graded = base.model_copy(update={"grader": colour_grader_spec(grader, produce_weight=0.5)})
    return {"detector": detector, "grader": grader, "card": plain, "graded_card": graded.save(tmp_path / "g.json"),
            "registry": tmp_path / "registry"}


def register(files: dict[str, Path], *extra: str, card: str = "card") -> object:
    return CliRunner().invoke(qc(), ["registry", "register", str(files["detector"]), "--card", str(files[card]),
                                     "--registry", str(files["registry"]), *extra])


def test_register_with_a_grader_file_and_show_it(files: dict[str, Path]) -> None:
    done = register(files, "--grader", str(files["grader"]), "--grader-produce-weight", "0.3")
    assert done.exit_code == 0, done.output
    out = json.loads(done.stdout)
    assert out["grader"].endswith(f"versions/{out['version']}/{GRADER_NAME}")
    card = Registry(files["registry"]).get(out["version"])
    assert card.grader is not None
    assert card.grader.classes == ["apple_fresh", "apple_rotten", "banana_fresh", "banana_rotten"]  # its own names
    assert (card.grader.input_size, card.grader.produce_weight, card.grader.turns) == (64, 0.3, 1)

    shown = CliRunner().invoke(qc(), ["registry", "show", out["version"], "--verify", "--registry",
                                      str(files["registry"])])
    assert shown.exit_code == 0, shown.output
    doc = json.loads(shown.stdout)
    assert doc["grader"]["sha256"] == card.grader.sha256 and doc["grader_path"] == out["grader"]
    assert doc["lineage"]["grader"]["classes"] == 4 and doc["verified"] is True
    listed = CliRunner().invoke(qc(), ["registry", "list", "--registry", str(files["registry"])])
    assert "grader" in listed.stdout.splitlines()[1] and "64px/4" in listed.stdout


def test_register_checks_the_grader_against_the_cards_section(files: dict[str, Path], tmp_path: Path) -> None:
    done = register(files, "--grader", str(files["grader"]), card="graded_card")
    assert done.exit_code == 0, done.output
    assert Registry(files["registry"]).get(json.loads(done.stdout)["version"]).grader.produce_weight == 0.5
    before = Registry(files["registry"]).list()  # (an empty registry was seeded with the shipped model too)

    missing = register(files, card="graded_card")
    assert isinstance(missing.exception, RegistryError) and "--grader PATH" in str(missing.exception)
    other = colour_grader_onnx(tmp_path / "other.onnx", bias=np.array([5.0, 10.0, 0.0, 8.0]))
    wrong = register(files, "--grader", str(other), card="graded_card")
    assert isinstance(wrong.exception, ModelLoadError)
    assert "does not match the grader sha256 on the card" in str(wrong.exception)
    assert Registry(files["registry"]).list() == before  # nothing else registered


def test_the_golden_gate_refuses_a_version_whose_grader_does_not_verify(files: dict[str, Path]) -> None:
    registry = Registry.open(files["registry"], seed_from=None)
    card = registry.register(files["detector"], ModelCardDraft.load(files["graded_card"]), grader=files["grader"])
    colour_grader_onnx(registry.path_of(card).parent / GRADER_NAME, bias=np.array([6.0, 10.0, 0.0, 8.0]))
    with pytest.raises(GoldenGateError, match=f"{card.version} is refused: its grader does not verify"):
        run_golden_gate(registry, card.version)
    promoted = CliRunner().invoke(qc(), ["registry", "promote", card.version, "--registry", str(files["registry"])])
    assert promoted.exit_code == 1 and "its grader does not verify" in promoted.output
    assert registry.get(card.version).stage == "candidate"


def test_register_sets_the_graders_turns_and_refuses_a_count_the_card_does_not_know(files: dict[str, Path]) -> None:
    done = register(files, "--grader", str(files["grader"]), "--grader-turns", "4")
    assert done.exit_code == 0, done.output
    version = json.loads(done.stdout)["version"]
    assert Registry(files["registry"]).get(version).grader.turns == 4
    listed = CliRunner().invoke(qc(), ["registry", "list", "--registry", str(files["registry"])])
    assert "64px/4 x4" in next(line for line in listed.stdout.splitlines() if line.startswith(version))
    shown = CliRunner().invoke(qc(), ["registry", "show", version, "--registry", str(files["registry"])])
    assert json.loads(shown.stdout)["lineage"]["grader"]["turns"] == 4
    before = Registry(files["registry"]).list()
    refused = register(files, "--grader", str(files["grader"]), "--grader-turns", "3")
    assert refused.exit_code != 0 and "grader.turns" in str(refused.exception)
    assert Registry(files["registry"]).list() == before
