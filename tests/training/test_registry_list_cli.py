"""`qc registry list` / `show` as a new user reads them: which registry is this, and each version's parent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from tests.shipped import SHIPPED_HISTORY, SHIPPED_VERSION
from training.cli import registry as registry_cli
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
    """v0003's card says it was fine-tuned from v0002, but `qc registry list` showed parent `-`: a seeded registry
    has no v0002. The lineage is shown, and marked as outside this registry; the shipped model's parent (its
    history, seeded before it) is just its id."""
    assert SHIPPED_HISTORY, "the shipped model carries its parent in history/"
    oldest = SHIPPED_HISTORY[0]
    oldest_parent = json.loads((DEFAULT_MODEL_DIR / "history" / oldest / CARD_NAME).read_text())["parent_version"]
    assert oldest_parent is not None  # a fine-tune: this test is about its parent
    root = tmp_path / "registry"
    Registry.open(root)  # seeded with the shipped model and its history

    listed = CliRunner().invoke(qc(), ["registry", "list", "--registry", str(root)])
    assert listed.exit_code == 0, listed.output
    rows = _rows(listed.stdout)
    assert f"{oldest_parent} (not in this registry)" in rows[oldest]
    assert rows[SHIPPED_VERSION].split()[-3] == SHIPPED_PARENT  # a parent that is here: just its id

    shown = CliRunner().invoke(qc(), ["registry", "show", oldest, "--registry", str(root)])
    lineage = json.loads(shown.stdout)["lineage"]
    assert lineage["parent_version"] == oldest_parent and lineage["parent_in_registry"] is False


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
