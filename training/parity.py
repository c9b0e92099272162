"""Parity check: the exported ONNX model, run through our `vision.Detector`, must find what the torch model finds.

Both sides see the same BGR frames one at a time (ultralytics' rectangular letterbox for one image equals our
detector's ``rect_shape`` for a batch of one), with the same confidence/IoU thresholds and class-aware NMS, both
on CPU by default (GPU kernels add TF32 noise that is not the export's fault). Per frame, boxes are paired by
Hungarian assignment on IoU (same-class pairs preferred), then every pair and every leftover box is judged
against `ParityTolerances`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vision.detections import Detections
from vision.errors import InputError, QCError
from vision.nms import box_iou
from vision.taxonomy import Taxonomy


class ParityError(QCError):
    """The exported model does not reproduce the torch model within the stated tolerances."""


@dataclass(frozen=True)
class ParityTolerances:
    """How far the exported model may drift from the torch model and still ship. Defaults are the fp32 ones.

    Boxes are paired per frame by Hungarian assignment on IoU (same class preferred); pairs overlapping less than
    ``match_iou`` (0.5) are two different boxes. A pair must agree:
    - ``min_iou``: IoU of the pair. fp32 0.98: both sides run the same float32 maths up to kernel order, boxes
      agree to ~1e-3 px (IoU 1.0000 measured), so 0.98 (about 1 px on a 100 px box) only leaves room for another
      conv algorithm, never for a differently decoded anchor.
    - ``max_score_diff``: |confidence difference|. fp32 0.01 (measured ~1e-6).
    - classes must be equal, except a *tie*: the ONNX side scores the torch class within ``max_score_diff`` of its
      own top class (a near tie broken the other way by rounding is not a different answer).
    - a pair of two *different* boxes is an NMS order flip, not a violation, when they have the same class, scores
      within ``max_score_diff``, overlap enough to suppress each other, and both sides' candidates before NMS hold
      both boxes (checked only for frames with violations): each side kept the other of two near-equal candidates.
    A box only one side reports must be *borderline* (rounding decided it):
    - its confidence is within ``borderline_score`` (0.02) of the confidence threshold; or
    - a stronger same-class box of its own side overlaps it within ``borderline_iou`` (fp32 0.01) of the NMS IoU
      threshold; or
    - the other side hit ``max_det`` and it scores no higher than that side's weakest box + ``max_score_diff``.
    (A box suppressed on one side by a box the other side lacks overlaps that box by more than ``match_iou``, so
    the two pair up and count as one bad pair.)
    Overall:
    - ``max_violation_share``: violating boxes allowed, as a share of the boxes compared. fp32 0: any violation
      fails. fp16 0.01: NMS cascades and suppressions decided in unclipped coordinates for boxes cut by the frame
      edge cannot be attributed from the clipped boxes both sides report; on dense frames they show up as a few
      isolated violations.
    - ``min_compared_boxes``: the torch model must find at least this many boxes over all frames; a check that
      compared nothing proves nothing. 1.

    fp16 (`for_dtype("fp16")`): IoU >= 0.95, |Δscore| <= 0.03, borderline_iou 0.03, 1% violations. Half
    precision keeps 11 significant bits: 0.125-0.5 px steps at 160-640 px coordinates in the box decode and
    ~1e-3 relative error per layer over ~100 layers; measured on a conditioned random YOLO11n at imgsz 320: 99.9%
    of pairs at IoU >= 0.99 and |Δscore| <= 0.005, so 0.95 / 0.03 catch a broken conversion (overflow, a mis-cast
    op) with margin.
    """

    min_iou: float = 0.98
    max_score_diff: float = 0.01
    borderline_score: float = 0.02
    borderline_iou: float = 0.01
    match_iou: float = 0.5
    max_violation_share: float = 0.0
    min_compared_boxes: int = 1

    @classmethod
    def for_dtype(cls, dtype: str) -> ParityTolerances:
        """The documented defaults for an ONNX input dtype, "fp32" or "fp16"."""
        if dtype == "fp32":
            return cls()
        if dtype == "fp16":
            return cls(min_iou=0.95, max_score_diff=0.03, borderline_iou=0.03, max_violation_share=0.01)
        raise InputError(f"no parity tolerances for dtype {dtype!r}; expected 'fp32' or 'fp16'")


@dataclass(frozen=True)
class FrameParity:
    """One frame's comparison. ``problems`` describes every violation; ``violating_boxes`` counts the boxes
    involved (a bad pair counts once)."""

    index: int
    torch_boxes: int
    onnx_boxes: int
    matched: int
    min_iou: float | None
    max_score_diff: float | None
    class_mismatches: int
    class_ties: int
    nms_flips: int
    unmatched_torch: int
    unmatched_onnx: int
    borderline_unmatched: int
    violating_boxes: int = 0
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class ParityReport:
    """The comparison of one ONNX file against its torch checkpoint over a set of frames."""

    onnx_path: str
    checkpoint: str
    dtype: str
    conf: float
    iou: float
    imgsz: int
    tolerances: ParityTolerances
    frames: tuple[FrameParity, ...] = field(default_factory=tuple)

    def _total(self, name: str) -> int:
        return sum(getattr(f, name) for f in self.frames)

    @property
    def torch_boxes(self) -> int:
        return self._total("torch_boxes")

    @property
    def onnx_boxes(self) -> int:
        return self._total("onnx_boxes")

    @property
    def matched(self) -> int:
        return self._total("matched")

    @property
    def min_iou(self) -> float | None:
        values = [f.min_iou for f in self.frames if f.min_iou is not None]
        return min(values) if values else None

    @property
    def max_score_diff(self) -> float | None:
        values = [f.max_score_diff for f in self.frames if f.max_score_diff is not None]
        return max(values) if values else None

    @property
    def class_mismatches(self) -> int:
        return self._total("class_mismatches")

    @property
    def nms_flips(self) -> int:
        return self._total("nms_flips")

    @property
    def unmatched(self) -> int:
        return self._total("unmatched_torch") + self._total("unmatched_onnx")

    @property
    def borderline_unmatched(self) -> int:
        return self._total("borderline_unmatched")

    @property
    def violating_boxes(self) -> int:
        return self._total("violating_boxes")

    @property
    def allowed_violations(self) -> int:
        """How many violating boxes the tolerances allow for this many compared boxes."""
        compared = max(self.torch_boxes, self.onnx_boxes)
        return int(self.tolerances.max_violation_share * compared + 1e-9)

    @property
    def problems(self) -> list[str]:
        """Every violation, prefixed with its frame."""
        return [f"frame {f.index}: {p}" for f in self.frames for p in f.problems]

    @property
    def failures(self) -> list[str]:
        """Why the check fails; empty when it passes."""
        found = []
        if self.torch_boxes < self.tolerances.min_compared_boxes:
            found.append(
                f"the torch model found {self.torch_boxes} boxes on {len(self.frames)} frames at conf {self.conf} "
                f"(need >= {self.tolerances.min_compared_boxes}); use frames with items or a lower confidence"
            )
        if self.violating_boxes > self.allowed_violations:
            found.append(f"{self.violating_boxes} violating boxes, {self.allowed_violations} allowed")
        return found

    @property
    def passed(self) -> bool:
        return not self.failures

    def summary(self) -> str:
        """One paragraph: verdict, counts, worst IoU/score drift, and the first few violations."""

        def fmt(v: float | None) -> str:
            return "-" if v is None else f"{v:.4f}"

        tol = self.tolerances
        text = (
            f"parity {'passed' if self.passed else 'FAILED'} for {Path(self.onnx_path).name} ({self.dtype}) vs "
            f"{Path(self.checkpoint).name} on {len(self.frames)} frames: {self.torch_boxes} torch / "
            f"{self.onnx_boxes} onnx boxes, {self.matched} paired, min IoU {fmt(self.min_iou)} (>= {tol.min_iou}), "
            f"max |Δscore| {fmt(self.max_score_diff)} (<= {tol.max_score_diff}), {self.class_mismatches} class "
            f"mismatches, {self.nms_flips} NMS order flips, {self.unmatched} unpaired "
            f"({self.borderline_unmatched} borderline), "
            f"{self.violating_boxes} violating boxes ({self.allowed_violations} allowed)"
        )
        if self.failures:
            text += ". " + "; ".join(self.failures)
        problems = self.problems
        if problems:
            more = f"; ... and {len(problems) - 5} more" if len(problems) > 5 else ""
            text += ". Violations: " + "; ".join(problems[:5]) + more
        return text

    def raise_for_failure(self) -> None:
        """Raise ParityError with the summary unless the check passed."""
        if not self.passed:
            raise ParityError(self.summary())

    def to_dict(self) -> dict[str, Any]:
        """JSON form for export_report.json."""
        return {
            "onnx": self.onnx_path,
            "checkpoint": self.checkpoint,
            "dtype": self.dtype,
            "conf": self.conf,
            "iou": self.iou,
            "imgsz": self.imgsz,
            "tolerances": asdict(self.tolerances),
            "passed": self.passed,
            "failures": self.failures,
            "frames": len(self.frames),
            "torch_boxes": self.torch_boxes,
            "onnx_boxes": self.onnx_boxes,
            "matched": self.matched,
            "min_iou": self.min_iou,
            "max_score_diff": self.max_score_diff,
            "class_mismatches": self.class_mismatches,
            "class_ties": self._total("class_ties"),
            "nms_flips": self.nms_flips,
            "unmatched": self.unmatched,
            "borderline_unmatched": self.borderline_unmatched,
            "violating_boxes": self.violating_boxes,
            "allowed_violations": self.allowed_violations,
            "problems": self.problems,
            "per_frame": [asdict(f) for f in self.frames],
        }


def compare_frame(
    index: int,
    torch_det: Detections,
    onnx_det: Detections,
    tol: ParityTolerances,
    conf: float,
    iou_threshold: float,
    max_det: int = 300,
    candidates: tuple[Detections, Detections] | None = None,
) -> FrameParity:
    """Pair one frame's torch and ONNX boxes and judge them.

    ``onnx_det.data["class_scores"]`` (if present) lets a class disagreement count as a tie. ``candidates``
    (torch, ONNX) are each side's boxes before NMS; with them, a pair of two different boxes is accepted as an
    NMS order flip when both boxes exist on both sides with near-equal scores and overlap enough to compete.
    """
    from scipy.optimize import linear_sum_assignment

    nt, no = len(torch_det), len(onnx_det)
    iou = box_iou(torch_det.xyxy, onnx_det.xyxy).astype(np.float64)
    pairs: list[tuple[int, int]] = []
    if nt and no:
        same_class = torch_det.class_id[:, None] == onnx_det.class_id[None, :]
        score_gap = np.abs(torch_det.confidence[:, None].astype(np.float64) - onnx_det.confidence[None, :])
        # IoU decides. A class disagreement costs 0.1 IoU: same-class twins pair first when two classes sit on one
        # spot (class-aware NMS keeps both), yet a box whose class flipped still pairs with its own twin rather
        # than a same-class neighbour. The score gap breaks exact ties.
        cost = (1.0 - iou) + (~same_class) * 0.1 + 0.01 * score_gap
        rows, cols = linear_sum_assignment(cost)
        pairs = [(int(r), int(c)) for r, c in zip(rows, cols) if iou[r, c] >= tol.match_iou]

    problems: list[str] = []
    ious: list[float] = []
    diffs: list[float] = []
    mismatches = ties = flips = violating = 0
    scores = onnx_det.data.get("class_scores")
    for t, o in pairs:
        before = len(problems)
        pair_iou, diff = float(iou[t, o]), abs(float(torch_det.confidence[t]) - float(onnx_det.confidence[o]))
        tc, oc = int(torch_det.class_id[t]), int(onnx_det.class_id[o])
        if pair_iou < tol.min_iou and _is_order_flip(
            torch_det, t, onnx_det, o, pair_iou, tol, iou_threshold, candidates
        ):
            flips += 1
            continue
        ious.append(pair_iou)
        diffs.append(diff)
        where = f"torch box {t} {np.round(torch_det.xyxy[t], 1).tolist()}"
        if pair_iou < tol.min_iou:
            problems.append(f"{where}: IoU {pair_iou:.4f} with its ONNX twin < {tol.min_iou}")
        if diff > tol.max_score_diff:
            problems.append(
                f"{where}: score {torch_det.confidence[t]:.4f} vs ONNX {onnx_det.confidence[o]:.4f} "
                f"(|Δ| {diff:.4f} > {tol.max_score_diff})"
            )
        if tc != oc:
            if scores is not None and float(scores[o, oc]) - float(scores[o, tc]) <= tol.max_score_diff:
                ties += 1
            else:
                mismatches += 1
                problems.append(f"{where}: class {tc} vs ONNX class {oc}")
        violating += len(problems) > before

    paired_t = {t for t, _ in pairs}
    paired_o = {o for _, o in pairs}
    borderline = 0
    sides = (("torch", torch_det, onnx_det, paired_t), ("ONNX", onnx_det, torch_det, paired_o))
    for side, det, other, paired in sides:
        for i in range(len(det)):
            if i in paired:
                continue
            if _is_borderline(det, i, other, tol, conf, iou_threshold, max_det):
                borderline += 1
            else:
                violating += 1
                problems.append(
                    f"{side} box {i} {np.round(det.xyxy[i], 1).tolist()} class {int(det.class_id[i])} "
                    f"score {det.confidence[i]:.4f} has no twin on the other side"
                )
    return FrameParity(
        index=index,
        torch_boxes=nt,
        onnx_boxes=no,
        matched=len(pairs) - flips,
        min_iou=min(ious) if ious else None,
        max_score_diff=max(diffs) if diffs else None,
        class_mismatches=mismatches,
        class_ties=ties,
        nms_flips=flips,
        unmatched_torch=nt - len(paired_t),
        unmatched_onnx=no - len(paired_o),
        borderline_unmatched=borderline,
        violating_boxes=violating,
        problems=tuple(problems),
    )


def _has_twin(candidates: Detections, box: np.ndarray, class_id: int, score: float, tol: ParityTolerances) -> bool:
    same = candidates.class_id == class_id
    if not same.any():
        return False
    close = np.abs(candidates.confidence[same] - score) <= tol.max_score_diff
    return bool((close & (box_iou(box[None], candidates.xyxy[same])[0] >= tol.min_iou)).any())


def _is_order_flip(
    torch_det: Detections,
    t: int,
    onnx_det: Detections,
    o: int,
    pair_iou: float,
    tol: ParityTolerances,
    iou_threshold: float,
    candidates: tuple[Detections, Detections] | None,
) -> bool:
    """Two overlapping candidates with near-equal scores, each side keeping the other one: NMS order, not the model.

    Only with pre-NMS candidates: both boxes must exist on both sides, so a model that decodes boxes
    differently (same scores, shifted boxes) is never excused.
    """
    if candidates is None or torch_det.class_id[t] != onnx_det.class_id[o]:
        return False
    cls = int(torch_det.class_id[t])
    t_score, o_score = float(torch_det.confidence[t]), float(onnx_det.confidence[o])
    if abs(t_score - o_score) > tol.max_score_diff or pair_iou <= iou_threshold - tol.borderline_iou:
        return False
    torch_cands, onnx_cands = candidates
    return _has_twin(onnx_cands, torch_det.xyxy[t], cls, t_score, tol) and _has_twin(
        torch_cands, onnx_det.xyxy[o], cls, o_score, tol
    )


def _is_borderline(
    det: Detections,
    i: int,
    other: Detections,
    tol: ParityTolerances,
    conf: float,
    iou_threshold: float,
    max_det: int,
) -> bool:
    """Whether box ``i`` of ``det``, which has no twin in ``other``, was kept or dropped by a rounding decision."""
    score = float(det.confidence[i])
    if score <= conf + tol.borderline_score:
        return True  # crossed the confidence threshold
    if len(other) >= max_det and score <= float(other.confidence.min()) + tol.max_score_diff:
        return True  # the other side ran out of boxes (max_det) just above it
    box = det.xyxy[i : i + 1]
    mine = (det.class_id == det.class_id[i]) & (det.confidence >= score)
    mine[i] = False
    # Its own side kept it next to a stronger box at ~the NMS threshold: the other side's NMS tipped the other way.
    return bool(mine.any() and (np.abs(box_iou(box, det.xyxy[mine])[0] - iou_threshold) <= tol.borderline_iou).any())


def _detections_from_ultralytics(result: Any) -> Detections:
    boxes = result.boxes
    n = len(boxes)
    return Detections(
        xyxy=boxes.xyxy.cpu().numpy().astype(np.float32).reshape(n, 4),
        confidence=boxes.conf.cpu().numpy().astype(np.float32),
        class_id=boxes.cls.cpu().numpy().astype(np.int64),
        freshness=np.zeros(n, np.float32),  # not compared; the torch side has no per-class scores here
    )


def check_parity(
    checkpoint_pt: str | os.PathLike[str],
    onnx_path: str | os.PathLike[str],
    frames: Sequence[np.ndarray],
    taxonomy: Taxonomy,
    imgsz: int,
    tolerances: ParityTolerances | None = None,
    *,
    dtype: str | None = None,
    conf: float = 0.25,
    iou: float = 0.6,
    max_det: int = 300,
    device: str = "cpu",
    providers: Sequence[str] = ("CPUExecutionProvider",),
) -> ParityReport:
    """Run ``frames`` (BGR uint8) through ultralytics on the checkpoint and through `vision.Detector` on the ONNX
    file, pair the boxes and return the report (check ``.passed`` or call ``.raise_for_failure()``).

    ``dtype`` ("fp32"/"fp16") picks the default tolerances; default: read from the graph's input type.
    Raises InputError for no frames or bad frames, ModelLoadError for unloadable models.
    """
    from ultralytics import YOLO

    from vision.decode import MAX_NMS_CANDIDATES, DecodeOptions, decode
    from vision.detector import Detector
    from vision.detector_options import InputOptions, RuntimeOptions

    if len(frames) == 0:
        raise InputError("parity check needs at least one frame")
    detector = Detector(
        onnx_path,
        taxonomy,
        decoding=DecodeOptions(conf_threshold=conf, iou_threshold=iou, max_det=max_det, nms_by="class"),
        inputs=InputOptions(imgsz=imgsz),
        runtime=RuntimeOptions(providers=list(providers)),
    )
    # NMS IoU 1 keeps every candidate above the threshold: the second look below excuses NMS order flips.
    every_candidate = DecodeOptions(conf_threshold=conf, iou_threshold=1.0, max_det=MAX_NMS_CANDIDATES, nms_by="class")
    graph_dtype = "fp16" if detector.input_dtype == np.float16 else "fp32"
    dtype = dtype or graph_dtype
    tol = tolerances or ParityTolerances.for_dtype(dtype)
    model = YOLO(str(checkpoint_pt))

    def torch_boxes(frame: np.ndarray, nms_iou: float, limit: int) -> Detections:
        (res,) = model.predict(frame, imgsz=imgsz, conf=conf, iou=nms_iou, max_det=limit, device=device, verbose=False)
        return _detections_from_ultralytics(res)

    results: list[FrameParity] = []
    for i, frame in enumerate(frames):
        # One frame per call on both sides: ultralytics letterboxes a lone image to its own minimal rectangle,
        # which is what the detector does for a batch of one.
        torch_det = torch_boxes(frame, iou, max_det)
        onnx_det = detector.detect([frame])[0]
        result = compare_frame(i, torch_det, onnx_det, tol, conf, iou, max_det)
        if result.violating_boxes:
            # Look again with every candidate above the threshold (NMS IoU 1 keeps all): excuses NMS order flips.
            batch, boxes = detector.preprocess([frame])
            candidates = (
                torch_boxes(frame, 1.0, MAX_NMS_CANDIDATES),
                decode(detector.infer(batch), boxes, taxonomy, every_candidate)[0],
            )
            result = compare_frame(i, torch_det, onnx_det, tol, conf, iou, max_det, candidates)
        results.append(result)
    return ParityReport(
        onnx_path=str(onnx_path),
        checkpoint=str(checkpoint_pt),
        dtype=dtype,
        conf=conf,
        iou=iou,
        imgsz=imgsz,
        tolerances=tol,
        frames=tuple(results),
    )
