"""Fixtures of the service tests: a model registry holding a real ONNX model in production; store backends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from store_backends import empty_database

from vision.model_card import ModelCardDraft
from vision.registry import DEFAULT_MODEL_DIR, ONNX_NAME, Registry
from vision.taxonomy import Taxonomy


@pytest.fixture(scope="session")
def served_registry(tmp_path_factory: pytest.TempPathFactory, taxonomy: Taxonomy, request: pytest.FixtureRequest) -> Path:
    """A registry root with a production model: the shipped one when it exists, else an untrained YOLO11n export."""
    root = tmp_path_factory.mktemp("service_registry")
    if (DEFAULT_MODEL_DIR / ONNX_NAME).is_file():
        Registry.open(root)  # seeds the shipped model as production
        return root
    onnx_path: Path = request.getfixturevalue("untrained_onnx")
    draft = ModelCardDraft(
        classes=list(taxonomy.class_names), taxonomy=taxonomy.to_dict(), input_size=(320, 320),
        training={"note": "untrained, for service tests"},
    )
    Registry.open(root, seed_from=None).register(onnx_path, draft, stage="production")
    return root


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty store on each backend: a SQLite file, or a throw-away schema on the real PostgreSQL server
    (``QC_TEST_POSTGRES_URL``; skipped when unreachable unless ``QC_TEST_POSTGRES_REQUIRED=1``)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.sqlite3'}"
        return
    with empty_database("postgresql", tmp_path) as url:
        yield url
