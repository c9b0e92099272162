"""`qc inspect VIDEO`: the edge pipeline offline over a recorded video — decode, detect, track, count once, score.

The same `Detector` and `CameraCounter` the service runs, with no server: frames are numbered from 0 and stamped
``index / fps``. The result is one JSON object (``--json``) with the counts and flags per produce kind and one
entry per counted item; ``--truth`` adds a comparison with a `qc synth clip` truth.json.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import cv2
import numpy as np
import typer

from edge.tracking import CameraCounter, CounterConfig, CountingLine, Item
from edge.tracking.scoring import score_against_truth
from vision.detector import Detector
from vision.errors import InputError
from vision.frame import Frame
from vision.registry import Registry
from vision.taxonomy import Taxonomy

DEFAULT_BATCH = 8


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


def load_detector(model: Path | None, conf_threshold: float = 0.25) -> tuple[Detector, dict[str, Any]]:
    """The registry's production model (verified against its card), or the ONNX file ``model`` (its taxonomy from
    a ``card.json`` beside it, else the project's); returns the detector and a description of the model."""
    if model is None:
        card, path = Registry.open().load_verified()
        detector = Detector(path, card.taxonomy_obj(), imgsz=max(card.input_size), conf_threshold=conf_threshold)
        version: str | None = card.version
    else:
        card_path = model.parent / "card.json"
        if card_path.is_file():
            from vision.model_card import ModelCardDraft

            draft = ModelCardDraft.load(card_path)
            raw = json.loads(card_path.read_text())
            detector = Detector(model, draft.taxonomy_obj(), imgsz=max(draft.input_size), conf_threshold=conf_threshold)
            version = raw.get("version") if isinstance(raw, dict) else None
        else:
            detector = Detector(model, Taxonomy.load(), conf_threshold=conf_threshold)
            version = None
    info = {
        "path": str(detector.model_path),
        "version": version,
        "provider": detector.provider,
        "fell_back": detector.fell_back,
        "imgsz": list(detector.imgsz),
        "conf_threshold": detector.conf_threshold,
    }
    return detector, info


def inspect_video(
    video: Path,
    detector: Detector,
    *,
    line: CountingLine | None = None,
    config: CounterConfig | None = None,
    sku: str | None = None,
    camera_id: str = "video",
    model_info: dict[str, Any] | None = None,
    batch: int = DEFAULT_BATCH,
    on_progress: Callable[[int, int], None] | None = None,
) -> tuple[dict[str, Any], list[Item]]:
    """Run detection, tracking and counting over ``video``; returns the report (JSON-ready) and the items.

    ``line``: the counting line (default: vertical through the frame centre, belt running +x); ``config`` overrides
    the whole counter configuration (its line wins over ``line``). ``sku``: a warehouse SKU tag sent with every
    frame (a produce name, or a code mapped in ``config.sku_produce``).
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
            counter = CameraCounter(camera_id, taxonomy, config, model_version=(model_info or {}).get("version"))
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
        "belt_speed_px_per_frame": round(counter.belt_speed, 2),
        "counts": counts,
        "flagged": flagged,
        "total": len(items),
        "total_flagged": sum(flagged.values()),
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


def inspect(
    video: Annotated[
        Path, typer.Argument(help="Video file to inspect (anything OpenCV decodes, e.g. a qc synth clip).")
    ],
    json_out: Annotated[bool, typer.Option("--json", help="Print the report as one JSON object on stdout.")] = False,
    model: Annotated[
        Path | None, typer.Option(help="ONNX model to use instead of the registry's production model.")
    ] = None,
    line: Annotated[
        str | None,
        typer.Option(help="Counting line 'x=POS' or 'y=POS', optionally ':+x'/':-x'/':+y'/':-y' for the belt "
                          "direction (default: x through the frame centre, belt running +x)."),
    ] = None,
    sku: Annotated[
        str | None, typer.Option(help="SKU tag sent with every frame: a produce name (e.g. apple) or CODE=PRODUCE.")
    ] = None,
    flag_below: Annotated[
        float | None, typer.Option(min=0.0, max=1.0, help="Flag items whose freshness is below this (default 0.8).")
    ] = None,
    conf: Annotated[float, typer.Option(min=0.0, max=1.0, help="Detector confidence threshold.")] = 0.25,
    truth: Annotated[
        Path | None, typer.Option(help="A qc synth clip truth.json: add counted-vs-truth and flag precision/recall.")
    ] = None,
    crops: Annotated[Path | None, typer.Option(help="Folder to write the best crop of each flagged item to.")] = None,
) -> None:
    """Run detection, tracking and counting over a recorded video and report what was counted and flagged."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from edge.tracking import FlagPolicy

    err = Console(stderr=True)
    counting_line = CountingLine.parse(line) if line else None
    sku_tag, sku_map = sku, {}
    if sku and "=" in sku:
        code, produce = (s.strip() for s in sku.split("=", 1))
        if not code or not produce:
            raise InputError(f"--sku {sku!r}: expected CODE=PRODUCE")
        sku_tag, sku_map = code, {code: produce}
    truth_doc = _read_truth(truth) if truth is not None else None  # fail before the long run, not after
    detector, info = load_detector(model, conf)
    if sku_tag and not sku_map and sku_tag.strip().lower() not in detector.taxonomy.produce:
        raise InputError(
            f"--sku {sku!r} is not a produce kind {list(detector.taxonomy.produce)}; use CODE=PRODUCE for a SKU code"
        )
    config = None
    if counting_line is not None or flag_below is not None or sku_map:
        if counting_line is None:
            _, _, width, _ = video_meta(video)
            counting_line = CountingLine.vertical((width or 640) / 2)
        flags = FlagPolicy() if flag_below is None else FlagPolicy(default=flag_below)
        config = CounterConfig(line=counting_line, flags=flags, sku_produce=sku_map)
    err.print(f"model {info['version'] or info['path']} on {info['provider']}", highlight=False)
    with Progress(
        TextColumn("inspect"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=err, transient=True
    ) as progress:
        task = progress.add_task("frames", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total or None)

        report, items = inspect_video(
            video, detector, line=counting_line, config=config, sku=sku_tag, model_info=info, on_progress=advance
        )
    if truth_doc is not None:
        report["truth"] = score_against_truth(items, truth_doc, CountingLine.from_dict(report["line"]))
    if crops is not None:
        report["crops"] = [str(p) for p in write_crops(items, crops)]
    if json_out:
        sys.stdout.write(json.dumps(report) + os.linesep)
        return
    _print_table(report)


def _read_truth(path: Path) -> dict[str, Any]:
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as exc:  # ValueError: not JSON, or not text at all
        raise InputError(f"cannot read truth file {path}: {exc}") from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("items"), list):
        raise InputError(f"truth file {path} has no 'items' list (expected a qc synth clip truth.json)")
    return raw


def _print_table(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    speed = report["belt_speed_px_per_frame"]
    table = Table(title=f"{report['video']}: {report['frames']} frames, belt {speed} px/frame")
    truth = report.get("truth", {}).get("per_produce", {})
    table.add_column("produce")
    table.add_column("counted", justify="right")
    table.add_column("flagged", justify="right")
    if truth:
        table.add_column("truth", justify="right")
        table.add_column("truth spoiled", justify="right")
    for produce, n in report["counts"].items():
        row = [produce, str(n), str(report["flagged"][produce])]
        if truth:
            t = truth.get(produce, {})
            row += [str(t.get("truth", 0)), str(t.get("truth_spoiled", 0))]
        table.add_row(*row)
    Console().print(table)
