"""Real photos for the real-data path's tests: the MIT-licensed fixtures in the repo, and the shared set."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
FIXTURES = REPO / "datasets" / "fixtures" / "real-produce"


def shared_real_produce() -> Path | None:
    """The shared real-produce folder: ``$QC_REAL_PRODUCE``, else ``../shared/data/real-produce`` beside the checkout,
    else the workplace's ``/work/shared/data/real-produce``; None when none exists."""
    candidates = [os.environ.get("QC_REAL_PRODUCE"), REPO.parent / "shared" / "data" / "real-produce",
                  Path("/work/shared/data/real-produce")]
    for c in candidates:
        if c and (Path(c) / "fresh-rotten").is_dir() and (Path(c) / "fruit-photos").is_dir():
            return Path(c)
    return None


@pytest.fixture(scope="session")
def real_produce() -> Path:
    """The shared real photos; skipped with the reason where they are absent, a failure under
    ``QC_TEST_REAL_DATA_REQUIRED=1`` (CI, whose machines hold them)."""
    root = shared_real_produce()
    if root is None:
        why = ("the shared real-produce photos are not on this machine (set QC_REAL_PRODUCE to their folder: "
               "fresh-rotten/ and fruit-photos/)")
        if os.environ.get("QC_TEST_REAL_DATA_REQUIRED") == "1":
            pytest.fail(why + "; QC_TEST_REAL_DATA_REQUIRED=1 requires them")
        pytest.skip(why)
    return root


@pytest.fixture
def fixture_root(tmp_path: Path) -> Path:
    """A small real-produce folder built from the repo's MIT fixtures: the boxed photos as they are, and the single
    fruit among them as ``fresh-rotten/<produce>_fresh`` single-fruit photos."""
    root = tmp_path / "real-produce"
    shutil.copytree(FIXTURES / "fruit-photos", root / "fruit-photos")
    for name, kind in [("train_apple_2.jpg", "apple"), ("train_apple_72.jpg", "apple"),
                       ("train_banana_34.jpg", "banana"), ("train_orange_14.jpg", "orange"),
                       ("train_orange_6.jpg", "orange")]:
        folder = root / "fresh-rotten" / f"{kind}_fresh"
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / "fruit-photos" / "images" / name, folder / name)
    return root
