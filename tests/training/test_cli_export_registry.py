"""`qc export` and `qc registry ...` through typer, on real files: a real export, a real registry folder."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest
import typer
from conditioned_models import build_conditioned_checkpoint, drawn_frames
from typer.testing import CliRunner

from training.cli import export as export_cli
from training.cli import registry as registry_cli
from training.parity import ParityError
from tests.shipped import SHIPPED_HISTORY, SHIPPED_VERSION, after_shipped
from vision.registry import Registry
from vision.taxonomy import Taxonomy

pytestmark = pytest.mark.slow  # export and register through the CLI

V1, V2 = after_shipped(1), after_shipped(2)  # the export, then a re-registration of it


def qc() -> typer.Typer:
    """The `qc` commands this module tests, mounted as training/cli/__init__.py mounts them."""
    app = typer.Typer()
    app.add_typer(registry_cli.app, name="registry")
    app.command("export")(export_cli.export)
    return app


@pytest.fixture(scope="module")
def frames_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("frames")
    (folder / "images" / "test").mkdir(parents=True)
    for i, img in enumerate(drawn_frames(4, seed=3)):
        cv2.imwrite(str(folder / "images" / "test" / f"{i:03d}.png"), img)
    return folder


@pytest.fixture(scope="module")
def exported_and_registered(
    tmp_path_factory: pytest.TempPathFactory, taxonomy: Taxonomy, frames_dir: Path
) -> tuple[Path, Path, dict]:
    pt = build_conditioned_checkpoint(tmp_path_factory.mktemp("cli_pt") / "cond.pt", taxonomy, seed=0)
    out = tmp_path_factory.mktemp("cli_out")
    root = tmp_path_factory.mktemp("cli_reg")
    eval_report = out.parent / "eval.json"
    eval_report.write_text(json.dumps({"model": {"path": "x"}, "map50": 0.5, "map50_95": 0.25}))
    result = CliRunner().invoke(
        qc(),
        [
            "export",
            "--weights",
            str(pt),
            "--out",
            str(out),
            "--imgsz",
            "320",
            "--no-fp16",
            "--parity-data",
            str(frames_dir),
            "--parity-frames",
            "4",
            "--register",
            "--registry",
            str(root),
            "--stage",
            "production",
            "--eval",
            str(eval_report),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    return out, root, json.loads(result.stdout)


def test_export_cli_writes_report_and_registers(exported_and_registered: tuple[Path, Path, dict]) -> None:
    out, root, report = exported_and_registered
    assert report["passed"] is True
    assert [m["dtype"] for m in report["models"]] == ["fp32"]
    assert report["models"][0]["parity"]["frames"] == 4
    # The empty registry was seeded with the shipped model, so the export is the next version and takes over production.
    assert report["registered"] == [{"dtype": "fp32", "version": V1, "stage": "production", "registry": str(root)}]
    assert Registry(root).get(SHIPPED_VERSION).stage == "archived"
    assert json.loads((out / "export_report.json").read_text())["registered"] == report["registered"]
    card = Registry(root).production()
    assert card.metrics == {"map50": 0.5, "map50_95": 0.25}
    assert Registry(root).eval_path(card) is not None
    # The checkpoint is stored with the version (for the golden-frame gate), and the card says which code exported it.
    assert card.weights_file == "weights.pt" and Registry(root).weights_path(card) is not None
    assert card.code_version is not None and card.code_version.package


def test_registry_cli_round_trip(exported_and_registered: tuple[Path, Path, dict]) -> None:
    out, root, _ = exported_and_registered
    runner, app = CliRunner(), qc()
    reg = ["--registry", str(root)]

    weights = Registry(root).weights_path(Registry(root).get(V1))
    assert weights is not None
    added = runner.invoke(
        app,
        [
            "registry",
            "register",
            str(out / "model.onnx"),
            "--card",
            str(out / "model.card.json"),
            "--weights",
            str(weights),
            *reg,
        ],
    )
    assert added.exit_code == 0, added.output
    assert json.loads(added.stdout)["version"] == V2
    assert Registry(root).get(V2).weights_sha256 == Registry(root).get(V1).weights_sha256

    listed = runner.invoke(app, ["registry", "list", "--json", *reg])
    assert [(c["version"], c["stage"]) for c in json.loads(listed.stdout)] == [
        *((v, "archived") for v in SHIPPED_HISTORY),  # the shipped model's history, seeded before it
        (SHIPPED_VERSION, "archived"),  # the shipped model the empty registry was seeded with
        (V1, "production"),
        (V2, "candidate"),
    ]
    table = runner.invoke(app, ["registry", "list", *reg])
    assert V2 in table.stdout and "candidate" in table.stdout

    shown = runner.invoke(app, ["registry", "show", "production", "--verify", *reg])
    assert shown.exit_code == 0, shown.output
    card = json.loads(shown.stdout)
    assert card["version"] == V1 and card["verified"] is True
    assert card["lineage"]["code_version"]["package"] and card["lineage"]["weights"] is True
    assert card["lineage"]["parent_version"] is None and card["weights_path"].endswith("weights.pt")

    # Promotion runs the golden-frame gate (the stored weights against the ONNX file) before any stage changes.
    promoted = runner.invoke(app, ["registry", "promote", V2, "--reason", "same model, re-registered", *reg])
    assert promoted.exit_code == 0, promoted.output
    assert json.loads(promoted.stdout) == {"version": V2, "stage": "production", "archived": [V1]}
    assert f"golden-frame gate passed for {V2}" in promoted.output
    assert Registry(root).get(V1).stage == "archived"
    assert Registry(root).get(V2).history[-1].reason == "same model, re-registered"

    rolled = runner.invoke(app, ["registry", "rollback", *reg])
    assert rolled.exit_code == 0, rolled.output
    assert json.loads(rolled.stdout) == {"version": V1, "rolled_back": V2}
    assert Registry(root).production().version == V1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["registry", "show", "v0042"], "no model version v0042"),
        (["registry", "promote", SHIPPED_VERSION, "--stage", "live"], "unknown stage 'live'"),
    ],
)
def test_registry_cli_errors_name_the_problem(
    exported_and_registered: tuple[Path, Path, dict], args: list[str], message: str
) -> None:
    _, root, _ = exported_and_registered
    result = CliRunner().invoke(qc(), [*args, "--registry", str(root)])
    assert result.exit_code != 0
    assert message in (str(result.exception) + result.output)


def test_registry_cli_names_a_bad_url() -> None:
    result = CliRunner().invoke(qc(), ["registry", "list", "--registry", "nosuchproto://bucket/models"])
    assert result.exit_code != 0
    assert "cannot open registry URL 'nosuchproto://bucket/models'" in str(result.exception)


def test_export_cli_fails_when_the_model_finds_nothing(untrained_yolo: Path, tmp_path: Path, frames_dir: Path) -> None:
    """The plain untrained model scores ~1e-3 everywhere: a parity check on it compares nothing and must fail."""
    result = CliRunner().invoke(
        qc(),
        [
            "export",
            "--weights",
            str(untrained_yolo),
            "--out",
            str(tmp_path),
            "--imgsz",
            "320",
            "--no-fp16",
            "--parity-data",
            str(frames_dir),
            "--parity-frames",
            "2",
        ],
    )
    assert isinstance(result.exception, ParityError)
    assert "found 0 boxes" in str(result.exception)
    assert json.loads((tmp_path / "export_report.json").read_text())["passed"] is False
