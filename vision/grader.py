"""The second-stage freshness grader: an image classifier that scores an item's condition from a square crop.

A 320-px whole-frame detector may not resolve a small rotten spot; the grader looks at each tracked item at a
higher resolution instead, a few times per item (not per box, not per frame). It is an ultralytics YOLO11n-cls
exported to ONNX, registered with the detector as one version (`vision.model_card.GraderSpec`).

* `grader_crop`: the exact square crop the grader sees, used by the edge to grade and by training to write the
  grader's training crops: one function, so the two never drift apart.
* `Grader`: the ONNX Runtime session (providers chosen as the detector chooses them), crops in, probabilities out.
* `produce_marginals` / `grade_within` / `choose_produce`: pure functions turning the grader's probabilities into
  what an item needs, given the taxonomy: how much each produce kind is believed, a freshness and condition within
  one kind, and the produce kind once the detector's vote is added.

Ultralytics' classify export takes float32 NCHW RGB in [0, 1] (no mean/std) and outputs softmax probabilities.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import onnxruntime as ort

from vision.detector import choose_providers
from vision.detector_options import DEFAULT_RUNTIME, RuntimeOptions
from vision.errors import InputError, ModelLoadError
from vision.external_data import check_external_data
from vision.model_card import GRADER_FILE, GRADER_PAD, NOT_PRODUCE, GraderSpec, embedded_names, sha256_file
from vision.options import whole_number
from vision.provider_options import engine_cache_for, session_provider_options
from vision.taxonomy import Taxonomy

log = logging.getLogger(__name__)

__all__ = [
    "GRADER_PAD", "NOT_PRODUCE", "VETO_SHARE", "ConditionGrade", "Grader", "choose_produce", "grade_flags",
    "grade_within", "grader_crop", "grader_mismatches", "grader_spec_for", "grader_spec_from_onnx", "not_produce_share",
    "produce_marginals", "vetoes", "verify_grader",
]

_INPUT_DTYPES = {"tensor(float)": np.dtype(np.float32), "tensor(float16)": np.dtype(np.float16)}
# An item is vetoed when the grader's mean probability of `NOT_PRODUCE` over its views passes this: more likely no
# produce than any produce at all.
VETO_SHARE = 0.5
# CPU threads per run when the runtime options name none: the grader shares the node's cores with the detector.
GRADER_THREADS = 1
_SUM_TOLERANCE = 1e-3  # rows of a softmax output sum to 1 up to float error; anything further off is logits


# --- the crop ---------------------------------------------------------------------------------------------------


def grader_crop(
    image_bgr: np.ndarray, box_xyxy: Sequence[float] | np.ndarray, size: int, pad: float = GRADER_PAD
) -> np.ndarray:
    """The square crop the grader sees of one item: (size, size, 3) BGR uint8.

    A square centred on the box, side ``max(w, h) * (1 + 2 * pad)``; the part outside the image is filled with the
    image's edge pixels replicated (a black border would read as a dark, rotten rim). Resized to ``size`` with
    INTER_AREA when shrinking, INTER_LINEAR when enlarging. Raises InputError for a bad image, box or size, and for
    a box that lies wholly outside the image.
    """
    if not isinstance(image_bgr, np.ndarray) or image_bgr.dtype != np.uint8 or image_bgr.ndim != 3 \
            or image_bgr.shape[2] != 3 or image_bgr.shape[0] < 1 or image_bgr.shape[1] < 1:
        got = getattr(image_bgr, "shape", type(image_bgr).__name__)
        raise InputError(f"grader_crop needs a BGR uint8 image (H, W, 3), got {got}")
    size = whole_number("grader_crop size", size)
    if not 0.0 <= float(pad) <= 1.0:
        raise InputError(f"grader_crop pad must be within [0, 1], got {pad}")
    box = np.asarray(box_xyxy, dtype=np.float64).reshape(-1)
    if box.shape != (4,) or not np.all(np.isfinite(box)) or box[2] <= box[0] or box[3] <= box[1]:
        raise InputError(f"grader_crop needs a box (x0, y0, x1, y1) with x1 > x0 and y1 > y0, got {box.tolist()}")
    h, w = image_bgr.shape[:2]
    side = max(1, int(round(max(box[2] - box[0], box[3] - box[1]) * (1.0 + 2.0 * float(pad)))))
    left = int(round((box[0] + box[2]) / 2.0 - side / 2.0))
    top = int(round((box[1] + box[3]) / 2.0 - side / 2.0))
    right, bottom = left + side, top + side
    x0, y0, x1, y1 = max(left, 0), max(top, 0), min(right, w), min(bottom, h)
    if x1 <= x0 or y1 <= y0:
        raise InputError(f"grader_crop: box {box.tolist()} lies outside the {w}x{h} image")
    crop = image_bgr[y0:y1, x0:x1]
    if (x0, y0, x1, y1) != (left, top, right, bottom):
        crop = cv2.copyMakeBorder(crop, y0 - top, bottom - y1, x0 - left, right - x1, cv2.BORDER_REPLICATE)
    if side == size:
        return np.ascontiguousarray(crop)
    interpolation = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    return cv2.resize(crop, (int(size), int(size)), interpolation=interpolation)


# --- what the probabilities say ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConditionGrade:
    """The grader's reading of one item within one produce kind: its condition and freshness in [0, 1]."""

    condition: str
    freshness: float


def class_layout(classes: Sequence[str], taxonomy: Taxonomy) -> np.ndarray:
    """(C, 2) int: each grader class's (produce index, condition index) in ``taxonomy``, (-1, -1) for
    `NOT_PRODUCE`; InputError for any other name that is not one of the taxonomy's ``<produce>_<condition>``
    classes."""
    names = list(taxonomy.class_names)
    unknown = [c for c in classes if c not in names and c != NOT_PRODUCE]
    if unknown:
        raise InputError(f"grader classes {unknown} are not taxonomy classes (e.g. {names[0]!r}) or {NOT_PRODUCE!r}")
    n_c = len(taxonomy.conditions)
    return np.array([(-1, -1) if c == NOT_PRODUCE else divmod(names.index(c), n_c) for c in classes],
                    dtype=np.int64).reshape(-1, 2)


def _rows(probs: np.ndarray, classes: Sequence[str]) -> np.ndarray:
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim == 1:
        p = p[None, :]
    if p.ndim != 2 or p.shape[1] != len(classes):
        raise InputError(f"grader probabilities of shape {np.shape(probs)} do not fit {len(classes)} grader classes")
    if not np.all(np.isfinite(p)) or np.any(p < 0):
        raise InputError("grader probabilities must be finite and non-negative")
    return p


def produce_marginals(probs: np.ndarray, classes: Sequence[str], taxonomy: Taxonomy) -> np.ndarray:
    """(n, len(taxonomy.produce)): each row's probability summed per produce kind (0 for kinds the grader lacks).
    ``probs`` is (n, C) or (C,) in the grader's class order."""
    p = _rows(probs, classes)
    layout = class_layout(classes, taxonomy)
    out = np.zeros((p.shape[0], len(taxonomy.produce)), dtype=np.float64)
    for j, (produce_idx, _) in enumerate(layout):
        if produce_idx >= 0:
            out[:, produce_idx] += p[:, j]
    return out


def not_produce_share(probs: np.ndarray, classes: Sequence[str]) -> np.ndarray:
    """(n,): each row's probability of `NOT_PRODUCE` (0 for a grader without that class)."""
    p = _rows(probs, classes)
    if NOT_PRODUCE not in classes:
        return np.zeros(p.shape[0], dtype=np.float64)
    return p[:, list(classes).index(NOT_PRODUCE)]


def vetoes(probs: np.ndarray, classes: Sequence[str]) -> bool:
    """Whether the grader says an item's views (``probs``: (k, C) or (C,)) hold no produce: the mean probability of
    `NOT_PRODUCE` over them is above `VETO_SHARE`. Such an item is never counted or flagged: the detector boxed
    clutter. False for a grader without that class."""
    share = not_produce_share(probs, classes)
    return bool(len(share)) and float(share.mean()) > VETO_SHARE


def grade_within(
    probs: np.ndarray, classes: Sequence[str], taxonomy: Taxonomy, produce: str
) -> ConditionGrade | None:
    """The grader's condition and freshness of one crop (``probs``: (C,)) given that the item is ``produce``.

    Freshness: the expectation of the conditions' freshness values (taxonomy) under the probabilities renormalised
    within that produce kind's grader classes; condition: their arg-max (ties: taxonomy order). None when the grader
    has no class of ``produce``, or gave its classes no probability at all (it says nothing about that kind): the
    caller falls back to the detector. InputError for an unknown produce kind or probabilities that do not fit.
    """
    if produce not in taxonomy.produce:
        raise InputError(f"produce {produce!r} is not in the taxonomy {list(taxonomy.produce)}")
    p = _rows(probs, classes)
    if p.shape[0] != 1:
        raise InputError(f"grade_within grades one crop's probabilities (C,), got shape {np.shape(probs)}")
    layout = class_layout(classes, taxonomy)
    mine = np.flatnonzero(layout[:, 0] == taxonomy.produce.index(produce))
    if len(mine) == 0:
        return None
    # Taxonomy order, whatever the grader's class order: ties then go to the fresher-listed condition.
    mine = mine[np.argsort(layout[mine, 1], kind="stable")]
    weights = p[0, mine]
    total = weights.sum()
    if total <= 0:
        return None
    weights = weights / total
    values = np.array([taxonomy.conditions[c].freshness for c in layout[mine, 1]], dtype=np.float64)
    best = int(layout[mine[int(np.argmax(weights))], 1])
    return ConditionGrade(taxonomy.conditions[best].name, float(np.clip(weights @ values, 0.0, 1.0)))


def choose_produce(detector_vote: np.ndarray, grader_marginal: np.ndarray | None, produce_weight: float) -> int:
    """Index of the produce kind with the largest detector vote share (normalised to sum 1; no vote at all: even
    shares) plus ``produce_weight`` times ``grader_marginal`` (None: the detector alone). Ties: the first kind."""
    vote = np.asarray(detector_vote, dtype=np.float64)
    total = vote.sum()
    share = vote / total if total > 0 else np.full(len(vote), 1.0 / max(len(vote), 1))
    if grader_marginal is not None:
        marginal = np.asarray(grader_marginal, dtype=np.float64)
        if marginal.shape != share.shape:
            raise InputError(f"grader produce marginal {marginal.shape} does not fit the detector vote {share.shape}")
        share = share + float(produce_weight) * marginal
    return int(np.argmax(share))


def grade_flags(grade: ConditionGrade, threshold: float, fresh: str) -> bool:
    """Whether a graded item is flagged: its freshness is below ``threshold`` *and* the grader's most likely
    condition is not ``fresh`` (the taxonomy's first condition).

    The expectation alone, the rule for the detector's independent class scores, would flag a crop that a softmax
    grader calls fresh with 75 % and rotten with 25 % (freshness 0.75 < 0.8); on real produce most such crops are
    fresh fruit with a blemish or a two-coloured skin, so the grader's own call has to agree before ops are asked.
    """
    return grade.freshness < threshold and grade.condition != fresh


# --- the file and its card ---------------------------------------------------------------------------------------


def grader_mismatches(spec: GraderSpec, session: Any) -> list[str]:
    """What about an ONNX Runtime session's graph disagrees with the grader's card section; empty when they agree.

    Checks: one 4-D float input with 3 channels whose static H/W (if any) equal ``input_size``; one 2-D output whose
    static class dim (if any) is the number of classes; class names embedded by ultralytics (``names``, if present
    and not placeholders) equal the card's, in order.
    """
    problems: list[str] = []
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1:
        return [f"grader graph has {len(inputs)} inputs, expected 1 image input"]
    inp = inputs[0]
    shape = list(inp.shape or [])
    if len(shape) != 4:
        return [f"grader input '{inp.name}' has shape {shape}, expected (batch, 3, {spec.input_size}, "
                f"{spec.input_size})"]
    if isinstance(shape[1], int) and shape[1] != 3:
        problems.append(f"grader input '{inp.name}' has {shape[1]} channels, expected 3")
    for dim, what in ((shape[2], "height"), (shape[3], "width")):
        if isinstance(dim, int) and dim != spec.input_size:
            problems.append(f"grader input {what} is {dim}, card input_size says {spec.input_size}")
    if inp.type not in _INPUT_DTYPES:
        problems.append(f"grader input type is {inp.type}, expected float32 or float16")
    if not outputs:
        problems.append("grader graph has no outputs")
    else:
        out_shape = list(outputs[0].shape or [])
        if len(out_shape) != 2:
            problems.append(f"grader output '{outputs[0].name}' has shape {out_shape}, expected (batch, classes)")
        elif isinstance(out_shape[1], int) and out_shape[1] != len(spec.classes):
            problems.append(f"grader output has {out_shape[1]} classes, its card {len(spec.classes)}")
    names = embedded_names(session)
    placeholder = names is not None and names == [str(i) for i in range(len(names))]
    if names is not None and not placeholder and names != list(spec.classes):
        problems.append(f"class names embedded in the grader {names} differ from the card's {list(spec.classes)}")
    return problems


def _cpu_session(path: Path) -> Any:
    try:
        return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped errors for unreadable graphs
        raise ModelLoadError(f"{path}: ONNX Runtime cannot load the grader graph ({exc})") from exc


def verify_grader(spec: GraderSpec, path: str | os.PathLike[str], session: Any = None, *, what: str = "") -> None:
    """Refuse a grader file that is not the one its card section describes: sha256, external data (none may leave
    the file's folder), then the graph (`grader_mismatches`). ``what`` names the version in messages. Raises
    ModelLoadError naming the file and every mismatch."""
    p = Path(path)
    whose = f" of {what}" if what else ""
    if not p.is_file():
        raise ModelLoadError(f"grader file{whose} not found: {p}")
    digest = sha256_file(p)
    if digest != spec.sha256:
        raise ModelLoadError(
            f"{p}: sha256 {digest} does not match the grader sha256 on the card{whose} ({spec.sha256}); the file is "
            "corrupt, was replaced, or is not this version's grader"
        )
    check_external_data(p)
    problems = grader_mismatches(spec, session if session is not None else _cpu_session(p))
    if problems:
        raise ModelLoadError(f"{p} does not match the grader on the card{whose}: " + "; ".join(problems))


def grader_spec_from_onnx(
    path: str | os.PathLike[str], *, produce_weight: float = 1.0, training: Mapping[str, Any] | None = None,
) -> GraderSpec:
    """A card section for an ultralytics classify export that has none: sha256 of the file, classes from its
    embedded ``names``, input size from its static input (else its ``imgsz`` metadata). ModelLoadError when the file
    names no classes or has no square input size."""
    import ast

    p = Path(path)
    if not p.is_file():
        raise ModelLoadError(f"grader file not found: {p}")
    session = _cpu_session(p)
    names = embedded_names(session)
    if not names or names == [str(i) for i in range(len(names))]:
        raise ModelLoadError(f"{p}: the grader graph embeds no class names (ultralytics metadata 'names'); give a "
                             "card with a grader section instead")
    shape = list(session.get_inputs()[0].shape or [])
    sides = [d for d in shape[2:4] if isinstance(d, int)]
    if len(sides) != 2:
        try:
            sides = [int(v) for v in ast.literal_eval(session.get_modelmeta().custom_metadata_map.get("imgsz", ""))]
        except (ValueError, SyntaxError, TypeError):
            sides = []
    if len(sides) != 2 or sides[0] != sides[1]:
        raise ModelLoadError(f"{p}: cannot tell the grader's square input size (input shape {shape})")
    return GraderSpec(file=GRADER_FILE, sha256=sha256_file(p), classes=names, input_size=sides[0],
                      produce_weight=produce_weight, training=dict(training or {"source": str(p)}))


def grader_spec_for(path: str | os.PathLike[str], known: GraderSpec | None, *, note: str) -> GraderSpec:
    """The card section of a grader file given on a command line: ``known`` (the section of the version's card, or
    of the card beside the detector) when its sha256 is the file's, so that version's produce weight and turns
    hold; else one read from the file (`grader_spec_from_onnx`, ``note`` saying where it came from).
    ModelLoadError when the file is missing."""
    p = Path(path)
    if not p.is_file():
        raise ModelLoadError(f"grader file not found: {p}")
    if known is not None and known.sha256 == sha256_file(p):
        return known
    return grader_spec_from_onnx(p, training={"source": str(p), "note": note})


# --- the session -------------------------------------------------------------------------------------------------


class Grader:
    """A verified grader ONNX file in an ONNX Runtime session; crops in, (n, C) probabilities out.

    Attributes: ``spec`` (its card section), ``classes``, ``input_size``, ``crop_pad``, ``produce_weight``,
    ``turns``, ``provider`` (what the session really runs on), ``model_path``.
    """

    def __init__(
        self,
        model_path: str | os.PathLike[str],
        spec: GraderSpec,
        *,
        taxonomy: Taxonomy | None = None,
        runtime: RuntimeOptions = DEFAULT_RUNTIME,
    ) -> None:
        """Open ``model_path`` and check it against ``spec`` (sha256, external data, graph) and, given, ``taxonomy``
        (every grader class must be one of its classes).

        ``runtime``: the detector's `RuntimeOptions`, so a caller passes one value to both. The grader takes its
        ``providers``, ``provider_options`` and ``engine_cache_dir`` (the same preference order and defaults as
        `vision.detector.Detector`) and ``intra_op_threads`` (None: one thread, because the grader runs beside the
        detector, a few crops per item, not per frame, and must not take its cores; 0: ONNX Runtime's default).
        Its threads never spin, for the same reason; replicas, IO binding and the CPU arena setting are the
        detector's alone. Raises InputError for a ``runtime`` that is not a `RuntimeOptions` or for classes outside
        ``taxonomy``, ModelLoadError for a missing or mismatched file or unknown providers.
        """
        if not isinstance(runtime, RuntimeOptions):
            raise InputError(f"Grader runtime must be a RuntimeOptions, got {type(runtime).__name__}")
        self.model_path = Path(model_path)
        self.spec = spec
        if taxonomy is not None:
            class_layout(spec.classes, taxonomy)
        if not self.model_path.is_file():
            raise ModelLoadError(f"grader file not found: {self.model_path}")
        chosen, _ = choose_providers(runtime.providers, ort.get_available_providers())
        options = session_provider_options(chosen, runtime.provider_options,
                                           engine_cache_for(chosen, runtime.engine_cache_dir))
        sess_options = ort.SessionOptions()
        sess_options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        threads = GRADER_THREADS if runtime.intra_op_threads is None else runtime.intra_op_threads
        if threads:
            sess_options.intra_op_num_threads = threads
        check_external_data(self.model_path)  # before ONNX Runtime reads whatever files the graph names
        try:
            self._session = ort.InferenceSession(str(self.model_path), sess_options=sess_options, providers=chosen,
                                                 provider_options=options)
        except Exception as exc:  # ORT's own untyped errors
            raise ModelLoadError(f"cannot load the grader {self.model_path}: {exc}") from exc
        verify_grader(spec, self.model_path, self._session)
        inp = self._session.get_inputs()[0]
        self._input_name: str = inp.name
        self._input_dtype = _INPUT_DTYPES[inp.type]
        first = inp.shape[0] if inp.shape else None
        # A classify export without dynamic=True has batch 1: run bigger batches in chunks of its size.
        self._chunk: int | None = first if isinstance(first, int) and first > 0 else None
        self.provider: str = self._session.get_providers()[0]

    @property
    def classes(self) -> tuple[str, ...]:
        """Grader class names, in output order."""
        return tuple(self.spec.classes)

    @property
    def input_size(self) -> int:
        """Side of the square crops the grader takes."""
        return self.spec.input_size

    @property
    def crop_pad(self) -> float:
        """Context around the box in its crops (`grader_crop`'s ``pad``)."""
        return self.spec.crop_pad

    @property
    def produce_weight(self) -> float:
        """Weight of its produce marginals beside the detector's vote share."""
        return self.spec.produce_weight

    @property
    def turns(self) -> int:
        """Quarter turns each crop is graded in (1 or 4), the probabilities averaged."""
        return self.spec.turns

    def crops(self, image_bgr: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """(n, S, S, 3) BGR uint8: `grader_crop` of each box (xyxy, original-image pixels)."""
        b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        size = self.input_size
        if len(b) == 0:
            return np.zeros((0, size, size, 3), np.uint8)
        return np.stack([grader_crop(image_bgr, box, size, self.crop_pad) for box in b])

    def grade(self, image_bgr: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """(n, C) probabilities for each box of one BGR image, in one batch; no boxes: shape (0, C)."""
        return self.grade_crops(self.crops(image_bgr, boxes))

    def grade_crops(self, crops: np.ndarray) -> np.ndarray:
        """(n, C) float32 probabilities of crops made by `grader_crop` at this grader's size, (n, S, S, 3) BGR
        uint8 (rows sum to 1: a graph that outputs logits gets a softmax here). With ``spec.turns`` 4, each crop
        is graded in its four quarter turns (one batch) and its row is their mean. InputError for other shapes."""
        c = np.asarray(crops)
        size = self.input_size
        if c.ndim != 4 or c.shape[1:] != (size, size, 3) or c.dtype != np.uint8:
            raise InputError(f"grader crops must be (n, {size}, {size}, 3) uint8, got {c.shape} {c.dtype}")
        if len(c) == 0:
            return np.zeros((0, len(self.spec.classes)), np.float32)
        turns = self.spec.turns
        if turns == 1:
            return self._probabilities(c)
        turned = np.concatenate([np.rot90(c, k, axes=(1, 2)) for k in range(turns)])
        return self._probabilities(turned).reshape(turns, len(c), -1).mean(axis=0, dtype=np.float32)

    def _probabilities(self, c: np.ndarray) -> np.ndarray:
        """One probability row per crop of ``c`` (checked by `grade_crops`), in chunks of a static batch."""
        # BGR -> RGB, HWC -> CHW, [0, 255] -> [0, 1]: ultralytics' classify input, no mean/std.
        tensor = (c[..., ::-1].transpose(0, 3, 1, 2).astype(np.float32) * np.float32(1.0 / 255.0))
        tensor = np.ascontiguousarray(tensor, dtype=self._input_dtype)
        step = self._chunk or len(tensor)
        outs = []
        for i in range(0, len(tensor), step):
            part = tensor[i:i + step]
            if len(part) < step:  # a static batch larger than what is left: pad, and keep only the real rows
                part = np.concatenate([part, np.zeros((step - len(part), *part.shape[1:]), part.dtype)])
            outs.append(np.asarray(self._session.run(None, {self._input_name: part})[0])[: len(tensor) - i])
        probs = np.concatenate(outs, axis=0).astype(np.float32).reshape(len(c), -1)
        if probs.shape[1] != len(self.spec.classes):
            raise ModelLoadError(f"{self.model_path}: grader output has {probs.shape[1]} classes, its card "
                                 f"{len(self.spec.classes)}")
        if np.any(probs < 0) or np.any(np.abs(probs.sum(axis=1) - 1.0) > _SUM_TOLERANCE):
            shifted = np.exp(probs - probs.max(axis=1, keepdims=True))
            probs = shifted / shifted.sum(axis=1, keepdims=True)
        return probs
