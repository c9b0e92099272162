"""`qc dataset import-yolo|import-coco|manifest` and `qc eval` on an import, run as a user runs them (the `qc`
script in a subprocess); the importers' own tests are in `test_importers.py`, whose source builders these reuse."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml
from test_importers import MAPPING, _assert_every_label_is_found, _nested_coco, make_yolo


def _qc(*args: str, cwd: Path, command: str = "dataset") -> subprocess.CompletedProcess[str]:
    qc = Path(sys.executable).with_name("qc")
    env = {**os.environ, "YOLO_OFFLINE": "1"}
    return subprocess.run([str(qc), command, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_cli_import_yolo_then_manifest(tmp_path: Path) -> None:
    src = make_yolo(
        tmp_path / "src",
        {"images/a.jpg": "0 0.5 0.5 0.2 0.2\n", "images/b.jpg": "1 0.5 0.5 0.2 0.2\n"},
        ["Apple", "rotten_apple"],
    )
    mapping_file = tmp_path / "map.yaml"
    mapping_file.write_text(yaml.safe_dump(MAPPING))
    result = _qc(
        "import-yolo", str(src), "--out", "out", "--map", str(mapping_file), "--val-fraction", "0", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert "apple_fresh" in result.stdout and "content hash:" in result.stdout
    stored = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert stored["images"] == 2 and stored["instances"]["apple_rotten"] == 1

    listed = _qc("manifest", "out", "--json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == stored


def test_cli_unmapped_class_is_an_error_line_with_exit_code_2(tmp_path: Path) -> None:
    src = make_yolo(tmp_path / "src", {"images/a.jpg": "0 0.5 0.5 0.2 0.2\n1 0.5 0.5 0.2 0.2\n"}, ["Pear", "Kiwi"])
    mapping_file = tmp_path / "map.yaml"
    mapping_file.write_text(yaml.safe_dump(MAPPING))
    result = _qc("import-yolo", str(src), "--out", "out", "--map", str(mapping_file), cwd=tmp_path)
    assert result.returncode == 2
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1 and "'Kiwi', 'Pear'" in error_lines[0]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_cli_import_coco_with_folders_in_file_names_then_eval_finds_every_box(
    tmp_path: Path, untrained_onnx: Path
) -> None:
    # The layout of many exports: file_name "images/x.jpg" relative to the folder above images/.
    annotations, images = _nested_coco(tmp_path, ["images/a.jpg", "images/b.jpg", "train/sub/c.jpg", "images/n.jpg"])
    mapping_file = tmp_path / "map.yaml"
    mapping_file.write_text(yaml.safe_dump(MAPPING))
    args = ["--images", str(images), "--out", "out", "--map", str(mapping_file), "--split", "val"]
    imported = _qc("import-coco", str(annotations), *args, cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr
    _assert_every_label_is_found(tmp_path / "out")

    evaluated = _qc("--data", "out", "--model", str(untrained_onnx), "--json", cwd=tmp_path, command="eval")
    assert evaluated.returncode == 0, evaluated.stderr
    report = json.loads(evaluated.stdout)
    assert report["counts"]["images"] == 4 and report["counts"]["gt_boxes"] == 3
    assert report["map50"] is not None  # a number, even for random weights: the split has ground truth


def test_cli_import_coco_refuses_a_file_name_with_dotdot_in_one_error_line(tmp_path: Path) -> None:
    annotations, images = _nested_coco(tmp_path, ["ok.jpg", "neg.jpg"])
    coco = json.loads(annotations.read_text())
    coco["images"][0]["file_name"] = "../../etc/ok.jpg"
    annotations.write_text(json.dumps(coco))
    mapping_file = tmp_path / "map.yaml"
    mapping_file.write_text(yaml.safe_dump(MAPPING))
    args = ["--images", str(images), "--out", "out", "--map", str(mapping_file)]
    result = _qc("import-coco", str(annotations), *args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1 and "image id 1" in error_lines[0] and "'../../etc/ok.jpg'" in error_lines[0]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()
