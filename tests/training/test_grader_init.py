"""Starting a grader from a detector's backbone (`training.grader_init`, `qc train-grader --init-from`): on real
ultralytics models built from their yaml, the shared leading layers are copied exactly and nothing past them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from tests.training.test_grader_train import _crops
from tests.training.testing_models import build_untrained_checkpoint
from training.grader_init import build_init_checkpoint
from training.train import TrainError
from vision.cli import build_app
from vision.taxonomy import Taxonomy


def _layers(ckpt_path: Path) -> torch.nn.Module:
    ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=False)
    return (ckpt.get("ema") or ckpt["model"]).float().model


def test_the_init_copies_the_detectors_first_nine_layers_and_nothing_after(tmp_path: Path) -> None:
    detector = build_untrained_checkpoint(tmp_path / "det.pt", Taxonomy.load(), seed=3)
    transfer = build_init_checkpoint(detector, "n", tmp_path / "init.pt")
    assert transfer.layers == tuple(range(9))  # layer 9 is SPPF in a detector, C2PSA in a classifier
    src, dst = _layers(detector), _layers(tmp_path / "init.pt")
    for i in range(9):
        for (name, a), b in zip(src[i].state_dict().items(), dst[i].state_dict().values(), strict=True):
            assert torch.equal(a, b), f"layer {i} {name} was not copied"
    assert transfer.parameters == sum(p.numel() for i in range(9) for p in dst[i].parameters())
    fresh = build_init_checkpoint(build_untrained_checkpoint(tmp_path / "det2.pt", Taxonomy.load(), seed=4), "n",
                                  tmp_path / "init2.pt")
    assert fresh.layers == transfer.layers
    # the classifier's own layers are not the detector's: two inits from different detectors differ in layer 0 only
    assert not torch.equal(_layers(tmp_path / "init2.pt")[0].conv.weight, dst[0].conv.weight)


def test_the_init_refuses_a_missing_file_a_non_checkpoint_and_another_scale(tmp_path: Path) -> None:
    with pytest.raises(TrainError, match="is not a file"):
        build_init_checkpoint(tmp_path / "nope.pt", "n", tmp_path / "init.pt")
    junk = tmp_path / "junk.pt"
    junk.write_text("not a checkpoint")
    with pytest.raises(TrainError, match="is not a torch checkpoint"):
        build_init_checkpoint(junk, "n", tmp_path / "init.pt")
    detector = build_untrained_checkpoint(tmp_path / "det.pt", Taxonomy.load())
    with pytest.raises(TrainError, match="another scale"):
        build_init_checkpoint(detector, "s", tmp_path / "init.pt")
    assert not (tmp_path / "init.pt").exists()


@pytest.mark.slow
def test_train_grader_from_a_detector_starts_from_its_weights_and_says_so(tmp_path: Path) -> None:
    detector = build_untrained_checkpoint(tmp_path / "det.pt", Taxonomy.load(), seed=5)
    out = tmp_path / "run"
    result = CliRunner().invoke(build_app(), ["train-grader", "--data", str(_crops(tmp_path / "crops")), "--out",
                                              str(out), "--epochs", "1", "--imgsz", "32", "--batch", "4",
                                              "--init-from", str(detector)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    init = json.loads((out / "grader_report.json").read_text())["init"]
    assert init["from"] == str(detector) and init["layers"] == list(range(9))
    # one epoch on 16 crops moves the weights a little; a random start would be uncorrelated with the detector's
    trained, source = _layers(out / "weights" / "best.pt")[0].conv.weight, _layers(detector)[0].conv.weight
    assert float(torch.corrcoef(torch.stack([trained.detach().flatten(), source.detach().flatten()]))[0, 1]) > 0.9


@pytest.mark.slow
def test_train_grader_without_init_records_a_random_start(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = CliRunner().invoke(build_app(), ["train-grader", "--data", str(_crops(tmp_path / "crops")), "--out",
                                              str(out), "--epochs", "1", "--imgsz", "32", "--batch", "4"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert json.loads((out / "grader_report.json").read_text())["init"] is None
    assert not (out / "init.pt").exists()
