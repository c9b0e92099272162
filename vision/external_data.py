"""ONNX external data: tensors whose bytes live in other files, named by a path inside the graph.

ONNX Runtime opens whatever path an initializer's ``location`` names, relative to the model's folder. A model
in a registry version must only read files of its own version folder: ``location: /etc/shadow`` or
``../../other/weights.bin`` would let a crafted (or carelessly exported) graph read, or depend on, files the
sha256 on its card does not cover. This check reads the graph with ``onnx`` without loading any external bytes,
so it runs before ONNX Runtime touches the file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vision.errors import ModelLoadError


def _tensors(graph: Any, where: str) -> Iterator[tuple[str, Any]]:
    """Every TensorProto of a graph and its subgraphs (If/Loop/Scan bodies), with a name saying where it is."""
    for t in graph.initializer:
        yield f"{where}initializer '{t.name}'", t
    for sparse in graph.sparse_initializer:
        yield f"{where}sparse initializer '{sparse.values.name}' (values)", sparse.values
        yield f"{where}sparse initializer '{sparse.values.name}' (indices)", sparse.indices
    for node in graph.node:
        for attr in node.attribute:
            label = f"{where}node '{node.name or node.op_type}' attribute '{attr.name}'"
            if attr.HasField("t"):
                yield label, attr.t
            for t in attr.tensors:
                yield label, t
            if attr.HasField("g"):
                yield from _tensors(attr.g, f"{label} > ")
            for sub in attr.graphs:
                yield from _tensors(sub, f"{label} > ")


def _location(tensor: Any) -> str | None:
    """The external-data ``location`` of a tensor, None when its bytes are inside the graph."""
    import onnx

    if tensor.data_location != onnx.TensorProto.EXTERNAL:
        return None
    entries = {e.key: e.value for e in tensor.external_data}
    return entries.get("location", "")


def external_data_files(onnx_path: str | os.PathLike[str]) -> list[tuple[str, str]]:
    """``(tensor description, location)`` of every tensor stored outside the graph file, in graph order.

    Raises ModelLoadError when the file is not a readable ONNX graph.
    """
    import onnx

    path = Path(onnx_path)
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf's DecodeError and onnx's own errors for a file that is not a graph
        raise ModelLoadError(f"{path}: not a readable ONNX graph ({exc})") from exc
    return model_external_data(model)


def model_external_data(model: Any) -> list[tuple[str, str]]:
    """``(tensor description, location)`` of every tensor of a loaded ``onnx.ModelProto`` stored outside it."""
    found = []
    for label, tensor in _tensors(model.graph, ""):
        location = _location(tensor)
        if location is not None:
            found.append((label, location))
    return found


def external_data_problems(onnx_path: str | os.PathLike[str]) -> list[str]:
    """Why the graph's external data is not safely inside the graph's own folder; empty when it is (or has none).

    Refused: an absolute path (or a Windows drive), a path leaving the folder (``..``), an empty location, and a
    location that resolves outside the folder through a symbolic link.
    """
    path = Path(onnx_path)
    folder = path.resolve().parent
    problems = []
    for label, location in external_data_files(path):
        if not location:
            problems.append(f"{label} uses external data with no location")
            continue
        pure = Path(location)
        drive = len(location) > 1 and location[1] == ":"
        if pure.is_absolute() or location.startswith(("/", "\\")) or drive:
            problems.append(f"{label} reads external data from the absolute path {location!r}")
            continue
        if ".." in location.replace("\\", "/").split("/"):
            problems.append(f"{label} reads external data from {location!r}, outside the model's folder")
            continue
        resolved = (folder / location).resolve()
        if not resolved.is_relative_to(folder):
            problems.append(f"{label} reads external data from {location!r}, which leads outside the model's folder")
    return problems


def check_external_data(onnx_path: str | os.PathLike[str]) -> None:
    """Raise ModelLoadError naming the file, each tensor and its path when external data leaves the folder."""
    problems = external_data_problems(onnx_path)
    if problems:
        raise ModelLoadError(
            f"{onnx_path}: external data outside the version's folder is refused: " + "; ".join(problems)
        )
