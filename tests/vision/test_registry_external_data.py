"""ONNX external data: a graph whose tensors live in files outside its version folder is refused everywhere."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
from onnx_builders import tiny_detector_onnx
from test_registry import make_draft

from vision.errors import ModelLoadError
from vision.external_data import external_data_files, external_data_problems
from vision.model_card import ModelCard, sha256_file, verify_against_graph, write_json_atomic
from vision.registry import Registry
from vision.taxonomy import Taxonomy


def with_external_weight(model_path: Path, location: str, data_file: Path) -> Path:
    """Rewrite ``model_path`` so its conv weight "w" is read from ``location`` (its bytes written to ``data_file``)."""
    import onnx
    from onnx.external_data_helper import set_external_data

    model = onnx.load(str(model_path))
    (tensor,) = [t for t in model.graph.initializer if t.name == "w"]
    data_file.parent.mkdir(parents=True, exist_ok=True)
    data_file.write_bytes(tensor.raw_data)
    set_external_data(tensor, location=location, offset=0, length=len(tensor.raw_data))
    tensor.ClearField("raw_data")
    tensor.data_location = onnx.TensorProto.EXTERNAL
    onnx.save(model, str(model_path))
    return model_path


def card_for(path: Path, taxonomy: Taxonomy) -> ModelCard:
    return ModelCard(
        **make_draft(taxonomy).model_dump(),
        version="v0001",
        onnx_sha256=sha256_file(path),
        created_at="2026-01-01T00:00:00+00:00",
    )


@pytest.fixture()
def version_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "registry" / "versions" / "v0001"
    folder.mkdir(parents=True)
    return folder


@pytest.mark.parametrize(
    ("location", "data_at", "match"),
    [
        ("../outside.bin", lambda d: d.parent / "outside.bin", r"initializer 'w' .*'\.\./outside\.bin', outside"),
        ("sub/../../outside.bin", lambda d: d.parent / "outside.bin", r"initializer 'w' .*outside the model's folder"),
        (None, lambda d: d.parent.parent / "abs.bin", r"initializer 'w' reads external data from the absolute path"),
    ],
)
def test_external_data_outside_the_folder_is_refused(
    version_dir: Path, taxonomy: Taxonomy, location: str | None, data_at: Any, match: str
) -> None:
    data_file = data_at(version_dir)
    model = tiny_detector_onnx(version_dir / "model.onnx", rows=4 + taxonomy.num_classes)
    with_external_weight(model, location or str(data_file), data_file)
    assert external_data_files(model) == [("initializer 'w'", location or str(data_file))]
    with pytest.raises(ModelLoadError, match=match) as err:
        verify_against_graph(card_for(model, taxonomy), model)
    assert str(model) in str(err.value)


def test_a_symlink_leading_outside_is_refused(version_dir: Path, taxonomy: Taxonomy) -> None:
    outside = version_dir.parent.parent / "secret.bin"
    model = tiny_detector_onnx(version_dir / "model.onnx", rows=4 + taxonomy.num_classes)
    with_external_weight(model, "link.bin", outside)
    (version_dir / "link.bin").symlink_to(outside)
    assert external_data_problems(model) == [
        "initializer 'w' reads external data from 'link.bin', which leads outside the model's folder"
    ]


def test_external_data_inside_the_folder_is_accepted_and_runs(version_dir: Path, taxonomy: Taxonomy) -> None:
    model = tiny_detector_onnx(version_dir / "model.onnx", rows=4 + taxonomy.num_classes)
    with_external_weight(model, "data/w.bin", version_dir / "data" / "w.bin")
    assert external_data_problems(model) == []
    verify_against_graph(card_for(model, taxonomy), model)
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {"images": np.ones((1, 3, 64, 64), np.float32)})
    assert out.shape == (1, 4 + taxonomy.num_classes, 4) and np.allclose(out, 3 * 32 * 32 * 1e-3, rtol=1e-4)


def test_register_copies_inside_data_and_refuses_outside_data(tmp_path: Path, taxonomy: Taxonomy) -> None:
    src = tmp_path / "export"
    src.mkdir()
    inside = with_external_weight(
        tiny_detector_onnx(src / "m.onnx", rows=4 + taxonomy.num_classes), "m.weights", src / "m.weights"
    )
    reg = Registry.open(tmp_path / "reg", seed_from=None)
    card = reg.register(inside, make_draft(taxonomy))
    folder = tmp_path / "reg" / "versions" / card.version
    assert (folder / "m.weights").read_bytes() == (src / "m.weights").read_bytes()
    assert reg.load_verified(card.version)[1] == folder / "model.onnx"

    outside = with_external_weight(
        tiny_detector_onnx(src / "bad.onnx", rows=4 + taxonomy.num_classes), "../stolen.bin", tmp_path / "stolen.bin"
    )
    with pytest.raises(ModelLoadError, match=r"initializer 'w' reads external data from '\.\./stolen\.bin'"):
        reg.register(outside, make_draft(taxonomy))
    assert [c.version for c in reg.list()] == [card.version]


def test_load_verified_refuses_a_planted_model_whose_card_was_rewritten(tmp_path: Path, taxonomy: Taxonomy) -> None:
    """Someone with write access swaps the file and fixes the sha256: the external-data path still gives it away."""
    reg = Registry.open(tmp_path / "reg", seed_from=None)
    card = reg.register(tiny_detector_onnx(tmp_path / "ok.onnx", rows=4 + taxonomy.num_classes), make_draft(taxonomy))
    path = reg.path_of(card)
    with_external_weight(path, "/etc/qc-weights.bin", tmp_path / "planted.bin")
    write_json_atomic(path.parent / "card.json", {**card.model_dump(mode="json"), "onnx_sha256": sha256_file(path)})
    with pytest.raises(ModelLoadError, match=r"initializer 'w' reads external data from the absolute path '/etc/"):
        reg.load_verified(card.version)
    with pytest.raises(ModelLoadError, match="external data outside the version's folder is refused"):
        reg.set_stage(card.version, "production")
    assert reg.get(card.version).stage == "candidate"
