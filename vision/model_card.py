"""ModelCard: what a registered model version is, and the check that an ONNX file really is that model.

A card is written once by the registry (identity: version, files, sha256s, created_at) from a
`ModelCardDraft` (content: classes, input size, letterbox, dtype, data set, metrics, training run,
parent, code version, produce-vote calibration, and the optional second-stage grader: `GraderSpec`, its file stored
and verified with the detector's as one version, see `vision.grader`). Only ``stage`` and its ``history`` change
afterwards.
The graph check reads the ONNX file through ONNX Runtime's session metadata; the external-data check
(`vision.external_data`) reads the graph's initializers with the ``onnx`` package (a base dependency:
edge nodes verify too).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from vision.atomic_file import write_bytes_atomic
from vision.errors import InputError, ModelLoadError, TaxonomyError
from vision.external_data import check_external_data
from vision.taxonomy import Taxonomy

Stage = Literal["candidate", "shadow", "canary", "production", "archived"]
STAGES: tuple[str, ...] = ("candidate", "shadow", "canary", "production", "archived")
# int8: a QDQ graph (`qc quantize`): int8 weights and activations inside, float32 input and output.
Dtype = Literal["fp32", "fp16", "int8"]
VERSION_PATTERN = re.compile(r"^v\d{4,}$")
ONNX_FILE = "model.onnx"  # the detector's file in a version folder
GRADER_FILE = "grader.onnx"  # the grader's, beside it
# The grader class for "this box holds no produce at all" (a hand, a label, a tool, the belt): its veto.
NOT_PRODUCE = "not_produce"
# Context around an item's box in the grader's crop, per side, as a share of the box's longer side. Here (not in
# vision.grader) because the card's default needs it and vision.grader imports this module.
GRADER_PAD = 0.08

# ONNX Runtime's type strings for the input tensor of each card dtype. An int8 QDQ graph quantizes its input
# inside the graph, so it is fed float32 like an fp32 one.
_ORT_INPUT_TYPES: dict[str, str] = {"fp32": "tensor(float)", "fp16": "tensor(float16)", "int8": "tensor(float)"}


class LetterboxSpec(BaseModel):
    """How frames are fitted into the network input (see `vision.letterbox`); must match export and validation."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    stride: int = Field(default=32, gt=0, description="Network stride; letterboxed sides are multiples of it.")
    pad_value: int = Field(default=114, ge=0, le=255, description="Grey value of the padding, per channel.")
    center: bool = Field(default=True, description="Image centred in the padded canvas (else top-left).")
    dynamic_hw: bool = Field(
        default=True,
        description="The graph has dynamic H/W: a frame may be padded only to the next stride multiple "
        "(rectangular) instead of the full input_size square.",
    )


class DatasetRef(BaseModel):
    """The data set a model was trained and evaluated on."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    hash: str = Field(description="Content hash of the data set manifest and labels (the dataset builder's hash).")
    path: str = Field(default="", description="Where the data set lived when the model was trained (informational).")
    counts: dict[str, int] = Field(default_factory=dict, description="Image / box counts, e.g. per split.")


class CodeVersion(BaseModel):
    """The code that exported or registered a model: package version and, in a git checkout, the commit."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    package: str = Field(description="conveyor-qc package version, e.g. '0.1.0'.")
    commit: str | None = Field(default=None, description="git commit (40 hex) of the checkout, when run from one.")
    dirty: bool = Field(default=False, description="The checkout had uncommitted changes to tracked files.")


class StageChange(BaseModel):
    """One entry of a version's stage history: what it became, when, and why."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    stage: Stage = Field(description="The stage the version moved to.")
    at: str = Field(description="When, ISO 8601 UTC.")
    reason: str = Field(default="", description="Why, as given by the person or the program that moved it.")
    replaced: str | None = Field(
        default=None, description="For a move to production: the version that was production until then."
    )
    rollback: bool = Field(default=False, description="The move was part of a rollback (`Registry.rollback`).")


class GraderSpec(BaseModel):
    """The second-stage freshness grader a version carries (see `vision.grader`): an image classifier that scores
    an item's condition from a square, higher-resolution crop of the original frame, once per tracked item."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    file: str = Field(default=GRADER_FILE, description="ONNX file name of the grader, beside the detector's.")
    sha256: str = Field(description="sha256 of the grader's ONNX file, lowercase hex.")
    classes: list[str] = Field(
        description="Grader class names in output order: a subset of the detector's '<produce>_<condition>' classes, "
        "and optionally 'not_produce' (what the detector boxed is no produce: the item is vetoed, never counted)."
    )
    input_size: int = Field(gt=0, description="Side of the square input the grader was exported at, pixels.")
    crop_pad: float = Field(
        default=GRADER_PAD, ge=0.0, le=1.0,
        description="Context around the item's box, as a share of its longer side on each side (vision.grader_crop).",
    )
    produce_weight: float = Field(
        default=1.0, ge=0.0,
        description="Weight of the grader's mean produce marginal beside the detector's vote share when an item's "
        "produce is decided (0: the detector alone decides the produce).",
    )
    turns: Literal[1, 4] = Field(
        default=1,
        description="Quarter turns each crop is graded in, the probabilities averaged: 1 (the crop as cut) or 4 (0, "
        "90, 180 and 270 degrees; a top-down camera sees an item in any orientation and the grader trained on all "
        "four, so their mean is steadier than any one; costs 4 grader runs per crop).",
    )
    training: dict[str, Any] = Field(
        default_factory=dict, description="What the grader saw and how it was trained: data, crops, epochs, metrics.",
    )

    @field_validator("file")
    @classmethod
    def _plain_file(cls, v: str) -> str:
        if not v or "/" in v or "\\" in v or v in (".", ".."):
            raise ValueError(f"grader file must be a plain file name, got {v!r}")
        return v

    @field_validator("sha256")
    @classmethod
    def _sha(cls, v: str) -> str:
        if not re.fullmatch(r"[0-9a-f]{64}", v):
            raise ValueError(f"grader sha256 must be 64 lowercase hex digits, got {v!r}")
        return v

    @field_validator("classes")
    @classmethod
    def _classes(cls, v: list[str]) -> list[str]:
        if len(v) < 2 or len(set(v)) != len(v):
            raise ValueError(f"grader classes must be at least two distinct names, got {v}")
        return v


class ModelCardDraft(BaseModel):
    """A model card's content, before the registry assigns its identity (version, file, sha256, stage, time)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    classes: list[str] = Field(description="Detector class names in class-id order; equal to the taxonomy's.")
    taxonomy: dict[str, Any] = Field(description="The taxonomy the model was trained with (Taxonomy.to_dict()).")
    input_size: tuple[int, int] = Field(description="Network input [height, width] the model was exported at.")
    letterbox: LetterboxSpec = Field(default=LetterboxSpec(), description="Pre-processing the model expects.")
    dtype: Dtype = Field(
        default="fp32",
        description="Numeric format of the graph: fp32 or fp16 (the element type of its input and output tensors), "
        "or int8 (a QDQ graph: int8 weights and activations inside, float32 input and output).",
    )
    dataset: DatasetRef | None = Field(default=None, description="Training data set; None for untrained/test models.")
    metrics: dict[str, Any] = Field(default_factory=dict, description="Evaluation metrics (mAP, per class ...).")
    training: dict[str, Any] = Field(
        default_factory=dict,
        description="How it was trained: command, epochs, imgsz, seed, ultralytics/torch versions, duration ...",
    )
    parent_version: str | None = Field(
        default=None,
        description="Version this model was fine-tuned from, converted from (fp16 or int8 of an fp32 version) "
        "or replaces.",
    )
    code_version: CodeVersion | None = Field(
        default=None, description="The code that exported the model (filled by export, else at registration)."
    )
    spoiled_vote: dict[str, float] = Field(
        default_factory=dict,
        description="The model's produce-vote calibration: when an item's produce is decided, a produce kind's vote "
        "from its spoiled classes (condition freshness < 1) is multiplied by its factor, within (0, 1] "
        "(edge.tracking.aggregate). Measured per model on clips with `qc count-table --spoiled-vote`; "
        "empty: no discount. An int8 version keeps its source's.",
    )
    grader: GraderSpec | None = Field(
        default=None,
        description="The second-stage freshness grader registered with this version (its file lives beside the "
        "detector's); None: the detector's freshness decides alone.",
    )

    @field_validator("input_size")
    @classmethod
    def _positive_size(cls, v: tuple[int, int]) -> tuple[int, int]:
        if v[0] <= 0 or v[1] <= 0:
            raise ValueError(f"input_size must be two positive ints [h, w], got {list(v)}")
        return v

    @field_validator("parent_version")
    @classmethod
    def _parent_format(cls, v: str | None) -> str | None:
        if v is not None and not VERSION_PATTERN.match(v):
            raise ValueError(f"parent_version must look like 'v0001', got {v!r}")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> ModelCardDraft:
        try:
            tax = Taxonomy.from_dict(self.taxonomy, source="card taxonomy")
        except TaxonomyError as exc:
            raise ValueError(str(exc)) from None
        if list(tax.class_names) != list(self.classes):
            raise ValueError(f"classes {self.classes} differ from the taxonomy's class names {list(tax.class_names)}")
        try:
            check_spoiled_vote(self.spoiled_vote, tax.produce)
        except InputError as exc:
            raise ValueError(str(exc)) from None
        if self.grader is not None:
            unknown = [c for c in self.grader.classes if c not in self.classes and c != NOT_PRODUCE]
            if unknown:
                raise ValueError(f"grader classes {unknown} are not detector classes ('<produce>_<condition>')")
            if self.grader.file == ONNX_FILE:
                raise ValueError(f"the grader file cannot be named {ONNX_FILE!r}: that is the detector's")
        s = self.letterbox.stride
        if self.input_size[0] % s or self.input_size[1] % s:
            raise ValueError(f"input_size {list(self.input_size)} is not a multiple of the letterbox stride {s}")
        return self

    def taxonomy_obj(self) -> Taxonomy:
        """The card's taxonomy as a `Taxonomy`."""
        return Taxonomy.from_dict(self.taxonomy, source="card taxonomy")

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ModelCardDraft:
        """Read a draft from JSON. A full card is accepted too; its identity fields are dropped."""
        raw = _read_json(Path(path))
        if isinstance(raw, dict) and "version" in raw:
            return _validate(ModelCard, raw, Path(path)).draft()
        return _validate(cls, raw, Path(path))

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write as JSON atomically (temp file + rename); returns the path."""
        return write_json_atomic(Path(path), self.model_dump(mode="json"))


class ModelCard(ModelCardDraft):
    """A registered model version: its ONNX file, sha256, content (see ModelCardDraft) and rollout stage."""

    version: str = Field(description="Registry version id, 'v' + at least 4 digits, e.g. 'v0001'.")
    onnx_file: str = Field(default=ONNX_FILE, description="ONNX file name, relative to the version folder.")
    onnx_sha256: str = Field(description="sha256 of the ONNX file, lowercase hex.")
    stage: Stage = Field(
        default="candidate", description="Rollout stage: candidate, shadow, canary, production, archived."
    )
    created_at: str = Field(description="Registration time, ISO 8601 UTC.")
    weights_file: str | None = Field(
        default=None, description="Torch weights (ultralytics .pt) stored with the version, relative to its folder."
    )
    weights_sha256: str | None = Field(default=None, description="sha256 of the weights file, lowercase hex.")
    history: list[StageChange] = Field(
        default_factory=list, description="Stage changes, oldest first (cards written before it have none)."
    )

    @field_validator("version")
    @classmethod
    def _version_format(cls, v: str) -> str:
        if not VERSION_PATTERN.match(v):
            raise ValueError(f"version must look like 'v0001', got {v!r}")
        return v

    @field_validator("onnx_sha256")
    @classmethod
    def _sha_format(cls, v: str) -> str:
        if not re.fullmatch(r"[0-9a-f]{64}", v):
            raise ValueError(f"onnx_sha256 must be 64 lowercase hex digits, got {v!r}")
        return v

    @field_validator("weights_sha256")
    @classmethod
    def _weights_sha_format(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"[0-9a-f]{64}", v):
            raise ValueError(f"weights_sha256 must be 64 lowercase hex digits, got {v!r}")
        return v

    @field_validator("onnx_file", "weights_file")
    @classmethod
    def _plain_name(cls, v: str | None) -> str | None:
        # A bare name keeps the card pointing inside its own version folder.
        if v is not None and (not v or "/" in v or "\\" in v or v in (".", "..")):
            raise ValueError(f"file names on a card must be plain file names, got {v!r}")
        return v

    @model_validator(mode="after")
    def _weights_pair(self) -> ModelCard:
        if (self.weights_file is None) != (self.weights_sha256 is None):
            raise ValueError("weights_file and weights_sha256 go together (both set or both absent)")
        return self

    def draft(self) -> ModelCardDraft:
        """The content part, e.g. to register the same model in another registry."""
        return ModelCardDraft.model_validate(self.model_dump(include=set(ModelCardDraft.model_fields)))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ModelCard:  # type: ignore[override]
        """Read a card from JSON; a missing, unreadable or invalid file raises ModelLoadError naming it."""
        return _validate(cls, _read_json(Path(path)), Path(path))

    @classmethod
    def from_json(cls, text: str | bytes, source: str) -> ModelCard:
        """Parse a card from JSON text read elsewhere (e.g. an object store); errors name ``source``."""
        try:
            raw = json.loads(text)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ModelLoadError(f"{source}: not a readable JSON model card ({exc})") from exc
        return _validate(cls, raw, source)


def check_spoiled_vote(factors: Mapping[str, float], produce: Sequence[str] | None = None) -> None:
    """Raise InputError for a produce-vote factor outside (0, 1] or, given the taxonomy's ``produce`` kinds, one
    naming a kind it does not have (a typo would otherwise silently calibrate nothing)."""
    for name, value in factors.items():
        if not 0.0 < float(value) <= 1.0:
            raise InputError(f"spoiled_vote[{name!r}] must be within (0, 1], got {value}")
    unknown = sorted(set(factors) - set(produce)) if produce is not None else []
    if unknown:
        raise InputError(f"spoiled_vote names unknown produce kinds {unknown}; known: {list(produce or [])}")


def _read_json(path: Path) -> Any:
    if not path.is_file():
        raise ModelLoadError(f"model card not found: {path}")
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"{path}: not a readable JSON model card ({exc})") from exc


def _validate(cls: type[Any], raw: Any, path: Path | str) -> Any:
    try:
        return cls.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'card'}: {e['msg']}" for e in exc.errors())
        raise ModelLoadError(f"{path}: invalid model card: {problems}") from None


def write_json_atomic(path: Path, data: Any) -> Path:
    """Write JSON so readers see the old or the new file, never half of one (temp file in the same folder + rename)."""
    return write_bytes_atomic(path, (json.dumps(data, indent=2) + "\n").encode())


def sha256_file(path: str | os.PathLike[str], chunk_size: int = 1 << 20) -> str:
    """sha256 of a file, read in chunks (models can be hundreds of MB)."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(chunk_size):
                h.update(chunk)
    except OSError as exc:
        raise ModelLoadError(f"cannot read model file {path}: {exc}") from exc
    return h.hexdigest()


def graph_mismatches(card: ModelCardDraft, session: Any) -> list[str]:
    """What about an ONNX Runtime session's graph disagrees with the card; empty when they agree.

    Checks: one 4-D input with 3 channels; its static H/W (if any) equal ``input_size``; its element type
    matches ``dtype`` (float32 for fp32 and int8, float16 for fp16); the output's static second dim (if any) is
    4 + number of classes; class names embedded by ultralytics (metadata ``names``, if present) equal the card's.
    """
    problems: list[str] = []
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1:
        return [f"graph has {len(inputs)} inputs, expected 1 image input"]
    inp = inputs[0]
    shape = list(inp.shape)
    if len(shape) != 4:
        return [f"graph input '{inp.name}' has shape {shape}, expected (batch, 3, height, width)"]
    if isinstance(shape[1], int) and shape[1] != 3:
        problems.append(f"graph input '{inp.name}' has {shape[1]} channels, expected 3")
    for dim, want, what in ((shape[2], card.input_size[0], "height"), (shape[3], card.input_size[1], "width")):
        if isinstance(dim, int) and dim != want:
            problems.append(f"graph input {what} is {dim}, card input_size says {want}")
    want_type = _ORT_INPUT_TYPES[card.dtype]
    if inp.type != want_type:
        problems.append(f"graph input type is {inp.type}, card dtype {card.dtype} needs {want_type}")
    if not outputs:
        problems.append("graph has no outputs")
    else:
        out_shape = list(outputs[0].shape)
        want_rows = 4 + len(card.classes)
        if len(out_shape) != 3:
            problems.append(f"graph output '{outputs[0].name}' has shape {out_shape}, expected (batch, 4+nc, anchors)")
        elif isinstance(out_shape[1], int) and out_shape[1] != want_rows:
            problems.append(
                f"graph output has {out_shape[1]} rows = 4 + {out_shape[1] - 4} classes, "
                f"card has {len(card.classes)} classes (needs {want_rows})"
            )
    embedded = embedded_names(session)
    # ultralytics writes placeholder names "0", "1", ... for models built without names; they say nothing.
    placeholder = embedded is not None and embedded == [str(i) for i in range(len(embedded))]
    if embedded is not None and not placeholder and embedded != list(card.classes):
        problems.append(f"class names embedded in the graph {embedded} differ from the card's {list(card.classes)}")
    return problems


def embedded_names(session: Any) -> list[str] | None:
    """Ultralytics stores ``names`` as a Python dict literal in the ONNX metadata; None if absent or unreadable."""
    import ast

    raw = session.get_modelmeta().custom_metadata_map.get("names")
    if not raw:
        return None
    try:
        names = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        return None
    if isinstance(names, (list, tuple)):
        return [str(n) for n in names]
    if not isinstance(names, dict):
        return None
    try:
        return [str(names[k]) for k in sorted(names, key=int)]
    except (TypeError, ValueError):
        return None


def verify_against_graph(card: ModelCard, onnx_path: str | os.PathLike[str], session: Any = None) -> None:
    """Refuse an ONNX file that is not the model its card describes: sha256 first, then external-data paths
    (none may leave the file's folder, see `vision.external_data`), then the graph.

    ``session`` lets a caller that already built an ONNX Runtime session (e.g. on a GPU) reuse it;
    otherwise a CPU session is opened just to read the graph's inputs, outputs and metadata.
    Raises ModelLoadError naming the file and every mismatch.
    """
    path = Path(onnx_path)
    if not path.is_file():
        raise ModelLoadError(f"model file not found: {path} (card {card.version})")
    digest = sha256_file(path)
    if digest != card.onnx_sha256:
        raise ModelLoadError(
            f"{path}: sha256 {digest} does not match card {card.version} ({card.onnx_sha256}); "
            "the file is corrupt or was replaced"
        )
    # Before ONNX Runtime opens the graph: it would read whatever files the external-data paths name.
    check_external_data(path)
    if session is None:
        import onnxruntime as ort

        try:
            session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own untyped errors for unreadable graphs
            raise ModelLoadError(f"{path}: ONNX Runtime cannot load the graph ({exc})") from exc
    problems = graph_mismatches(card, session)
    if problems:
        raise ModelLoadError(f"{path} does not match card {card.version}: " + "; ".join(problems))
