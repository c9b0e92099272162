"""`qc grader-ensemble`: several graders trained alike, folded into one ONNX file that averages their probabilities.

Two graders trained on the same crops with different seeds disagree on a good share of real rotten fruit (the
v0006 recipe: real rot flagged 0.915 with seed 0, 0.851 with seed 1), so one seed's luck decides what ships. The mean
of their softmax outputs is a plain, well-understood way to take that variance out. The members are merged into one
graph (one shared ``images`` input, each member's nodes under its own name prefix, an ONNX ``Mean`` over their
``output0``) so everything downstream (the card's grader section, the registry, the golden gate, hot swap, shadow
and canary) still sees one grader file with ultralytics' classify contract; the cost is one member's compute per
member, per crop.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vision.atomic_file import write_bytes_atomic
from vision.errors import InputError
from vision.model_card import sha256_file

INPUT = "images"
OUTPUT = "output0"
# Metadata that must agree across members: what the edge reads from the file (class names and order, input size,
# task). Ultralytics' other keys (date, description, args) describe one member; the first member's are kept.
_MUST_AGREE = ("names", "imgsz", "task")


@dataclass(frozen=True)
class EnsembleReport:
    """The merged file and what went into it."""

    out: Path
    members: list[dict[str, Any]]  # path and sha256 of each member, in order
    classes: list[str]

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"out": str(self.out), "members": self.members, "classes": self.classes}


def _load(path: Path) -> Any:
    import onnx

    if not path.is_file():
        raise InputError(f"grader {path} does not exist")
    try:
        model = onnx.load(str(path))
    except Exception as exc:  # onnx raises DecodeError and friends for a file that is no model
        raise InputError(f"{path} is not an ONNX model: {exc}") from None
    inputs = [i.name for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}]
    outputs = [o.name for o in model.graph.output]
    if inputs != [INPUT] or outputs != [OUTPUT]:
        raise InputError(f"{path}: a grader has one input {INPUT!r} and one output {OUTPUT!r} (ultralytics' classify "
                         f"export); this one has inputs {inputs} and outputs {outputs}")
    for node in model.graph.node:
        if any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for a in node.attribute):
            raise InputError(f"{path}: node {node.name!r} ({node.op_type}) holds a subgraph; an ensemble of graders "
                             "with control flow is not supported")
    return model


def _metadata(model: Any) -> dict[str, str]:
    return {p.key: p.value for p in model.metadata_props}


def _class_names(meta: dict[str, str], path: Path) -> list[str]:
    try:
        names = ast.literal_eval(meta["names"])
    except (KeyError, ValueError, SyntaxError):
        raise InputError(f"{path}: no class names embedded (ultralytics metadata 'names')") from None
    return [str(names[i]) for i in sorted(names)]


def _prefixed(graph: Any, prefix: str) -> tuple[list[Any], list[Any], list[Any]]:
    """The graph's nodes, initializers and value infos with every name but the shared input under ``prefix``."""

    def name(n: str) -> str:
        return n if n in ("", INPUT) else prefix + n

    def copy(proto: Any) -> Any:
        out = type(proto)()
        out.CopyFrom(proto)
        return out

    nodes = []
    for node in graph.node:
        c = copy(node)
        c.name = prefix + node.name if node.name else ""  # unnamed nodes may repeat; named ones may not
        c.input[:] = [name(n) for n in node.input]
        c.output[:] = [name(n) for n in node.output]
        nodes.append(c)

    def renamed(proto: Any) -> Any:
        out = copy(proto)
        out.name = name(proto.name)
        return out

    return nodes, [renamed(t) for t in graph.initializer], [renamed(v) for v in graph.value_info]


def ensemble_graders(members: Sequence[Path], out: Path) -> EnsembleReport:
    """Write ``out``: one ONNX grader whose ``output0`` is the mean of the members' ``output0`` (softmax
    probabilities), given the same ``images``. Members must embed the same class names (same order), input size and
    task, and output probabilities. InputError names the member and the problem otherwise."""
    import onnx
    from onnx import helper

    paths = [Path(m) for m in members]
    if len(paths) < 2:
        raise InputError(f"an ensemble needs at least 2 graders, got {len(paths)}")
    if len({p.resolve() for p in paths}) != len(paths):
        raise InputError("the same grader file is given twice: an ensemble of one model with itself adds nothing")
    models = [_load(p) for p in paths]
    metas = [_metadata(m) for m in models]
    classes = _class_names(metas[0], paths[0])
    for path, meta in zip(paths[1:], metas[1:], strict=True):
        if _class_names(meta, path) != classes:
            raise InputError(f"{path} embeds classes {_class_names(meta, path)}, {paths[0]} embeds {classes}: "
                             "members must have the same classes in the same order")
        for key in _MUST_AGREE[1:]:
            if meta.get(key) != metas[0].get(key):
                raise InputError(f"{path}: metadata {key!r} is {meta.get(key)!r}, {paths[0]} has "
                                 f"{metas[0].get(key)!r}: members must agree")
    for path, model in zip(paths, models, strict=True):
        if not any(n.op_type == "Softmax" for n in model.graph.node):
            raise InputError(f"{path} has no Softmax: its output is logits, and a mean of logits is not a mean of "
                             "probabilities; export the member with its Softmax (ultralytics' classify export)")

    nodes: list[Any] = []
    inits: list[Any] = []
    infos: list[Any] = []
    member_outputs = []
    for i, model in enumerate(models):
        prefix = f"member{i}/"
        n, t, v = _prefixed(model.graph, prefix)
        nodes += n
        inits += t
        infos += v
        member_outputs.append(prefix + OUTPUT)
    nodes.append(helper.make_node("Mean", member_outputs, [OUTPUT], name="ensemble_mean"))
    graph = helper.make_graph(nodes, "grader_ensemble", [models[0].graph.input[0]], [models[0].graph.output[0]],
                              initializer=inits, value_info=infos)
    opsets: dict[str, int] = {}
    for model in models:
        for op in model.opset_import:
            opsets[op.domain] = max(opsets.get(op.domain, 0), op.version)
    merged = helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in sorted(opsets.items())])
    merged.ir_version = max(m.ir_version for m in models)
    member_info = [{"path": str(p), "sha256": sha256_file(p)} for p in paths]
    meta = dict(metas[0])
    meta["description"] = f"mean of {len(paths)} graders' probabilities (qc grader-ensemble)"
    meta["ensemble"] = json.dumps(member_info)
    helper.set_model_props(merged, meta)
    onnx.checker.check_model(merged)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(out, merged.SerializeToString())
    return EnsembleReport(out=out, members=member_info, classes=classes)
