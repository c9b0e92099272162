"""The model registry: versions of ONNX models with their cards, stages and history, on a folder or an fsspec URL.

See `vision.registry.layout` for the files, `vision.registry.storage` for the two backends (a local folder with
atomic renames; object stores with files first and the card last) and `vision.registry.history` for rollback.
"""

from vision.registry.layout import (
    CARD_NAME,
    DEFAULT_INT8_DIR,
    DEFAULT_MODEL_DIR,
    EVAL_NAME,
    GRADER_NAME,
    ONNX_NAME,
    WEIGHTS_NAME,
    default_registry_root,
    format_version,
)
from vision.registry.model_registry import Registry, RegistryError, grader_file_for, grader_section_beside
from vision.registry.storage import StorageError

__all__ = [
    "CARD_NAME",
    "DEFAULT_INT8_DIR",
    "DEFAULT_MODEL_DIR",
    "EVAL_NAME",
    "GRADER_NAME",
    "ONNX_NAME",
    "WEIGHTS_NAME",
    "Registry",
    "RegistryError",
    "StorageError",
    "default_registry_root",
    "format_version",
    "grader_file_for",
    "grader_section_beside",
]
