"""One bench run: load the model and frames once, measure (a)-(c) per batch size, then (d) the service."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path

from edge.tools.bench.attack_bench import run_attacks
from edge.tools.bench.detector_bench import decode, measure_batch, open_peer
from edge.tools.bench.frames import load_frames
from edge.tools.bench.grader_bench import grader_beside, measure_grader
from edge.tools.bench.options import BenchOptions, ServedModel, ServiceRun
from edge.tools.bench.report import BatchResult, BenchReport
from edge.tools.bench.service_bench import run_service
from edge.tools.bench.system import machine_name
from vision.detector import Detector
from vision.detector_options import GraphEdits
from vision.errors import InputError
from vision.grader import Grader
from vision.jpeg import dct_scale
from vision.model_card import ModelCardDraft
from vision.registry import CARD_NAME, DEFAULT_INT8_DIR, DEFAULT_MODEL_DIR, ONNX_NAME
from vision.taxonomy import Taxonomy
from vision.throughput.pipelined import default_decode_threads


def resolve_model(model: Path | None) -> tuple[Path, Taxonomy]:
    """The ONNX file to bench (default: the shipped model) and its taxonomy (its card's, else the project's)."""
    path = model if model is not None else DEFAULT_MODEL_DIR / ONNX_NAME
    if not path.is_file():
        if model is None:
            raise InputError(f"the shipped model {path} is not in this installation; pass --model FILE.onnx")
        raise InputError(f"model file not found: {path}")
    card = card_path(path)
    if card is not None:
        return path, ModelCardDraft.load(card).taxonomy_obj()
    return path, Taxonomy.load()


def card_path(model: Path) -> Path | None:
    """The card beside ``model``: a registry version's or `qc quantize`'s ``card.json``, or the draft `qc export`
    writes per file (``model_fp16.onnx`` → ``model_fp16.card.json``); None when there is none."""
    for card in (model.with_name(CARD_NAME) if model.name == ONNX_NAME else None, model.with_suffix(".card.json")):
        if card is not None and card.is_file():
            return card
    return None


def card_summary(model: Path) -> dict[str, object] | None:
    """Version, dtype and mAP50 from the card beside ``model`` (a registry version folder or `qc quantize`'s
    output), so a table comparing an int8 deployment with the fp32 peer shows what each one detects as well."""
    card = card_path(model)
    if card is None:
        return None
    try:
        raw = json.loads(card.read_text())
    except (OSError, ValueError):
        return None
    metrics = raw.get("metrics") if isinstance(raw.get("metrics"), dict) else {}
    return {"version": raw.get("version"), "parent_version": raw.get("parent_version"), "dtype": raw.get("dtype"),
            "map50": metrics.get("map50"), "eval_data": metrics.get("data")}


def run_bench(
    options: BenchOptions,
    log: Callable[[str], None] = lambda m: None,
    partial: Callable[[BenchReport], None] = lambda report: None,
) -> BenchReport:
    """Measure everything ``options`` asks for; progress goes to ``log``, and the report so far to ``partial``
    after each batch size (a run cut short by a time limit still leaves its measured part)."""
    models = options.models
    if models.int8:
        shipped_int8 = DEFAULT_INT8_DIR / ONNX_NAME
        if not shipped_int8.is_file():
            raise InputError(f"the shipped int8 model {shipped_int8} is not in this installation; make one with "
                             "`qc quantize` and pass it with --model and --peer-model")
        models = models.model_copy(update={"model": shipped_int8, "peer_model": DEFAULT_MODEL_DIR / ONNX_NAME})
    model, taxonomy = resolve_model(models.model)
    peer_model = model
    if models.peer_model is not None:
        peer_model, peer_taxonomy = resolve_model(models.peer_model)
        if list(peer_taxonomy.class_names) != list(taxonomy.class_names):
            raise InputError(f"--peer-model {peer_model} has other classes than --model {model}; compare a model "
                             "with its own fp32/int8 variants only")
    uint8_input = models.uint8_input
    if uint8_input is None:
        uint8_input = (card_summary(model) or {}).get("dtype") == "int8"
    runtime, decoding, runs, service = options.runtime, options.decoding, options.runs, options.service
    edits = GraphEdits(uint8_input=uint8_input, topk=models.topk)  # ours and the service's
    detector = Detector(model, taxonomy, edits=edits, runtime=runtime)
    width, height = options.frames.size
    log(f"frames: {options.frames.count} at {width}x{height} ...")
    frames = load_frames(options.frames.count, width, height, options.frames.seed, options.frames.source)
    report = BenchReport(
        machine=machine_name(), model=str(model), provider=detector.provider, imgsz=detector.imgsz,
        frames=options.frames.count, frame_size=(width, height), frame_source=frames.source,
        jpeg_bytes_mean=frames.mean_bytes, rounds=runs.rounds, cpu_mem_arena=runtime.cpu_mem_arena,
        spinning=runtime.intra_op_spinning, cpu_replicas=detector.cpu_replicas, peer_model=str(peer_model),
        model_card=card_summary(model), peer_model_card=card_summary(peer_model),
        uint8_input=detector.uint8_input, topk=models.topk, io_binding=detector.io_binding,
        decode_scale=dct_scale((height, width), detector.imgsz) if decoding.scaled and not decoding.on_device
        else 1,
        decode_threads=decoding.threads or default_decode_threads(detector.provider),
        decode_processes=decoding.processes, device_decode=decoding.on_device,
    )
    input_shape = detector.input_shape(decode(frames.jpegs[0]).shape)
    if not options.service_only:
        peer, why = (open_peer(peer_model, max(detector.imgsz), detector.decoding.conf_threshold,
                               detector.decoding.iou_threshold)
                     if models.peer else (None, "skipped (--no-peer)"))
        for batch in runs.batches:
            log(f"batch {batch}: limit, ours, ours without overlap, peer; {runs.rounds} round(s) ...")
            measures = measure_batch(detector, frames.jpegs, batch, runs.rounds, peer, why, decoding=decoding)
            report.batches.append(BatchResult(batch, input_shape, measures))
            partial(report)
    grader = grader_beside(model, card_path(model), models.grader)
    if grader is not None and not options.service_only:
        log(f"grader: {grader[0]}, one item ({runs.rounds} round(s)) ...")
        report.grader = measure_grader(
            Grader(grader[0], grader[1], taxonomy=taxonomy, runtime=runtime),
            [decode(j) for j in frames.jpegs[:8]], runs.rounds,
        )
        partial(report)
    detector.close()
    del detector  # the service runs its own session in its own process
    run = ServiceRun(served=ServedModel(onnx=model, taxonomy=taxonomy, input_size=report.imgsz, edits=edits,
                                        grader=grader),
                     load=service, runtime=runtime, max_batch=runs.batches[0])
    if service.attack:
        with tempfile.TemporaryDirectory(prefix="qc-bench-") as tmp:
            report.attack = run_attacks(Path(tmp), run, frames.jpegs, log)
    elif service.streams > 0:
        with tempfile.TemporaryDirectory(prefix="qc-bench-") as tmp:
            result = run_service(Path(tmp), run, frames.jpegs, log)
        if service.soak_s is None:
            report.service = result
        else:
            report.soak = result
    return report
