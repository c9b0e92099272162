"""`qc demo`: the shipped model over a freshly rendered conveyor clip, compared with the clip's truth.

Runs on the embedded defaults with nothing to download: the registry is seeded with the shipped model,
the clip is rendered by `qc synth clip` in a separate process (edge never imports training).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import cv2
import numpy as np
import typer

from vision.detections import Detections
from vision.detector import Detector
from vision.errors import QCError
from vision.nms import box_iou
from vision.registry import Registry
from vision.taxonomy import Taxonomy

MATCH_IOU = 0.5


@dataclass
class Tally:
    """Per produce kind: boxes in the truth, boxes detected, and how they matched (frame level)."""

    truth: Counter = field(default_factory=Counter)
    detected: Counter = field(default_factory=Counter)
    matched: Counter = field(default_factory=Counter)  # detected and matched to a truth box of the same produce
    truth_spoiled: Counter = field(default_factory=Counter)
    flagged: Counter = field(default_factory=Counter)  # detections below the freshness threshold
    flagged_correct: Counter = field(default_factory=Counter)  # ... matched to a truth box that is not fresh


def tally_frame(
    tally: Tally, dets: Detections, truth_boxes: list[tuple[str, str, list[float]]], taxonomy: Taxonomy, flag_below: float
) -> None:
    """Add one frame's detections against its truth boxes ``(produce, condition, xyxy)`` (greedy IoU matching)."""
    fresh = taxonomy.condition_names[0]
    det_produce = [taxonomy.split_class(int(c))[0] for c in dets.class_id]
    for produce, condition, _ in truth_boxes:
        tally.truth[produce] += 1
        tally.truth_spoiled[produce] += condition != fresh
    used: set[int] = set()
    iou = box_iou(dets.xyxy, np.array([b for *_, b in truth_boxes], np.float32).reshape(-1, 4))
    for i in np.argsort(-dets.confidence):
        produce = det_produce[i]
        tally.detected[produce] += 1
        flagged = bool(dets.freshness[i] < flag_below)
        tally.flagged[produce] += flagged
        candidates = [j for j in np.argsort(-iou[i]) if iou[i, j] >= MATCH_IOU and j not in used]
        same = [j for j in candidates if truth_boxes[j][0] == produce]
        if same:
            used.add(same[0])
            tally.matched[produce] += 1
            tally.flagged_correct[produce] += flagged and truth_boxes[same[0]][1] != fresh


def _render_clip(out: Path, seconds: float, fps: float, seed: int, speed: float, density: float) -> dict:
    cmd = [sys.executable, "-m", "vision.cli", "synth", "clip", "--out", str(out), "--seconds", str(seconds),
           "--fps", str(fps), "--seed", str(seed), "--speed", str(speed), "--density", str(density)]
    done = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise QCError(f"rendering the demo clip failed (exit {done.returncode}): {' '.join(cmd)}")
    return json.loads((out / "truth.json").read_text())


def _read_frames(video: Path, batch: int):  # -> Iterator[list[np.ndarray]]
    cap = cv2.VideoCapture(str(video))
    if not cap.isOpened():
        raise QCError(f"cannot open video {video}")
    try:
        frames: list[np.ndarray] = []
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            frames.append(frame)
            if len(frames) == batch:
                yield frames
                frames = []
        if frames:
            yield frames
    finally:
        cap.release()


def demo(
    seconds: Annotated[float, typer.Option(min=1.0, help="Length of the rendered clip.")] = 8.0,
    fps: Annotated[float, typer.Option(min=1.0, help="Clip frame rate.")] = 15.0,
    speed: Annotated[float, typer.Option(min=0.1, help="Belt speed, m/s.")] = 1.0,
    density: Annotated[float, typer.Option(min=0.1, help="Items per metre of belt.")] = 3.0,
    seed: Annotated[int, typer.Option(help="Seed of the rendered clip.")] = 2026,
    flag_below: Annotated[float, typer.Option(min=0.0, max=1.0, help="Flag detections with freshness below this.")] = 0.5,
    model: Annotated[Path | None, typer.Option(help="ONNX model to run instead of the registry's production model.")] = None,
    registry: Annotated[Path | None, typer.Option(help="Registry folder (default $QC_REGISTRY or ~/.local/share/...).")] = None,
    keep: Annotated[Path | None, typer.Option(help="Keep the rendered clip and truth in this folder.")] = None,
) -> None:
    """Run the shipped model over a freshly rendered conveyor clip and print what it saw against the truth."""
    taxonomy = Taxonomy.load()
    if model is None:
        reg = Registry.open(registry)
        card, model_path = reg.load_verified()
        label = f"{card.version} ({card.stage}) from {reg.root}"
        detector = Detector(model_path, card.taxonomy_obj(), imgsz=max(card.input_size))
        taxonomy = card.taxonomy_obj()
    else:
        label = str(model)
        detector = Detector(model, taxonomy)
    with tempfile.TemporaryDirectory(prefix="qc-demo-") as tmp:
        clip_dir = keep or Path(tmp)
        typer.echo(f"rendering a {seconds:g} s clip at {fps:g} fps, belt {speed:g} m/s, {density:g} items/m ...", err=True)
        truth = _render_clip(clip_dir, seconds, fps, seed, speed, density)
        by_frame: dict[int, list[tuple[str, str, list[float]]]] = {}
        for item in truth["items"]:
            for k, box in zip(item["frames"], item["boxes"]):
                by_frame.setdefault(k, []).append((item["produce"], item["condition"], box))
        tally = Tally()
        k = 0
        started = time.perf_counter()
        for batch in _read_frames(clip_dir / "clip.mp4", batch=8):
            for dets in detector.detect(batch):
                tally_frame(tally, dets, by_frame.get(k, []), taxonomy, flag_below)
                k += 1
            typer.echo(f"\r  frames {k}/{truth['frames']}", nl=False, err=True)
        elapsed = time.perf_counter() - started
    typer.echo("", err=True)
    typer.echo(f"model {label} on {detector.provider}; {k} frames in {elapsed:.1f} s ({k / max(elapsed, 1e-9):.1f} frames/s)")
    typer.echo(f"clip: {len(truth['items'])} physical items; boxes counted per frame (tracking comes with `qc serve`)\n")
    header = f"{'produce':<8} {'truth':>6} {'found':>6} {'recall':>7} {'precision':>9} {'spoiled':>8} {'flagged':>8} {'flag ok':>8}"
    typer.echo(header)
    typer.echo("-" * len(header))
    for produce in taxonomy.produce:
        t, d, m = tally.truth[produce], tally.detected[produce], tally.matched[produce]
        recall = f"{m / t:.3f}" if t else "-"
        precision = f"{m / d:.3f}" if d else "-"
        typer.echo(
            f"{produce:<8} {t:>6} {d:>6} {recall:>7} {precision:>9} {tally.truth_spoiled[produce]:>8} "
            f"{tally.flagged[produce]:>8} {tally.flagged_correct[produce]:>8}"
        )
