"""`qc registry list` / `show` as a new user reads them: which registry is this, and each version's parent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from tests.shipped import SHIPPED_VERSION, after_shipped
from training.cli import registry as registry_cli
from vision.model_card import ModelCardDraft
from vision.registry import CARD_NAME, DEFAULT_MODEL_DIR, ONNX_NAME, Registry

SHIPPED_PARENT = json.loads((DEFAULT_MODEL_DIR / CARD_NAME).read_text())["parent_version"]

pytestmark = pytest.mark.skipif(not (DEFAULT_MODEL_DIR / ONNX_NAME).is_file(), reason="no shipped model")


def qc() -> typer.Typer:
    app = typer.Typer()
    app.add_typer(registry_cli.app, name="registry")
    return app


def _rows(output: str) -> dict[str, str]:
    """Version -> its table line."""
    return {line.split()[0]: line for line in output.splitlines()[2:] if line.strip()}


def test_list_shows_the_parent_the_card_names_even_when_the_registry_lacks_it(tmp_path: Path) -> None:
    """The shipped v0003's card says it was fine-tuned from v0002, but `qc registry list` showed parent `-`: the
    seeded registry has no v0002. The lineage is shown, and marked as outside this registry."""
    assert SHIPPED_PARENT is not None  # the shipped model is a fine-tune: this test is about its parent
    root = tmp_path / "registry"
    reg = Registry.open(root)  # seeded with the shipped model
    draft = ModelCardDraft.load(DEFAULT_MODEL_DIR / CARD_NAME).model_copy(update={"parent_version": SHIPPED_VERSION})
    child = reg.register(DEFAULT_MODEL_DIR / ONNX_NAME, draft, stage="candidate").version
    assert child == after_shipped(1)

    listed = CliRunner().invoke(qc(), ["registry", "list", "--registry", str(root)])
    assert listed.exit_code == 0, listed.output
    rows = _rows(listed.stdout)
    assert f"{SHIPPED_PARENT} (not in this registry)" in rows[SHIPPED_VERSION]
    assert rows[child].split()[-3] == SHIPPED_VERSION  # a parent that is here: just its id ("created" is 2 cells)

    shown = CliRunner().invoke(qc(), ["registry", "show", SHIPPED_VERSION, "--registry", str(root)])
    lineage = json.loads(shown.stdout)["lineage"]
    assert lineage["parent_version"] == SHIPPED_PARENT and lineage["parent_in_registry"] is False


def test_list_names_the_registry_and_where_it_came_from(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QC_REGISTRY", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    default = CliRunner().invoke(qc(), ["registry", "list"])
    assert default.exit_code == 0, default.output
    header = default.stdout.splitlines()[0]
    assert header.startswith(f"model registry {tmp_path / 'xdg' / 'conveyor-qc' / 'registry'} (the per-user default")

    monkeypatch.setenv("QC_REGISTRY", str(tmp_path / "from-env"))
    from_env = CliRunner().invoke(qc(), ["registry", "list"])
    assert from_env.stdout.splitlines()[0] == f"model registry {tmp_path / 'from-env'} (from $QC_REGISTRY)"

    given = CliRunner().invoke(qc(), ["registry", "list", "--registry", str(tmp_path / "given")])
    assert given.stdout.splitlines()[0] == f"model registry {tmp_path / 'given'} (given by --registry)"
