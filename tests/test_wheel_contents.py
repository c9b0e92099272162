"""What a non-editable install ships: the wheel of `pip install .` (as Dockerfile.gpu installs an edge node) must
hold every file the runtime reads from inside the packages. An editable install and the checkout read them from the
source tree, so only a real wheel shows a file that `[tool.setuptools.package-data]` leaves out."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from edge.ops.review.context import STATIC_DIR, TEMPLATES_DIR
from edge.store.migrate import MIGRATIONS_DIR
from vision.model_card import ModelCard, ModelCardDraft
from vision.registry.layout import CARD_NAME, DEFAULT_INT8_DIR, DEFAULT_MODEL_DIR, EVAL_NAME, ONNX_NAME, SHIPPED_HISTORY
from vision.taxonomy import DEFAULT_TAXONOMY_PATH, Taxonomy

# Building the wheel zips ~50 MB of shipped ONNX models: several seconds on a 2-core machine.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
# What Dockerfile.gpu copies into its build stage before `pip install .`.
BUILD_INPUTS = ("pyproject.toml", "README.md", "vision", "edge", "training")


def _in_wheel(path: Path) -> str:
    """The wheel's member name of a file in the checkout's packages (a package's files sit at the same path)."""
    return path.resolve().relative_to(ROOT).as_posix()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from a copy of exactly the Docker build's inputs: a build in the checkout would reuse its
    git-ignored build/ folder, whose stale files could hide a missing one."""
    src = tmp_path_factory.mktemp("src")
    for name in BUILD_INPUTS:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(ROOT / name, src / name)
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q", "-w",
         str(out), str(src)],
        check=True,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
        timeout=600,
    )
    (built,) = out.glob("conveyor_qc-*.whl")
    return built


@pytest.fixture(scope="module")
def members(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as zf:
        return set(zf.namelist())


def test_default_taxonomy_ships_inside_the_package(wheel: Path, members: set[str]) -> None:
    """`Taxonomy.load()` without $QC_TAXONOMY reads a file inside `vision`; the wheel holds it, byte for byte (its
    content is what model cards and data-set manifests were made with)."""
    name = _in_wheel(DEFAULT_TAXONOMY_PATH)
    assert name == "vision/taxonomy.yaml"
    assert name in members
    with zipfile.ZipFile(wheel) as zf:
        assert zf.read(name) == DEFAULT_TAXONOMY_PATH.read_bytes()


def _run_from_wheel(wheel: Path, tmp_path: Path, code: str, *args: str, timeout: int) -> str:
    """Run ``code`` in a fresh, isolated interpreter with the unpacked wheel first on its path (as ``sys.argv[1]``,
    ``args`` after it), with no QC_* setting or PYTHONPATH from this process; its stdout (the test fails on an error
    exit)."""
    site = tmp_path / "site-packages"
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(site)
    env = {k: v for k, v in os.environ.items() if not k.startswith("QC_") and k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-I", "-c", "import sys; sys.path.insert(0, sys.argv[1])\n" + code, str(site), *args],
        capture_output=True, text=True, env=env, timeout=timeout,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_installed_layout_loads_the_default_taxonomy(wheel: Path, tmp_path: Path) -> None:
    """The unpacked wheel, first on the path, resolves the default inside itself and loads it (the failure was
    'taxonomy file not found: <site-packages>/datasets/taxonomy.yaml')."""
    code = (
        "from vision.taxonomy import DEFAULT_TAXONOMY_PATH, Taxonomy\n"
        "assert DEFAULT_TAXONOMY_PATH.is_relative_to(sys.argv[1]), DEFAULT_TAXONOMY_PATH\n"
        "print(len(Taxonomy.load().class_names))\n"
    )
    out = _run_from_wheel(wheel, tmp_path, code, timeout=120)
    assert int(out) == len(Taxonomy.load(DEFAULT_TAXONOMY_PATH).class_names)


def _shipped_history() -> list[Path]:
    """The shipped model's history versions: the folders under ``history/`` with a card (a version may omit its
    detector or grader when another ONNX file of the shipped folder holds it byte for byte)."""
    return sorted(p for p in (DEFAULT_MODEL_DIR / SHIPPED_HISTORY).iterdir() if (p / CARD_NAME).is_file())


def test_shipped_model_files_the_registry_seeds_from_are_in_the_wheel(wheel: Path, members: set[str]) -> None:
    """Seeding an empty registry registers the shipped model and every history version with its graph, card, eval
    report and the grader its card names; a history version's graph or grader missing from its folder is found by
    the sha256 on its card among the wheel's shipped ONNX files. One missing file refuses the seeding."""
    folders, history = [DEFAULT_MODEL_DIR, DEFAULT_INT8_DIR], _shipped_history()
    needed: list[Path] = []
    by_hash: list[tuple[Path, str]] = []  # (the file a history version omits, the sha256 its card records)
    for folder in folders + history:
        needed.append(folder / CARD_NAME)
        if (folder / EVAL_NAME).is_file():
            needed.append(folder / EVAL_NAME)
        draft = ModelCardDraft.load(folder / CARD_NAME)
        files = {ONNX_NAME: ModelCard.load(folder / CARD_NAME).onnx_sha256 if folder in history else None}
        if draft.grader is not None:
            files[draft.grader.file] = draft.grader.sha256
        for name, sha in files.items():
            if (folder / name).is_file() or sha is None:
                needed.append(folder / name)
            else:
                by_hash.append((folder / name, sha))
    assert len(folders) + len(history) >= 3  # the shipped model, its int8 and at least one history version
    missing = sorted(_in_wheel(p) for p in needed if _in_wheel(p) not in members)
    assert missing == []
    shipped_prefix = _in_wheel(DEFAULT_MODEL_DIR) + "/"
    with zipfile.ZipFile(wheel) as zf:
        digests = {
            hashlib.sha256(zf.read(m)).hexdigest()
            for m in members
            if m.startswith(shipped_prefix) and m.endswith(".onnx")
        }
    unfound = sorted(f"{_in_wheel(p)} (sha256 {sha})" for p, sha in by_hash if sha not in digests)
    assert unfound == []


def test_every_shipped_history_version_is_seeded_from_the_installed_wheel(wheel: Path, tmp_path: Path) -> None:
    """The unpacked wheel, first on the path, seeds an empty registry from its own `vision/default_model`: every
    history version with a card as archived (oldest first, files found by hash included), then the shipped model as
    production, each verified (sha256, graph, grader) from the registry's own copy."""
    code = (
        "import json\n"
        "from vision.registry import DEFAULT_MODEL_DIR, Registry\n"
        "assert DEFAULT_MODEL_DIR.is_relative_to(sys.argv[1]), DEFAULT_MODEL_DIR\n"
        "reg = Registry.open(sys.argv[2])\n"
        "out = []\n"
        "for card in reg.list():\n"
        "    verified, path = reg.load_verified(card.version)\n"
        "    assert path.is_relative_to(sys.argv[2]), path\n"
        "    out.append([card.version, card.stage, verified.onnx_sha256, verified.grader is not None])\n"
        "print(json.dumps(out))\n"
    )
    out = _run_from_wheel(wheel, tmp_path, code, str(tmp_path / "registry"), timeout=300)
    expected = []
    for folder, stage in [*((p, "archived") for p in _shipped_history()), (DEFAULT_MODEL_DIR, "production")]:
        card = ModelCard.load(folder / CARD_NAME)
        expected.append([card.version, stage, card.onnx_sha256, card.grader is not None])
    assert json.loads(out) == expected


def test_review_page_and_migrations_are_in_the_wheel(members: set[str]) -> None:
    """The review page's templates and static files and the store's alembic migrations, read from their folders."""
    files = [
        p
        for folder in (TEMPLATES_DIR, STATIC_DIR, MIGRATIONS_DIR)
        for p in folder.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    ]
    assert files
    missing = sorted(_in_wheel(p) for p in files if _in_wheel(p) not in members)
    assert missing == []
