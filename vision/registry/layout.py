"""The registry's file layout and its default location.

Layout (a folder, or the same keys under an fsspec URL)::

    <root>/versions/<version>/model.onnx   the graph (external data, if any, beside it)
    <root>/versions/<version>/grader.onnx  optional second-stage freshness grader (card section ``grader``)
    <root>/versions/<version>/card.json    ModelCard (sha256s, classes, input size, metrics, stage, history ...)
    <root>/versions/<version>/eval.json    optional full evaluation report
    <root>/versions/<version>/weights.pt   optional torch weights (golden-frame gate, fine-tuning)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from vision.model_card import GRADER_FILE
from vision.user_dirs import data_home

# The model that ships with the package (trained by the project's own pipeline); seeds an empty registry.
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent.parent / "default_model"
# Its int8 deployment for CPU nodes (`qc quantize` of it, with its card and the fp32-vs-int8 report).
DEFAULT_INT8_DIR = DEFAULT_MODEL_DIR / "int8"
# The shipped model's earlier versions (``<shipped>/history/<version>/``): seeded as archived before it.
SHIPPED_HISTORY = "history"
VERSIONS = "versions"
ONNX_NAME = "model.onnx"
GRADER_NAME = GRADER_FILE
CARD_NAME = "card.json"
EVAL_NAME = "eval.json"
WEIGHTS_NAME = "weights.pt"


def default_registry_root(env: Mapping[str, str] | None = None) -> Path | str:
    """``$QC_REGISTRY`` (a folder or an fsspec URL), else ``$XDG_DATA_HOME/conveyor-qc/registry`` (XDG default
    ``~/.local/share``)."""
    env = os.environ if env is None else env
    if env.get("QC_REGISTRY"):
        value = env["QC_REGISTRY"]
        return value if "://" in value else Path(value).expanduser()
    return data_home(env) / "registry"


def version_number(version: str) -> int:
    """The number of a version id: 'v0012' -> 12."""
    return int(version[1:])


def format_version(number: int) -> str:
    """Version id of a version number: 1 -> 'v0001'."""
    return f"v{number:04d}"
