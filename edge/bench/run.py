"""One bench run: load the model and frames once, measure (a)-(c) per batch size, then (d) the service."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from edge.bench.detector_bench import decode, measure_batch, open_peer
from edge.bench.frames import load_frames
from edge.bench.grader_bench import grader_beside, measure_grader
from edge.bench.report import BatchResult, BenchReport
from edge.bench.service_bench import run_service
from edge.bench.system import machine_name
from vision.detector import Detector
from vision.errors import InputError
from vision.grader import Grader
from vision.model_card import ModelCardDraft
from vision.jpeg import dct_scale
from vision.pipelined import default_decode_threads
from vision.registry import CARD_NAME, DEFAULT_INT8_DIR, DEFAULT_MODEL_DIR, ONNX_NAME
from vision.taxonomy import Taxonomy


@dataclass(frozen=True)
class BenchOptions:
    """What to measure and how long; see `qc bench --help`."""

    model: Path | None = None
    frames: int = 128
    batches: tuple[int, ...] = (8,)
    streams: int = 4
    fps: float = 15.0
    seconds: float = 20.0
    rounds: int = 3
    frame_size: tuple[int, int] = (640, 360)
    source: Path | None = None
    seed: int = 7
    queue_limit: int = 64
    peer: bool = True
    cpu_mem_arena: bool = True
    spinning: bool = False
    soak_s: float | None = None
    cpu_replicas: int | None = None  # None: the detector's default (one session per core, at most 4)
    peer_model: Path | None = None  # None: the peer runs the same model as ours
    int8: bool = False  # ours on the shipped int8 deployment, the peer on the shipped fp32 model
    # Ours (and the service) on the graph that takes uint8 pixels; None: for an int8 model, as the service does.
    uint8_input: bool | None = None
    topk: int | None = None  # ours (and the service) on the graph whose output keeps K anchors
    scaled_decode: bool = True  # ours decodes each JPEG at the DCT scale the model needs (vision.jpeg)
    decode_threads: int | None = None  # None: PipelinedDetector's default (1 on the CPU)
    providers: tuple[str, ...] | None = None  # None: the detector's default order (TensorRT, CUDA, CPU)
    decode_processes: int = 0  # ours decodes in this many worker processes (vision.decode_processes); 0: threads
    device_decode: bool = False  # ours decodes and letterboxes on the model's device (vision.device_decode)
    resend: bool = True  # the service's cameras resend frames answered retry, as qc capture does
    grader: Path | None = None  # None: the grader the model's card names beside it, if any

    def check(self) -> None:
        """Raise InputError naming the first bad option."""
        if self.frames < 1:
            raise InputError(f"--frames must be >= 1, got {self.frames}")
        if not self.batches or any(b < 1 or b > 256 for b in self.batches):
            raise InputError(f"--batch values must be within 1..256, got {list(self.batches)}")
        if self.streams < 0 or self.streams > 64:
            raise InputError(f"--streams must be within 0..64, got {self.streams}")
        if self.fps <= 0 or self.seconds <= 0 or self.rounds < 1:
            raise InputError(f"--fps and --seconds must be > 0 and --rounds >= 1 (got {self.fps}, {self.seconds}, "
                             f"{self.rounds})")
        if self.cpu_replicas is not None and not 1 <= self.cpu_replicas <= 64:
            raise InputError(f"--cpu-replicas must be within 1..64, got {self.cpu_replicas}")
        if self.decode_threads is not None and not 1 <= self.decode_threads <= 64:
            raise InputError(f"--decode-threads must be within 1..64, got {self.decode_threads}")
        if not 0 <= self.decode_processes <= 64:
            raise InputError(f"--decode-processes must be within 0..64, got {self.decode_processes}")
        if self.device_decode and self.decode_processes:
            raise InputError("--device-decode and --decode-processes exclude each other: pick where ours decodes")
        if self.topk is not None and self.topk < 1:
            raise InputError(f"--topk must be >= 1, got {self.topk}")
        if self.int8 and (self.model is not None or self.peer_model is not None):
            raise InputError("--int8 picks both models (ours: the shipped int8, the peer: the shipped fp32); "
                             "use --model and --peer-model instead to choose them")
        if self.soak_s is not None and (self.soak_s <= 0 or self.streams < 1):
            raise InputError(f"--soak needs a positive duration and --streams >= 1 (got {self.soak_s}, "
                             f"{self.streams})")


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
    options.check()
    if options.int8:
        shipped_int8 = DEFAULT_INT8_DIR / ONNX_NAME
        if not shipped_int8.is_file():
            raise InputError(f"the shipped int8 model {shipped_int8} is not in this installation; make one with "
                             "`qc quantize` and pass it with --model and --peer-model")
        options = replace(options, model=shipped_int8, peer_model=DEFAULT_MODEL_DIR / ONNX_NAME)
    model, taxonomy = resolve_model(options.model)
    peer_model = model
    if options.peer_model is not None:
        peer_model, peer_taxonomy = resolve_model(options.peer_model)
        if list(peer_taxonomy.class_names) != list(taxonomy.class_names):
            raise InputError(f"--peer-model {peer_model} has other classes than --model {model}; compare a model "
                             "with its own fp32/int8 variants only")
    if options.uint8_input is None:
        options = replace(options, uint8_input=(card_summary(model) or {}).get("dtype") == "int8")
    detector = Detector(model, taxonomy, cpu_mem_arena=options.cpu_mem_arena, intra_op_spinning=options.spinning,
                        cpu_replicas=options.cpu_replicas, uint8_input=bool(options.uint8_input), topk=options.topk,
                        providers=options.providers)
    width, height = options.frame_size
    log(f"frames: {options.frames} at {width}x{height} ...")
    frames = load_frames(options.frames, width, height, options.seed, options.source)
    report = BenchReport(
        machine=machine_name(), model=str(model), provider=detector.provider, imgsz=detector.imgsz,
        frames=options.frames, frame_size=(width, height), frame_source=frames.source,
        jpeg_bytes_mean=frames.mean_bytes, rounds=options.rounds, cpu_mem_arena=options.cpu_mem_arena,
        spinning=options.spinning, cpu_replicas=detector.cpu_replicas, peer_model=str(peer_model),
        model_card=card_summary(model), peer_model_card=card_summary(peer_model),
        uint8_input=detector.uint8_input, topk=options.topk, io_binding=detector.io_binding,
        decode_scale=dct_scale((height, width), detector.imgsz) if options.scaled_decode and not options.device_decode
        else 1,
        decode_threads=options.decode_threads or default_decode_threads(detector.provider),
        decode_processes=options.decode_processes, device_decode=options.device_decode,
    )
    input_shape = detector.input_shape(decode(frames.jpegs[0]).shape)
    if options.soak_s is None:
        peer, why = (open_peer(peer_model, max(detector.imgsz), detector.conf_threshold, detector.iou_threshold)
                     if options.peer else (None, "skipped (--no-peer)"))
        for batch in options.batches:
            log(f"batch {batch}: limit, ours, ours without overlap, peer; {options.rounds} round(s) ...")
            measures = measure_batch(detector, frames.jpegs, batch, options.rounds, peer, why,
                                     scaled_decode=options.scaled_decode, decode_threads=options.decode_threads,
                                     decode_processes=options.decode_processes,
                                     device_decode=options.device_decode)
            report.batches.append(BatchResult(batch, input_shape, measures))
            partial(report)
    grader = grader_beside(model, card_path(model), options.grader)
    if grader is not None and options.soak_s is None:
        log(f"grader: {grader[0]}, one item ({options.rounds} round(s)) ...")
        report.grader = measure_grader(
            Grader(grader[0], grader[1], taxonomy=taxonomy, providers=options.providers),
            [decode(j) for j in frames.jpegs[:8]], options.rounds,
        )
        partial(report)
    detector.close()
    del detector  # the service runs its own session in its own process
    streams_s = options.soak_s if options.soak_s is not None else options.seconds
    if options.streams > 0:
        with tempfile.TemporaryDirectory(prefix="qc-bench-") as tmp:
            result = run_service(Path(tmp), model, taxonomy, report.imgsz, frames.jpegs, options.streams,
                                 options.fps, streams_s, options.batches[0], options.queue_limit, log,
                                 cpu_replicas=options.cpu_replicas, uint8_input=bool(options.uint8_input),
                                 topk=options.topk, providers=options.providers, resend=options.resend,
                                 grader=grader)
        if options.soak_s is None:
            report.service = result
        else:
            report.soak = result
    return report
