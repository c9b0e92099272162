"""The bench's one result: a JSON object (``--json``) and the table a person reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from edge.tools.bench.attack_report import AttackResult
from edge.tools.bench.detector_bench import Measure
from edge.tools.bench.grader_bench import GraderCost
from edge.tools.bench.service_bench import ServiceResult
from edge.tools.bench.stats import paired_ratios, percentile

TARGET_VS_LIMIT = 0.9
TARGET_VS_PEER = 1.5

_LABELS = {
    "limit": "(a) ORT alone, our session(s)",
    "limit_one_session": "(a) ORT alone, one session",
    "limit_parallel": "(a) ORT alone, batches at once",
    "limit_default": "(a) ORT alone, ORT defaults",
    "detector": "(b) ours: JPEG -> Detections",
    "serial": "    ours, no overlap",
    "peer": "(c) peer: ultralytics predict",
}


@dataclass
class BatchResult:
    """The detector-side measures at one batch size."""

    batch: int
    input_shape: tuple[int, int]
    measures: dict[str, Measure]

    @property
    def limit_fps(self) -> float | None:
        """(a): the faster of ONNX Runtime alone with our session options and with its defaults."""
        rates = [m.fps for name, m in self.measures.items() if name.startswith("limit") and m.fps is not None]
        return max(rates) if rates else None

    def _rounds(self, others: list[str]) -> list[float]:
        seconds = [self.measures[name].seconds for name in others if self.measures[name].seconds]
        return paired_ratios(seconds, self.measures["detector"].seconds)

    @property
    def ratio_vs_limit_rounds(self) -> list[float]:
        """(b) / (a) in each round: ours against the fastest limit path measured in the same round."""
        return self._rounds([name for name in self.measures if name.startswith("limit")])

    @property
    def ratio_vs_peer_rounds(self) -> list[float]:
        """(b) / (c) in each round."""
        return self._rounds(["peer"])

    @property
    def ratio_vs_limit(self) -> float | None:
        """(b) / (a): the median of the per-round ratios (each round's paths ran back to back, so the ratio of a
        round is not moved by the machine getting slower or faster between rounds, as a ratio of medians is)."""
        return percentile(self.ratio_vs_limit_rounds, 50)

    @property
    def ratio_vs_peer(self) -> float | None:
        """(b) / (c): the median of the per-round ratios."""
        return percentile(self.ratio_vs_peer_rounds, 50)

    def to_json(self) -> dict[str, Any]:
        """As a JSON object."""
        return {"batch": self.batch, "input_shape": list(self.input_shape), "limit_fps": self.limit_fps,
                "ratio_vs_limit": self.ratio_vs_limit, "ratio_vs_peer": self.ratio_vs_peer,
                "ratio_vs_limit_rounds": self.ratio_vs_limit_rounds, "ratio_vs_peer_rounds": self.ratio_vs_peer_rounds,
                **{name: m.to_json() for name, m in self.measures.items()}}


@dataclass
class BenchReport:
    """Everything one `qc bench` run measured."""

    machine: str
    model: str
    provider: str
    imgsz: tuple[int, int]
    frames: int
    frame_size: tuple[int, int]  # (width, height)
    frame_source: str
    jpeg_bytes_mean: float
    rounds: int
    batches: list[BatchResult] = field(default_factory=list)
    service: ServiceResult | None = None
    soak: ServiceResult | None = None
    cpu_mem_arena: bool = True
    spinning: bool = False
    cpu_replicas: int = 1
    peer_model: str | None = None
    model_card: dict[str, Any] | None = None  # version, dtype, map50 of each model's card, when it has one
    peer_model_card: dict[str, Any] | None = None
    uint8_input: bool = False  # ours on the graph that takes uint8 pixels
    topk: int | None = None  # ours on the graph whose output keeps K anchors
    io_binding: bool = False
    decode_scale: int = 1  # the DCT scale ours decodes these frames' JPEGs at (1: full decode; vision.jpeg)
    decode_threads: int = 1  # threads decoding each of our batches (PipelinedDetector)
    decode_processes: int = 0  # worker processes decoding them instead (vision.throughput.decode_processes)
    device_decode: bool = False  # decoded on the model's device instead (vision.throughput.device_decode)
    grader: GraderCost | None = None  # the version's grader, per item (None: no grader)
    attack: AttackResult | None = None  # `qc bench --attack`: one camera without and during the attacks

    def to_json(self) -> dict[str, Any]:
        """One object; the headline keys are those of the first batch size."""
        head = self.batches[0] if self.batches else None

        def fps(name: str) -> float | None:
            return head.measures[name].fps if head else None

        return {
            "machine": self.machine, "model": self.model, "provider": self.provider, "imgsz": list(self.imgsz),
            "frames": self.frames, "frame_size": list(self.frame_size), "frame_source": self.frame_source,
            "jpeg_bytes_mean": self.jpeg_bytes_mean, "rounds": self.rounds, "cpu_mem_arena": self.cpu_mem_arena,
            "intra_op_spinning": self.spinning, "cpu_replicas": self.cpu_replicas,
            "uint8_input": self.uint8_input, "topk": self.topk, "io_binding": self.io_binding,
            "decode_scale": self.decode_scale, "decode_threads": self.decode_threads,
            "decode_processes": self.decode_processes, "device_decode": self.device_decode,
            "peer_model": self.peer_model, "model_card": self.model_card,
            "peer_model_card": self.peer_model_card,
            "batch": head.batch if head else None, "input_shape": list(head.input_shape) if head else None,
            "limit_fps": head.limit_fps if head else None, "detector_fps": fps("detector"),
            "detector_serial_fps": fps("serial"),
            "peer_fps": fps("peer"), "peer_unavailable": head.measures["peer"].unavailable if head else None,
            "ratio_vs_limit": head.ratio_vs_limit if head else None,
            "ratio_vs_peer": head.ratio_vs_peer if head else None,
            "targets": {"ratio_vs_limit": TARGET_VS_LIMIT, "ratio_vs_peer": TARGET_VS_PEER},
            "by_batch": [b.to_json() for b in self.batches],
            "grader": self.grader.to_json() if self.grader else None,
            "service": self.service.to_json() if self.service else None,
            "soak": self.soak.to_json() if self.soak else None,
            "attack": self.attack.to_json() if self.attack else None,
        }

    def table(self) -> str:
        """The human-readable report."""
        w, h = self.frame_size
        lines = [
            f"qc bench on {self.machine}",
            f"model {self.model} on {self.provider}"
            + (f" ({self.cpu_replicas} sessions splitting each batch)" if self.cpu_replicas > 1 else "")
            + (", uint8 input" if self.uint8_input else "")
            + (f", top-{self.topk} output" if self.topk is not None else "")
            + (", IO binding" if self.io_binding else "")
            + _decoding(self.decode_scale, self.device_decode, self.decode_processes, self.decode_threads)
            + f", fit {self.imgsz[0]}x{self.imgsz[1]}; {self.frames} frames "
            f"{w}x{h} JPEG ({self.jpeg_bytes_mean / 1024:.0f} KiB, {self.frame_source})"
            + (f"; median of {self.rounds} round(s)" if self.batches else ""),
        ]
        if self.peer_model is not None and self.peer_model != self.model:
            lines.append(f"the peer runs {self.peer_model}; mAP50 from the cards: ours {_card_map(self.model_card)}, "
                         f"peer's {_card_map(self.peer_model_card)}")
        if self.batches:
            head = f"{'batch':>5}  {'input':>9}  {'path':<31} {'frames/s':>9} {'ms/frame':>9} {'dets/frame':>10}"
            lines += ["", head, "-" * len(head)]
            for b in self.batches:
                for name, m in b.measures.items():
                    fps = m.fps
                    shown = f"{fps:9.1f} {1000 / fps:9.2f}" if fps else f"{'-':>9} {'-':>9}"
                    dets = f"{m.detections_per_frame:10.2f}" if m.detections_per_frame is not None else f"{'-':>10}"
                    note = f"  ({m.unavailable})" if m.unavailable else ""
                    lines.append(f"{b.batch:>5}  {b.input_shape[0]:>4}x{b.input_shape[1]:<4}  {_LABELS[name]:<31} "
                                 f"{shown} {dets}{note}")
                lines.append(f"{'':>5}  ratio_vs_limit {_fmt(b.ratio_vs_limit)} {_spread(b.ratio_vs_limit_rounds)} "
                             f"(target >= {TARGET_VS_LIMIT}), ratio_vs_peer {_fmt(b.ratio_vs_peer)} "
                             f"{_spread(b.ratio_vs_peer_rounds)} (target >= {TARGET_VS_PEER}); median of the rounds' "
                             "ratios [min-max]")
        if self.grader is not None:
            lines += ["", self.grader.line()]
        for title, run in (("service", self.service), ("soak", self.soak)):
            if run is None:
                continue
            j = run.to_json()
            rss = j["rss"]
            lines += [
                "",
                f"{title}: {run.streams} stream(s) x {run.fps_per_stream:g} fps for {run.seconds:g} s over WebSocket "
                f"(max_batch {run.batch}, queue_limit {run.queue_limit}; cameras "
                + ("resend on retry, as qc capture does)" if run.resend else "never resend: retry is a drop)"),
                f"  processed {j['throughput_fps']:.1f} frames/s of {j['offered_fps']:.1f} offered; "
                f"latency capture->verdict p50 {_fmt(j['latency_p50_ms'], 0)} ms, p99 {_fmt(j['latency_p99_ms'], 0)} "
                f"ms; drops {j['drops']} of {j['frames_sent']} {j['by_status']}"
                + (f"; {j['retries']} retry acks" if run.resend else "")
                + f"; max queue depth {_fmt(j['max_queue_depth'], 0)}",
                f"  service RSS peak {_fmt(j['peak_rss_mib'], 0)} MiB; after warm-up {_fmt(rss['after_warmup_mib'], 0)}"
                f" MiB -> end {_fmt(rss['end_mib'], 0)} MiB ({_fmt(rss['growth_pct'], 1)} %)",
            ]
        if self.attack is not None:
            lines += ["", *self.attack.lines()]
        return "\n".join(lines)


def _spread(values: list[float]) -> str:
    return f"[{min(values):.2f}-{max(values):.2f}]" if values else ""


def _card_map(card: dict[str, Any] | None) -> str:
    if not card or card.get("map50") is None:
        return "unknown (no card)"
    version = card.get("version") or (f"from {card['parent_version']}" if card.get("parent_version") else "?")
    return f"{card['map50']:.3f} ({version}, {card.get('dtype') or '?'})"


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _decoding(scale: int, on_device: bool, processes: int, threads: int) -> str:
    """How ours decodes the JPEGs, for the table's header line ("" for a full decode on one thread)."""
    size = f" at 1/{scale} size" if scale > 1 else ""
    where = (" on the model's device" if on_device else f" in {processes} processes" if processes
             else f" on {threads} threads" if threads > 1 else "")
    return f", JPEGs decoded{size}{where}" if size or where else ""
