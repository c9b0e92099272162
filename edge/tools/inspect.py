"""`qc inspect VIDEO`: the edge pipeline offline over a recorded video — decode, detect, track, count once, score.

The same `Detector`, grader and `CameraCounter` the service runs, with no server: frames are numbered from 0 and stamped
``index / fps``. The result is one JSON object (``--json``) with the counts and flags per produce kind and one
entry per counted item; ``--truth`` adds a comparison with a `qc synth clip` truth.json. The command itself (options,
output) lives in `edge.tools.inspect_cli`, so registering it does not import this module.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge.tracking import CameraCounter, CounterConfig, CountingLine, Item
from vision.decode import DecodeOptions
from vision.detector import Detector
from vision.detector_options import InputOptions
from vision.errors import InputError, ModelLoadError
from vision.frame import Frame
from vision.grader import Grader, grader_spec_for
from vision.model_card import ModelCardDraft
from vision.registry import Registry, grader_file_for
from vision.taxonomy import Taxonomy

DEFAULT_BATCH = 8

__all__ = ["DEFAULT_BATCH", "InspectModels", "build_report", "inspect_video", "load_models", "read_video", "video_meta",
           "write_crops"]


def read_video(path: Path, batch: int) -> Iterator[list[np.ndarray]]:
    """BGR frames of a video file, ``batch`` at a time; raises InputError when it cannot be opened or is empty."""
    if not path.is_file():
        raise InputError(f"video not found: {path}")
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise InputError(f"cannot open video {path} (not a video OpenCV can decode)")
    try:
        chunk: list[np.ndarray] = []
        got_any = False
        while True:
            ok, image = cap.read()
            if not ok:
                break
            got_any = True
            chunk.append(image)
            if len(chunk) == batch:
                yield chunk
                chunk = []
        if chunk:
            yield chunk
        if not got_any:
            raise InputError(f"video {path} has no decodable frames")
    finally:
        cap.release()


def video_meta(path: Path) -> tuple[float, int, int, int]:
    """(fps, frame count, width, height) as the container states them (fps 0 when it does not)."""
    cap = cv2.VideoCapture(str(path))
    try:
        return (
            float(cap.get(cv2.CAP_PROP_FPS) or 0.0),
            int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0),
            int(cap.get(cv2.CAP_PROP_FRAME_WIDTH) or 0),
            int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0),
        )
    finally:
        cap.release()


@dataclass(frozen=True)
class InspectModels:
    """What `qc inspect` runs: the detector, the grader (None: the detector alone) and a JSON-ready description of
    them (path, version, provider, input size, confidence threshold, produce-vote calibration, grader)."""

    detector: Detector
    grader: Grader | None
    info: dict[str, Any]


def load_models(model: Path | None, conf_threshold: float = 0.25, grader: Path | None = None) -> InspectModels:
    """The registry's production version (detector and grader, verified against its card), or the ONNX file
    ``model`` (its taxonomy and grader section from a ``card.json`` beside it, else the project's taxonomy).

    ``grader``: an ONNX grader file to use instead of the version's (or beside ``model``, an unregistered pair): the
    card section that matches its sha256 (the card beside ``model``, or the version's) when there is one, else one
    read from the file itself (classes from its embedded names, default produce weight). Without ``grader``, a
    card beside ``model`` with a grader section uses the grader file it names beside ``model`` (in the shipped model
    folder: the shipped file with its sha256, `vision.registry.grader_file_for`).
    """
    if model is None:
        registry = Registry.open()
        card, path = registry.load_verified()  # the version's grader too
        taxonomy, size, version = card.taxonomy_obj(), max(card.input_size), card.version
        spoiled_vote: dict[str, float] = dict(card.spoiled_vote)
        spec, grader_file = card.grader, registry.grader_path(card, verify=False)
    else:
        path = model
        card_path = model.parent / "card.json"
        if card_path.is_file():
            draft = ModelCardDraft.load(card_path)
            raw = json.loads(card_path.read_text())
            taxonomy, size, spec = draft.taxonomy_obj(), max(draft.input_size), draft.grader
            version = raw.get("version") if isinstance(raw, dict) else None
            spoiled_vote = dict(draft.spoiled_vote)
        else:
            taxonomy, size, version, spoiled_vote, spec = Taxonomy.load(), None, None, {}, None
        grader_file = grader_file_for(model, spec) if spec is not None else None
    if grader is not None:
        if not grader.is_file():
            raise ModelLoadError(f"--grader {grader}: no such file")
        spec, grader_file = grader_spec_for(grader, spec, note="given to qc inspect --grader"), grader
    detector = Detector(
        path, taxonomy, decoding=DecodeOptions(conf_threshold=conf_threshold), inputs=InputOptions(imgsz=size)
    )
    graded = None
    if spec is not None and grader_file is not None:
        graded = Grader(grader_file, spec, taxonomy=taxonomy)
    info = {
        "path": str(detector.model_path),
        "version": version,
        "provider": detector.provider,
        "fell_back": detector.fell_back,
        "imgsz": list(detector.imgsz),
        "conf_threshold": detector.decoding.conf_threshold,
        "spoiled_vote": spoiled_vote,
        "grader": None if graded is None else {
            "path": str(graded.model_path), "classes": list(graded.classes), "input_size": graded.input_size,
            "produce_weight": graded.produce_weight, "turns": graded.turns, "provider": graded.provider,
        },
    }
    return InspectModels(detector=detector, grader=graded, info=info)


def inspect_video(
    video: Path,
    detector: Detector,
    *,
    line: CountingLine | None = None,
    config: CounterConfig | None = None,
    sku: str | None = None,
    camera_id: str = "video",
    model_info: dict[str, Any] | None = None,
    grader: Grader | None = None,
    batch: int = DEFAULT_BATCH,
    on_progress: Callable[[int, int], None] | None = None,
) -> tuple[dict[str, Any], list[Item]]:
    """Run detection, tracking and counting over ``video``; returns the report (JSON-ready) and the items.

    ``line``: the counting line (default: vertical through the frame centre, belt running +x); ``config`` overrides
    the whole counter configuration (its line wins over ``line``). ``sku``: a warehouse SKU tag sent with every
    frame (a produce name, or a code mapped in ``config.sku_produce``). ``model_info`` (`load_models`'s) gives
    the items their model ``version`` and the model's produce-vote calibration (``spoiled_vote``). ``grader``: the
    version's grader (`load_models`'s), run once per counted item on its best views (None: the detector alone).
    """
    fps, total, width, height = video_meta(video)
    if fps <= 0:
        fps = 15.0  # a container without a rate: frame numbers still count, seconds are nominal
    taxonomy = detector.taxonomy
    counter: CameraCounter | None = None
    items: list[Item] = []
    tags = {"sku": sku} if sku else {}
    seq = 0
    w = h = 0
    for images in read_video(video, batch):
        if counter is None:
            h, w = images[0].shape[:2]
            if config is None:
                config = CounterConfig(line=line or CountingLine.vertical(w / 2))
            info = model_info or {}
            counter = CameraCounter(camera_id, taxonomy, config, model_version=info.get("version"),
                                    model_spoiled_vote=info.get("spoiled_vote") or {}, grader=grader)
        for image, dets in zip(images, detector.detect(images)):
            frame = Frame(camera_id=camera_id, seq=seq, captured_at=seq / fps, image=image, tags=tags)
            items.extend(counter.update(frame, dets).counted)
            seq += 1
            if on_progress:
                on_progress(seq, total)
    if counter is None:  # read_video raises first; kept so an empty stream can never pass silently
        raise InputError(f"video {video} has no decodable frames")
    items.extend(counter.flush())
    items.sort(key=lambda it: (it.counted_seq, it.track_id))
    report = build_report(video, seq, fps, (width or w, height or h), taxonomy, counter, items, model_info or {})
    report["sku"] = sku
    return report, items


def build_report(
    video: Path,
    frames: int,
    fps: float,
    size: tuple[int, int],
    taxonomy: Taxonomy,
    counter: CameraCounter,
    items: list[Item],
    model_info: dict[str, Any],
) -> dict[str, Any]:
    """The JSON report of one inspected video."""
    counts = {p: 0 for p in taxonomy.produce}
    flagged = {p: 0 for p in taxonomy.produce}
    for it in items:
        counts[it.produce] += 1
        flagged[it.produce] += it.flagged
    return {
        "video": str(video),
        "frames": frames,
        "fps": fps,
        "width": size[0],
        "height": size[1],
        "model": model_info,
        "line": counter.line.to_dict(),
        "flag_below": {p: counter.config.flags.threshold(p) for p in taxonomy.produce},
        "belt_speed_px_per_frame": round(counter.belt_speed, 2),
        "counts": counts,
        "flagged": flagged,
        "total": len(items),
        "total_flagged": sum(flagged.values()),
        "vetoed": counter.vetoed,  # crossed the line, but the grader called them no produce: not counted
        "items": [
            {
                "track_id": it.track_id,
                "produce": it.produce,
                "condition": it.condition,
                "freshness": it.freshness,
                "flagged": it.flagged,
                "first_frame": it.first_seq,
                "last_frame": it.last_seq,
                "counted_frame": it.counted_seq,
                "frames": it.frames,
                "votes": it.votes,
                "best_frame": it.best_seq,
                "best_box": [round(v, 1) for v in it.best_box],
                "inferred": it.inferred,
                "sku": it.sku,
                "graded_views": it.graded_views,
            }
            for it in items
        ],
    }


def write_crops(items: list[Item], folder: Path) -> list[Path]:
    """Write the best crop of each flagged item as ``<track_id>_<produce>.jpg``; returns the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for it in items:
        if it.best_crop_jpeg is not None:
            p = folder / f"{it.track_id:05d}_{it.produce}.jpg"
            p.write_bytes(it.best_crop_jpeg)
            paths.append(p)
    return paths
