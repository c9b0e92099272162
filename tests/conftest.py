"""Shared fixtures: real values and real small models, never mocks of our own components."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vision.taxonomy import Taxonomy

os.environ.setdefault("YOLO_OFFLINE", "1")


@pytest.fixture(scope="session")
def taxonomy() -> Taxonomy:
    """The project's taxonomy (vision/taxonomy.yaml, shipped in the package)."""
    return Taxonomy.load()


@pytest.fixture(scope="session")
def untrained_yolo(tmp_path_factory: pytest.TempPathFactory, taxonomy: Taxonomy) -> Path:
    """A randomly initialised YOLO11n (from yolo11n.yaml, nc = taxonomy classes) saved as a .pt checkpoint.

    Real architecture and real export path; its detections are meaningless, so use it for shapes and parity only.
    """
    from tests.training.testing_models import build_untrained_checkpoint

    return build_untrained_checkpoint(tmp_path_factory.mktemp("untrained") / "untrained.pt", taxonomy)


@pytest.fixture(scope="session")
def untrained_onnx(tmp_path_factory: pytest.TempPathFactory, untrained_yolo: Path) -> Path:
    """`untrained_yolo` exported to ONNX (fp32, dynamic batch/H/W, imgsz 320) by ultralytics."""
    from tests.training.testing_models import export_onnx_plain

    return export_onnx_plain(untrained_yolo, tmp_path_factory.mktemp("untrained_onnx"), imgsz=320)
