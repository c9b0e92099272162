"""Evaluate an ONNX detector on a labelled split: COCO mAP plus precision/recall at the operating threshold.

The model runs through our own `vision.detector.Detector` (the code the edge runs), once, at a low confidence
threshold (`MAP_CONF`, as ultralytics' val does, or ``conf`` if that is lower). mAP uses the boxes with
confidence >= `MAP_CONF`; the operating-point metrics use the boxes with confidence >= ``conf``. Filtering equals
a second run at ``conf``: NMS only lets a box be suppressed by a higher-scoring one, so the boxes above ``conf``
are the same (unless a frame had more than ``max_det`` boxes above the lower threshold).

mAP is computed by faster-coco-eval (``COCOeval_faster``, iouType bbox) on COCO dicts built in memory, with
``maxDets`` = `MAX_DETS` so that a crowded frame is not cut at COCO's default 100. COCO semantics apply: a class
without ground truth in the split has no AP and is left out of the means (its false positives cost nothing
there; they do show in the operating-point precision). The test suite checks the numbers against pycocotools.

JSON report (``EvalReport.to_dict()``, printed by ``qc eval --json``); floats rounded to 6 decimals::

    {
      "model":      {"path": str, "sha256": str},
      "data":       {"path": str (the data.yaml), "split": str},
      "provider":   str,             # ONNX Runtime execution provider that ran the model
      "imgsz":      int | [h, w],    # detector input size (a list only for a non-square static input)
      "decode":     "full" | "scaled" | "device", # how images were decoded (scaled: at the DCT scale, vision.jpeg;
                                                # device: on the model's device,
                                                # vision.throughput.device_decode)
      "conf":       float,           # operating threshold for "conditions" / "produce"
      "map_conf":   float,           # threshold of the mAP pass (MAP_CONF)
      "match_iou":  float,           # IoU for a true positive at the operating threshold (0.5)
      "counts":     {"images": int, "gt_boxes": int,
                     "predictions": int,       # boxes with confidence >= conf
                     "map_predictions": int},  # boxes in the mAP pass
      "map50":      float | null,    # COCO AP@0.5, all areas; null when the split has no boxes at all
      "map50_95":   float | null,    # COCO AP@[.5:.95], all areas
      "per_class":  {class name: float | null},        # AP50 per detector class; null: no ground truth
      "per_class_map50_95": {class name: float | null},
      "conditions": {condition: {"precision": float | null, "recall": float | null,
                                 "tp": int, "predictions": int, "ground_truth": int}},
      "produce":    {produce kind: same as conditions},
      "flags":      {"flag_below": float, "precision": float | null, "recall": float | null,
                     "tp": int, "fp": int, "fn": int},  # item-level flagging (training.item_flags)
      "graded":     null | {"grader": {"path", "sha256", "turns", "produce_weight"}, "conditions", "produce", "flags"}
                    # with a grader: the same operating points after it decided each box (training.graded)
    }

Operating-point matching, per condition (and likewise per produce kind): in each image, the predictions of that
condition (any produce kind: the condition is what ops act on), by descending confidence, each take the unmatched
ground-truth box of that condition with the highest IoU, if that IoU >= 0.5. precision = tp / predictions,
recall = tp / ground_truth; null when the denominator is 0.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from training.item_flags import FlagCounts, item_flags
from training.yolo_dataset import (
    ALL_SPLITS,
    DatasetError,
    GroundTruth,
    YoloDataset,
    YoloSample,
    image_paths,
    label_path_for,
    list_samples,
    load_dataset,
)
from vision.detections import Detections
from vision.nms import box_iou
from vision.errors import InputError, ModelLoadError
from vision.model_card import sha256_file
from vision.taxonomy import DEFAULT_FLAG_BELOW, Taxonomy

if TYPE_CHECKING:  # onnxruntime loads only when a model is evaluated
    from vision.detector import Detector
    from vision.grader import Grader

MAP_CONF = 0.001
MAX_DETS = (1, 10, 300)
MATCH_IOU = 0.5
DEFAULT_CONF = 0.25
DECODES = ("full", "scaled", "device")  # qc eval --decode


def default_model_path(registry_root: str | os.PathLike[str] | None = None) -> Path:
    """The registry's production model, checked against its card: what ``qc eval`` evaluates without ``--model``.

    An empty registry is seeded with the shipped model, so on a fresh machine this is the shipped one.
    """
    from vision.registry import Registry

    _, path = Registry.open(registry_root).load_verified()
    return path


@dataclass(frozen=True)
class CocoMetrics:
    """COCO box AP over a split; per-class tuples are indexed by class id, None where the class has no ground truth."""

    map50: float | None
    map50_95: float | None
    ap50: tuple[float | None, ...]
    ap50_95: tuple[float | None, ...]


@dataclass(frozen=True)
class OperatingPoint:
    """Counts of one group (a condition or a produce kind) at the operating threshold."""

    tp: int
    predictions: int
    ground_truth: int

    @property
    def precision(self) -> float | None:
        return self.tp / self.predictions if self.predictions else None

    @property
    def recall(self) -> float | None:
        return self.tp / self.ground_truth if self.ground_truth else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "precision": _round(self.precision),
            "recall": _round(self.recall),
            "tp": self.tp,
            "predictions": self.predictions,
            "ground_truth": self.ground_truth,
        }


def _check_pairs(truths: Sequence[GroundTruth], predictions: Sequence[Detections], num_classes: int) -> None:
    if len(truths) != len(predictions):
        raise InputError(f"{len(truths)} ground-truth images but {len(predictions)} prediction sets")
    for i, (gt, det) in enumerate(zip(truths, predictions)):
        for what, ids in (("ground truth", gt.class_id), ("prediction", det.class_id)):
            if len(ids) and not (0 <= ids.min() and ids.max() < num_classes):
                raise InputError(f"image {i}: {what} class id outside 0..{num_classes - 1}")


def coco_inputs(
    truths: Sequence[GroundTruth],
    predictions: Sequence[Detections],
    num_classes: int,
    image_sizes: Sequence[tuple[int, int]] | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The COCO ground-truth dataset dict and the COCO results list (``loadRes`` input) for the same images.

    Image ``i`` gets id ``i + 1`` and class ``c`` category id ``c + 1``: COCO tools treat id 0 as "unmatched".
    ``image_sizes`` are (width, height) per image, informational for bbox evaluation.
    """
    _check_pairs(truths, predictions, num_classes)
    images = []
    for i in range(len(truths)):
        image: dict[str, Any] = {"id": i + 1}
        if image_sizes is not None:
            image["width"], image["height"] = (int(v) for v in image_sizes[i])
        images.append(image)
    annotations = []
    for i, gt in enumerate(truths):
        for box, cls in zip(gt.xyxy.tolist(), gt.class_id.tolist()):
            w, h = box[2] - box[0], box[3] - box[1]
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": i + 1,
                    "category_id": cls + 1,
                    "bbox": [box[0], box[1], w, h],
                    "area": w * h,
                    "iscrowd": 0,
                }
            )
    results = []
    for i, det in enumerate(predictions):
        for box, cls, score in zip(det.xyxy.tolist(), det.class_id.tolist(), det.confidence.tolist()):
            results.append(
                {
                    "image_id": i + 1,
                    "category_id": cls + 1,
                    "bbox": [box[0], box[1], box[2] - box[0], box[3] - box[1]],
                    "score": score,
                }
            )
    categories = [{"id": c + 1, "name": str(c)} for c in range(num_classes)]
    return {"images": images, "annotations": annotations, "categories": categories}, results


def coco_metrics(
    truths: Sequence[GroundTruth],
    predictions: Sequence[Detections],
    num_classes: int,
    image_sizes: Sequence[tuple[int, int]] | None = None,
) -> CocoMetrics:
    """COCO box mAP (all areas, maxDets `MAX_DETS`) of ``predictions`` against ``truths``, by faster-coco-eval."""
    import logging

    from faster_coco_eval import COCO, COCOeval_faster

    gt_dict, results = coco_inputs(truths, predictions, num_classes, image_sizes)
    coco_gt = COCO(gt_dict)
    coco_dt = coco_gt.loadRes(results)
    quiet = logging.getLogger(__name__).debug
    evaluator = COCOeval_faster(coco_gt, coco_dt, iouType="bbox", print_function=quiet)
    evaluator.params.maxDets = list(MAX_DETS)
    evaluator.evaluate()
    evaluator.accumulate()
    return metrics_from_precision(evaluator.eval["precision"], evaluator.params.iouThrs)


def metrics_from_precision(precision: np.ndarray, iou_thresholds: np.ndarray) -> CocoMetrics:
    """Read AP50 and AP50-95 (overall and per category) from a COCO ``eval["precision"]`` array [T, R, K, A, M].

    Uses area range 0 ("all") and the last maxDets; entries of -1 (no ground truth) are left out of every mean,
    exactly as COCOeval.summarize does.
    """
    p = np.asarray(precision)[:, :, :, 0, -1]  # [T, R, K]
    t50 = int(np.argmin(np.abs(np.asarray(iou_thresholds) - 0.5)))

    def mean(a: np.ndarray) -> float | None:
        valid = a[a > -1]
        return float(valid.mean()) if valid.size else None

    num_classes = p.shape[2]
    return CocoMetrics(
        map50=mean(p[t50]),
        map50_95=mean(p),
        ap50=tuple(mean(p[t50, :, k]) for k in range(num_classes)),
        ap50_95=tuple(mean(p[:, :, k]) for k in range(num_classes)),
    )


def _greedy_tp(pred_xyxy: np.ndarray, pred_conf: np.ndarray, gt_xyxy: np.ndarray, iou_threshold: float) -> int:
    if not len(pred_xyxy) or not len(gt_xyxy):
        return 0
    order = np.argsort(-pred_conf, kind="stable")
    ious = box_iou(pred_xyxy[order], gt_xyxy)
    taken = np.zeros(len(gt_xyxy), bool)
    tp = 0
    for row in ious:
        candidates = np.where(taken, -1.0, row)
        j = int(np.argmax(candidates))
        if candidates[j] >= iou_threshold:
            taken[j] = True
            tp += 1
    return tp


def operating_points(
    truths: Sequence[GroundTruth],
    predictions: Sequence[Detections],
    group_of_class: np.ndarray,
    num_groups: int,
    conf: float,
    iou_threshold: float = MATCH_IOU,
) -> list[OperatingPoint]:
    """Per group (e.g. condition), TP / prediction / ground-truth counts of predictions with confidence >= ``conf``.

    ``group_of_class[c]`` is the group of class ``c``; matching ignores the rest of the class (see module doc).
    """
    group_of_class = np.asarray(group_of_class, np.int64)
    _check_pairs(truths, predictions, len(group_of_class))
    tp = np.zeros(num_groups, np.int64)
    n_pred = np.zeros(num_groups, np.int64)
    n_gt = np.zeros(num_groups, np.int64)
    for gt, det in zip(truths, predictions):
        det = det[det.confidence >= conf]
        gt_group = group_of_class[gt.class_id]
        det_group = group_of_class[det.class_id]
        n_gt += np.bincount(gt_group, minlength=num_groups)
        n_pred += np.bincount(det_group, minlength=num_groups)
        for g in np.intersect1d(gt_group, det_group):
            d, t = det_group == g, gt_group == g
            tp[g] += _greedy_tp(det.xyxy[d], det.confidence[d], gt.xyxy[t], iou_threshold)
    return [OperatingPoint(int(a), int(b), int(c)) for a, b, c in zip(tp, n_pred, n_gt)]


@dataclass(frozen=True)
class EvalReport:
    """Everything ``qc eval`` reports; `to_dict` is the documented JSON (see the module docstring)."""

    model_path: Path
    model_sha256: str
    data_yaml: Path
    split: str
    provider: str
    imgsz: tuple[int, int]
    conf: float
    images: int
    gt_boxes: int
    predictions: int
    map_predictions: int
    coco: CocoMetrics
    class_names: tuple[str, ...]
    conditions: dict[str, OperatingPoint]
    produce: dict[str, OperatingPoint]
    flags: FlagCounts | None = None  # item-level flag precision/recall at the operating point
    decode: str = "full"  # "scaled": JPEGs decoded at the DCT scale the model needs (vision.jpeg)
    # With a grader: the same operating points after the grader decided each box (training.graded), i.e. what the
    # edge's items would say; mAP and AP stay the detector's own.
    graded: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of ``qc eval --json``."""
        return {
            "model": {"path": str(self.model_path), "sha256": self.model_sha256},
            "data": {"path": str(self.data_yaml), "split": self.split},
            "provider": self.provider,
            "imgsz": self.imgsz[0] if self.imgsz[0] == self.imgsz[1] else list(self.imgsz),
            "decode": self.decode,
            "conf": self.conf,
            "map_conf": MAP_CONF,
            "match_iou": MATCH_IOU,
            "counts": {
                "images": self.images,
                "gt_boxes": self.gt_boxes,
                "predictions": self.predictions,
                "map_predictions": self.map_predictions,
            },
            "map50": _round(self.coco.map50),
            "map50_95": _round(self.coco.map50_95),
            "per_class": {n: _round(v) for n, v in zip(self.class_names, self.coco.ap50)},
            "per_class_map50_95": {n: _round(v) for n, v in zip(self.class_names, self.coco.ap50_95)},
            "conditions": {k: v.to_dict() for k, v in self.conditions.items()},
            "produce": {k: v.to_dict() for k, v in self.produce.items()},
            "flags": None if self.flags is None else self.flags.to_dict(),
            "graded": self.graded,
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 6)


def check_names(dataset: YoloDataset, taxonomy: Taxonomy, taxonomy_source: str) -> None:
    """Raise DatasetError unless the data set's class names are the taxonomy's, in class-id order."""
    ours = taxonomy.class_names
    if dataset.names == ours:
        return
    if len(dataset.names) != len(ours):
        detail = f"{len(dataset.names)} classes vs {len(ours)}"
    else:
        i = next(i for i, (a, b) in enumerate(zip(dataset.names, ours)) if a != b)
        detail = f"class {i} is {dataset.names[i]!r} in the data set but {ours[i]!r} in the taxonomy"
    raise DatasetError(f"{dataset.yaml_path}: names do not match the taxonomy {taxonomy_source} ({detail})")


def check_labels_found(dataset: YoloDataset, split: str) -> None:
    """Raise DatasetError if a split to evaluate (each one, for ``"all"``) has images but not one label file.

    A missing label file reads as a background image, so labels that sit where the ultralytics rule does not look
    (the last ``/images/`` of the image's path becomes ``/labels/``, the suffix ``.txt``) would otherwise evaluate
    to no ground truth at all, mAP null and exit 0. An existing empty label file is a real negative: one is enough.
    """
    for name in dataset.splits if split == ALL_SPLITS else (split,):
        try:
            images = image_paths(dataset, name)
        except DatasetError:
            if split == ALL_SPLITS:
                continue  # an empty split among all of them: list_samples fails if every one is empty
            raise
        if any(label_path_for(p).is_file() for p in images):
            continue
        folders = sorted({str(label_path_for(p).parent) for p in images})
        shown = ", ".join(folders[:3]) + (f" and {len(folders) - 3} more" if len(folders) > 3 else "")
        raise DatasetError(
            f"{dataset.yaml_path}: split '{name}' has {len(images)} image(s) but no label file for any of them; "
            f"expected them in {shown} (e.g. {label_path_for(images[0])}: the last 'images' folder of an image's "
            "path becomes 'labels', the suffix .txt); a background image needs an empty label file"
        )


def detect_samples(
    detector: Detector,
    samples: Sequence[YoloSample],
    batch: int,
    progress: Callable[[int, int], None] | None,
    decode: str = "full",
) -> list[Detections]:
    """Detections of every sample's image, ``batch`` images per detector call; ``progress(done, total)`` after each.
    ``decode="scaled"``: JPEGs are decoded at the DCT scale the detector needs, as the pipelined detector does;
    ``"device"``: decoded and letterboxed on the detector's device (`vision.throughput.device_decode`)."""
    from vision.jpeg import decode_for_fit

    if decode == "device":
        return _detect_on_device(detector, samples, batch, progress)
    fit = detector.imgsz if decode == "scaled" else None
    predictions: list[Detections] = []
    for start in range(0, len(samples), batch):
        images, originals = [], []
        for s in samples[start : start + batch]:
            try:
                decoded = decode_for_fit(s.image_path.read_bytes(), fit)
            except (OSError, InputError) as exc:
                raise DatasetError(f"{s.image_path}: cannot decode this image ({exc})") from None
            if decoded.original != (s.height, s.width):
                h, w = decoded.original
                raise DatasetError(f"{s.image_path}: decodes to {w}x{h}, header says {s.width}x{s.height}")
            images.append(decoded.pixels)
            originals.append(decoded.original)
        predictions.extend(detector.detect(images, originals))
        if progress is not None:
            progress(min(start + batch, len(samples)), len(samples))
    return predictions


def _detect_on_device(
    detector: Detector, samples: Sequence[YoloSample], batch: int, progress: Callable[[int, int], None] | None
) -> list[Detections]:
    """`detect_samples` with every JPEG decoded and letterboxed on the detector's device, as `qc bench
    --device-decode` runs it (other image formats are decoded on the host)."""
    from vision.throughput.frame_decoding import FrameDecoding
    from vision.throughput.pipelined import PipelinedDetector

    predictions: list[Detections] = []
    with PipelinedDetector(detector, FrameDecoding(on_device=True)) as pipe:
        for start in range(0, len(samples), batch):
            chunk = samples[start : start + batch]
            try:
                predictions.extend(pipe.detect([s.image_path.read_bytes() for s in chunk]))
            except (OSError, InputError) as exc:
                raise DatasetError(f"{chunk[0].image_path.parent}: cannot decode images {start}.. ({exc})") from None
            if progress is not None:
                progress(min(start + batch, len(samples)), len(samples))
    return predictions


def evaluate_model(
    data: str | os.PathLike[str],
    *,
    model_path: str | os.PathLike[str] | None = None,
    taxonomy: Taxonomy,
    taxonomy_source: str = "in use",
    split: str | None = None,
    imgsz: int | None = None,
    conf: float = DEFAULT_CONF,
    flag_below: float = DEFAULT_FLAG_BELOW,
    batch: int = 8,
    providers: Sequence[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
    decode: str = "full",
    grader: Grader | None = None,
) -> EvalReport:
    """Run ``model_path`` (default: the shipped model) through `Detector` on a split and measure it.

    ``decode``: "full" decodes every image in full; "scaled" decodes JPEGs at the DCT scale the model needs
    (`vision.jpeg`), as `qc bench` and the pipelined detector do: the check that this loses no mAP; "device"
    decodes and letterboxes on the model's device (`vision.throughput.device_decode`; nvJPEG on a GPU).

    ``flag_below`` is the freshness threshold of the item-level flag metrics (``flags``).
    ``grader``: the version's second stage; the report then also has ``graded``, the operating points and flags
    after the grader decided each box at or above ``conf`` (`training.graded.regrade`).
    ``progress(done, total)`` is called after each batch of images. Errors a user can cause (missing files,
    bad labels, a split without a single label file, class names that differ from the taxonomy, a missing model)
    raise QCError subclasses.
    """
    from vision.decode import DecodeOptions
    from vision.detector import Detector
    from vision.detector_options import InputOptions, RuntimeOptions

    if not 0.0 <= conf <= 1.0:
        raise InputError(f"--conf must be in [0, 1], got {conf}")
    if batch < 1:
        raise InputError(f"--batch must be at least 1, got {batch}")
    if decode not in DECODES:
        raise InputError(f"--decode must be one of {list(DECODES)}, got {decode!r}")
    model = Path(model_path) if model_path is not None else default_model_path()
    if not model.is_file():
        hint = "" if model_path is not None else " (the shipped model is missing; pass --model)"
        raise ModelLoadError(f"model not found: {model}{hint}")
    dataset = load_dataset(data)
    check_names(dataset, taxonomy, taxonomy_source)
    split = split or dataset.default_eval_split
    # Before any image header is read or the model loaded: labels that are nowhere to be found fail fast.
    check_labels_found(dataset, split)
    samples = list_samples(dataset, split)
    # imgsz None: the detector takes the model's own size (static input, else its export metadata, else 640).
    # One pass serves both: filtered to MAP_CONF for mAP, to conf for the operating point (conf may be lower).
    pass_conf = min(conf, MAP_CONF)
    detector = Detector(
        model, taxonomy, decoding=DecodeOptions(conf_threshold=pass_conf), inputs=InputOptions(imgsz=imgsz),
        runtime=RuntimeOptions(providers=providers),
    )
    predictions = detect_samples(detector, samples, batch, progress, decode)
    map_predictions = predictions if pass_conf == MAP_CONF else [d[d.confidence >= MAP_CONF] for d in predictions]

    truths = [s.truth for s in samples]
    sizes = [(s.width, s.height) for s in samples]
    n_cond = len(taxonomy.conditions)
    class_ids = np.arange(taxonomy.num_classes)
    graded = None
    if grader is not None:
        from training.graded import regrade

        regraded = regrade(predictions, [str(s.image_path) for s in samples], taxonomy, grader, conf, flag_below)
        graded = {
            "grader": {"path": str(grader.model_path), "sha256": grader.spec.sha256, "turns": grader.turns,
                       "produce_weight": grader.produce_weight},
            "conditions": {k: v.to_dict() for k, v in zip(
                taxonomy.condition_names,
                operating_points(truths, regraded, taxonomy.condition_index(class_ids), n_cond, conf))},
            "produce": {k: v.to_dict() for k, v in zip(
                taxonomy.produce,
                operating_points(truths, regraded, taxonomy.produce_index(class_ids), len(taxonomy.produce), conf))},
            "flags": item_flags(truths, regraded, _class_freshness(taxonomy), flag_below=flag_below, conf=conf,
                                iou_threshold=MATCH_IOU).to_dict(),
        }
    return EvalReport(
        graded=graded,
        model_path=model,
        model_sha256=sha256_file(model),
        decode=decode,
        data_yaml=dataset.yaml_path,
        split=split,
        provider=detector.provider,
        imgsz=detector.imgsz,
        conf=conf,
        images=len(samples),
        gt_boxes=sum(len(t) for t in truths),
        predictions=int(sum((d.confidence >= conf).sum() for d in predictions)),
        map_predictions=sum(len(d) for d in map_predictions),
        coco=coco_metrics(truths, map_predictions, taxonomy.num_classes, sizes),
        class_names=taxonomy.class_names,
        conditions=dict(
            zip(
                taxonomy.condition_names,
                operating_points(truths, predictions, taxonomy.condition_index(class_ids), n_cond, conf),
            )
        ),
        produce=dict(
            zip(
                taxonomy.produce,
                operating_points(truths, predictions, taxonomy.produce_index(class_ids), len(taxonomy.produce), conf),
            )
        ),
        flags=item_flags(
            truths, predictions, _class_freshness(taxonomy), flag_below=flag_below, conf=conf, iou_threshold=MATCH_IOU
        ),
    )


def _class_freshness(taxonomy: Taxonomy) -> np.ndarray:
    """The labelled freshness of each class id: its condition's value."""
    values = np.array([c.freshness for c in taxonomy.conditions], np.float32)
    return values[taxonomy.condition_index(np.arange(taxonomy.num_classes))]
