"""The golden-frame gate on real torch + ONNX pairs, and `qc registry promote/rollback` refusing on it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import typer
from conditioned_models import build_conditioned_checkpoint
from typer.testing import CliRunner

from tests.training.testing_models import export_onnx_plain
from training.cli import registry as registry_cli
from training.golden import GOLDEN_FRAMES, GoldenGateError, gate_providers, golden_frames, run_golden_gate
from vision.model_card import ModelCardDraft
from vision.registry import Registry
from vision.taxonomy import Taxonomy

pytestmark = pytest.mark.slow  # the golden-frame gate on exported models


@pytest.fixture(scope="module")
def pairs(tmp_path_factory: pytest.TempPathFactory, taxonomy: Taxonomy) -> dict[str, tuple[Path, Path]]:
    """Two different conditioned YOLO11n checkpoints, each with its own ONNX export at 320."""
    out: dict[str, tuple[Path, Path]] = {}
    for name, seed in (("a", 0), ("b", 1)):
        folder = tmp_path_factory.mktemp(f"golden_{name}")
        pt = build_conditioned_checkpoint(folder / f"{name}.pt", taxonomy, seed=seed)
        out[name] = (pt, export_onnx_plain(pt, folder / "onnx", imgsz=320))
    return out


def draft(taxonomy: Taxonomy) -> ModelCardDraft:
    return ModelCardDraft(classes=list(taxonomy.class_names), taxonomy=taxonomy.to_dict(), input_size=(320, 320))


@pytest.fixture()
def registry(tmp_path: Path, taxonomy: Taxonomy, pairs: dict[str, tuple[Path, Path]]) -> Registry:
    """v0001 production (A with A's weights), v0002 good candidate (A), v0003 mismatched (ONNX B, weights A),
    v0004 without weights."""
    (pt_a, onnx_a), (_, onnx_b) = pairs["a"], pairs["b"]
    reg = Registry.open(tmp_path / "reg", seed_from=None)
    reg.register(onnx_a, draft(taxonomy), stage="production", weights=pt_a)
    reg.register(onnx_a, draft(taxonomy), weights=pt_a)
    reg.register(onnx_b, draft(taxonomy), weights=pt_a)
    reg.register(onnx_a, draft(taxonomy))
    return reg


def test_golden_frames_are_fixed_and_at_the_card_size(registry: Registry) -> None:
    card = registry.get("v0001")
    frames = golden_frames(card)
    assert len(frames) == GOLDEN_FRAMES
    assert all(f.shape == (320, 320, 3) and f.dtype == np.uint8 for f in frames)
    assert all(np.array_equal(a, b) for a, b in zip(frames, golden_frames(card)))
    assert gate_providers(["CPUExecutionProvider"]) == [("CPUExecutionProvider",)]
    assert gate_providers(["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"])[1] == (
        "TensorrtExecutionProvider",
        "CPUExecutionProvider",
    )


def test_gate_passes_for_a_matching_pair_and_fails_for_a_mismatched_one(registry: Registry) -> None:
    good = run_golden_gate(registry, "v0002")
    assert good.passed, good.summary()
    (run,) = [r for r in good.runs if r.providers == ("CPUExecutionProvider",)]
    assert run.report.torch_boxes >= 1 and run.report.violating_boxes == 0
    bad = run_golden_gate(registry, "v0003")
    assert not bad.passed
    assert "golden-frame gate FAILED for v0003" in bad.summary() and "violating boxes" in bad.summary()
    with pytest.raises(GoldenGateError, match="v0004 has no torch weights stored"):
        run_golden_gate(registry, "v0004")


def qc() -> typer.Typer:
    app = typer.Typer()
    app.add_typer(registry_cli.app, name="registry")
    return app


def stages(reg: Registry) -> dict[str, str]:
    return {c.version: c.stage for c in reg.list()}


def test_promote_and_rollback_run_the_gate_first(registry: Registry) -> None:
    runner, reg = CliRunner(), ["--registry", str(registry.root)]
    before = stages(registry)

    refused = runner.invoke(qc(), ["registry", "promote", "v0003", "--reason", "try it", *reg])
    assert refused.exit_code == 1
    assert "golden-frame gate FAILED for v0003" in refused.output and "no stage changed" in refused.output
    no_weights = runner.invoke(qc(), ["registry", "promote", "v0004", "--stage", "shadow", *reg])
    assert no_weights.exit_code == 1 and "v0004 has no torch weights stored" in no_weights.output
    assert stages(registry) == before

    promoted = runner.invoke(qc(), ["registry", "promote", "v0002", "--reason", "retrained", *reg])
    assert promoted.exit_code == 0, promoted.output
    assert json.loads(promoted.stdout) == {"version": "v0002", "stage": "production", "archived": ["v0001"]}
    assert registry.get("v0002").history[-1].reason == "retrained"

    skipped = runner.invoke(qc(), ["registry", "promote", "v0004", "--skip-golden", "--reason", "hotfix", *reg])
    assert skipped.exit_code == 0, skipped.output
    assert "warning: golden-frame gate skipped for v0004" in skipped.output
    assert registry.get("v0004").history[-1].reason == "hotfix [golden-frame gate skipped]"

    # Rolling back to v0002 runs the gate on v0002 (the version that will serve), which passes.
    rolled = runner.invoke(qc(), ["registry", "rollback", "--reason", "hotfix misses apples", *reg])
    assert rolled.exit_code == 0, rolled.output
    assert json.loads(rolled.stdout) == {"version": "v0002", "rolled_back": "v0004"}
    assert stages(registry) == {"v0001": "archived", "v0002": "production", "v0003": "candidate", "v0004": "archived"}


def test_rollback_is_refused_when_the_previous_version_fails_the_gate(registry: Registry) -> None:
    runner, reg = CliRunner(), ["--registry", str(registry.root)]
    assert runner.invoke(qc(), ["registry", "promote", "v0003", "--skip-golden", *reg]).exit_code == 0
    assert runner.invoke(qc(), ["registry", "promote", "v0002", *reg]).exit_code == 0
    before = stages(registry)
    refused = runner.invoke(qc(), ["registry", "rollback", *reg])  # back to v0003: its ONNX is not its weights
    assert refused.exit_code == 1 and "golden-frame gate FAILED for v0003" in refused.output
    assert stages(registry) == before == {
        "v0001": "archived",
        "v0002": "production",
        "v0003": "archived",
        "v0004": "candidate",
    }
    forced = runner.invoke(qc(), ["registry", "rollback", "--skip-golden", *reg])
    assert forced.exit_code == 0 and json.loads(forced.stdout) == {"version": "v0003", "rolled_back": "v0002"}
    assert registry.get("v0003").history[-1].reason == "golden-frame gate skipped"
