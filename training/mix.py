"""Several ultralytics data sets as one: the train splits of all, the val split of one, with its own manifest.

Files are hard-linked (copied where links cannot be made) into ``<out>/images/<split>/<part>__<name>`` and the
matching label path, so the mix is an ordinary data set: ultralytics finds every label, `training.manifest` gives it
a content hash for the model card, and ``mix.json`` records which data sets (and their hashes) went in.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import yaml

from training.manifest import Manifest, build_manifest, write_manifest
from training.synth.frames import write_data_yaml
from training.yolo_dataset import IMAGE_SUFFIXES, label_path_for
from vision.errors import InputError
from vision.taxonomy import Taxonomy


class MixError(InputError):
    """The data sets cannot be mixed (missing, other class names, clashing part names)."""


def _link(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:  # another file system, or links not allowed: a copy keeps the same bytes
        shutil.copyfile(src, dst)


def _add_split(part: Path, split: str, out: Path, target: str, prefix: str) -> int:
    images = sorted(p for p in (part / "images" / split).glob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    for image in images:
        name = f"{prefix}__{image.name}"
        _link(image, out / "images" / target / name)
        label = label_path_for(image)
        if label.is_file():
            _link(label, out / "labels" / target / f"{Path(name).stem}.txt")
    return len(images)


def mix_datasets(parts: Sequence[Path], val: Path, out: Path, taxonomy: Taxonomy | None = None) -> tuple[Manifest, dict]:
    """Write the mix into ``out`` (see the module docstring); returns its manifest and, per part, its content hash
    and the images it gave. A data set named more than once is trained on that many times (the scarce real photos
    beside thousands of rendered frames): its k-th copy's files are prefixed ``<name>-<k>``."""
    taxonomy = taxonomy or Taxonomy.load()
    names = dict(enumerate(taxonomy.class_names))
    folders = [*parts, val]
    distinct = {p.resolve() for p in parts}
    if len({p.name for p in distinct}) != len(distinct):
        raise MixError(f"data sets need distinct folder names (they prefix the file names): {[str(p) for p in parts]}")
    for d in folders:
        data_yaml = d / "data.yaml"
        if not data_yaml.is_file():
            raise MixError(f"no data.yaml in {d}")
        theirs = yaml.safe_load(data_yaml.read_text()).get("names")
        if isinstance(theirs, list):
            theirs = dict(enumerate(theirs))
        if theirs is not None and {int(k): v for k, v in dict(theirs).items()} != names:
            raise MixError(f"{data_yaml} has other class names than the taxonomy")
    for split in ("train", "val", "test"):
        (out / "images" / split).mkdir(parents=True)
        (out / "labels" / split).mkdir(parents=True)
    report: dict = {"train": {}, "val": {}}
    seen: dict[Path, int] = {}
    for part in parts:
        k = seen[part.resolve()] = seen.get(part.resolve(), 0) + 1
        prefix = part.resolve().name if k == 1 else f"{part.resolve().name}-{k}"
        entry = report["train"].setdefault(str(part), {"hash": build_manifest(part).content_hash, "images": 0, "copies": 0})
        entry["images"] += _add_split(part, "train", out, "train", prefix)
        entry["copies"] = k
    report["val"][str(val)] = {"images": _add_split(val, "val", out, "val", val.resolve().name)}
    write_data_yaml(out, taxonomy)
    (out / "mix.json").write_text(json.dumps(report, indent=1))
    return write_manifest(out), report
