"""(d) The whole service under N concurrent camera streams: `qc serve` in a subprocess, real WebSocket clients.

Each camera captures its frames at a fixed rate. By default it is a `qc capture` daemon's spool and sender
(`edge.tools.bench.daemon_cameras`): a frame answered ``retry`` is resent, and its verdict is its final ack. With
``resend=False`` a camera sends every frame once whatever the acks, and anything but ``ok`` is a drop (``retry``
included). A frame's latency is from its capture stamp to its verdict.
The service's resident memory is sampled from /proc throughout; a soak is the same run, longer.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import onnx
import yaml
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from edge.protocol import FrameHeader, encode_frame, parse_ack
from edge.tools.bench.daemon_cameras import daemon_camera
from edge.tools.bench.options import ServedModel, ServiceRun
from edge.tools.bench.stats import percentile
from edge.tools.bench.system import peak_rss_mib, rss_mib
from vision.errors import QCError
from vision.model_card import Dtype, ModelCardDraft
from vision.registry import DEFAULT_MODEL_DIR, ONNX_NAME, Registry

READY_TIMEOUT_S = 180.0
WARMUP_S = 1.0  # acks of frames captured in the first second are not in the latency figures
TOKEN = "bench-token-{camera}"


@dataclass
class ServiceResult:
    """What the service did under the streams."""

    streams: int
    fps_per_stream: float
    seconds: float
    batch: int
    queue_limit: int
    sent: int = 0
    ok: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    unanswered: int = 0
    latencies_s: list[float] = field(default_factory=list)
    max_queue_depth: float | None = None
    resend: bool = True  # daemon-like cameras (resend on retry) or fixed-rate ones that never resend
    retries: int = 0  # acks that asked a daemon-like camera to resend
    span_s: float | None = None  # daemon-like cameras: first capture to last verdict (resends finish after the run)
    rss_samples: list[tuple[float, float]] = field(default_factory=list)  # (seconds since start, MiB)
    peak_rss_mib: float | None = None

    @property
    def drops(self) -> int:
        """Frames sent and not processed: answered anything but ok, or never answered."""
        return self.sent - self.ok

    @property
    def throughput_fps(self) -> float:
        """Frames processed per second of streaming (daemon-like cameras: until the last verdict, if later)."""
        span = max(self.seconds, self.span_s or 0.0)
        return self.ok / span if span else 0.0

    def rss_growth(self, warmup_share: float = 0.2) -> dict[str, float | None]:
        """RSS after warm-up (the first sample past ``warmup_share`` of the run), at the end, and the growth in %."""
        if not self.rss_samples:
            return {"after_warmup_mib": None, "end_mib": None, "growth_pct": None}
        cut = self.rss_samples[-1][0] * warmup_share
        start = next(m for t, m in self.rss_samples if t >= cut)
        end = self.rss_samples[-1][1]
        return {"after_warmup_mib": start, "end_mib": end, "growth_pct": 100 * (end - start) / start}

    def to_json(self) -> dict[str, Any]:
        """The figures as a JSON object (no raw samples but the RSS curve, thinned)."""
        ms = [1000 * v for v in self.latencies_s]
        step = max(1, len(self.rss_samples) // 60)
        return {
            "streams": self.streams, "fps_per_stream": self.fps_per_stream, "offered_fps":
            self.streams * self.fps_per_stream, "seconds": self.seconds, "max_batch": self.batch,
            "queue_limit": self.queue_limit, "frames_sent": self.sent, "frames_ok": self.ok,
            "throughput_fps": self.throughput_fps, "latency_p50_ms": percentile(ms, 50),
            "latency_p99_ms": percentile(ms, 99), "latency_max_ms": max(ms) if ms else None, "drops": self.drops,
            "by_status": self.by_status, "unanswered": self.unanswered, "resend": self.resend,
            "retries": self.retries, "span_s": self.span_s, "max_queue_depth": self.max_queue_depth,
            "peak_rss_mib": self.peak_rss_mib, "rss": self.rss_growth(),
            "rss_curve_mib": [[round(t, 1), round(m, 1)] for t, m in self.rss_samples[::step]],
        }


def free_port() -> int:
    """A TCP port free right now on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def seed_registry(root: Path, served: ServedModel) -> None:
    """A registry at ``root`` whose production model is ``served`` (the shipped one keeps its own card), with its
    grader (its file and card section) when it has one, so the service grades items as a version with one does."""
    model, grader = served.onnx, served.grader
    shipped = DEFAULT_MODEL_DIR / ONNX_NAME
    own_grader = grader is None or grader[0].resolve() == (shipped.parent / grader[1].file).resolve()
    if shipped.is_file() and model.resolve() == shipped.resolve() and own_grader:
        Registry.open(root)
        return
    draft = ModelCardDraft(classes=list(served.taxonomy.class_names), taxonomy=served.taxonomy.to_dict(),
                           input_size=served.input_size, dtype=graph_dtype(model),
                           training={"note": "registered by qc bench"}, grader=None if grader is None else grader[1])
    Registry.open(root, seed_from=None).register(model, draft, stage="production",
                                                 grader=None if grader is None else grader[0])


def graph_dtype(model: Path) -> Dtype:
    """fp16 when the graph takes float16 input (`qc export`'s fp16 variant), else fp32: the registry checks a card's
    dtype against the graph, and an int8 QDQ graph takes float32 like fp32."""
    graph = onnx.load(str(model), load_external_data=False).graph
    return "fp16" if graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT16 else "fp32"


def write_config(workdir: Path, port: int, cameras: list[str], run: ServiceRun,
                 review: dict[str, Any] | None = None) -> Path:
    """A `qc serve` YAML config for ``run``: its cameras, a SQLite store and the registry under ``workdir``, and
    the ``review`` section when given (the attack bench's review user)."""
    edits, runtime = run.served.edits, run.runtime
    config = {
        "service": {"host": "127.0.0.1", "port": port, "log_level": "warning", "shutdown_grace_s": 5},
        "data_dir": str(workdir),
        "cameras": [{"id": c, "token": TOKEN.format(camera=c), "line": {"x": 0.5}, "direction": "+x"}
                    for c in cameras],
        "batcher": {"max_batch": run.max_batch, "queue_limit": run.load.queue_limit},
        "model": {"registry_root": str(workdir / "registry"), "cpu_replicas": runtime.cpu_replicas,
                  "uint8_input": edits.uint8_input, "topk": edits.topk,
                  "providers": list(runtime.providers) if runtime.providers else None},
    }
    if review is not None:
        config["review"] = review
    path = workdir / "serve.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


class ServiceProcess:
    """`qc serve --config FILE` as a child process, waited for until /readyz answers 200."""

    def __init__(self, config: Path, port: int, log: Path) -> None:
        self.config, self.port, self.log = config, port, log
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The service's base URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        """The service's process id (once started)."""
        if self.proc is None:
            raise QCError("qc serve is not started")
        return self.proc.pid

    def __enter__(self) -> ServiceProcess:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "vision.cli", "serve", "--config", str(self.config)],
                                         stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise QCError(f"qc serve exited with {self.proc.returncode} during start-up:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.__exit__()
        raise QCError(f"qc serve was not ready after {READY_TIMEOUT_S:.0f} s:\n{self.log_tail()}")

    def __exit__(self, *exc: object) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the service's output."""
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


async def _camera(url: str, camera: str, jpegs: list[bytes], offset: int, fps: float, seconds: float,
                  t0: float, result: ServiceResult, statuses: Counter[str]) -> None:
    """One camera: send a frame every 1/fps s from ``t0``; read acks as they come; stop after ``seconds``."""
    total = int(seconds * fps)
    captured: dict[int, float] = {}
    async with connect(f"{url.replace('http', 'ws', 1)}/ws/{camera}", max_size=2**20,
                       additional_headers={"Authorization": f"Bearer {TOKEN.format(camera=camera)}"}) as ws:

        async def send() -> None:
            for seq in range(total):
                delay = t0 + seq / fps - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                now = time.time()
                captured[seq] = now
                header = FrameHeader(camera_id=camera, seq=seq, captured_at=now)
                result.sent += 1  # a frame the connection could not take counts as sent and dropped
                try:
                    await ws.send(encode_frame(header, jpegs[(offset + seq) % len(jpegs)]))
                except ConnectionClosed:
                    result.sent += total - seq - 1
                    return

        async def receive() -> None:
            answered = 0
            while answered < total:
                try:
                    message = await ws.recv()
                except ConnectionClosed:
                    return  # what was not answered counts as dropped
                ack = parse_ack(message)
                answered += 1
                statuses[ack.status] += 1
                if ack.status == "ok" and ack.seq is not None:
                    result.ok += 1
                    if ack.seq / fps >= WARMUP_S:
                        result.latencies_s.append(time.time() - captured[ack.seq])

        sender = asyncio.create_task(send())
        try:
            await asyncio.wait_for(receive(), timeout=seconds + 60)
        except TimeoutError:
            pass  # frames never answered count as drops
        await sender


async def _watch(url: str, pid: int, stop: asyncio.Event, t0: float, result: ServiceResult) -> None:
    """Sample the service's RSS and queue depth about once a second until ``stop``."""
    async with httpx.AsyncClient(timeout=5) as client:
        while not stop.is_set():
            mib = rss_mib(pid)
            if mib is not None:
                result.rss_samples.append((time.monotonic() - t0, mib))
            try:
                text = (await client.get(f"{url}/metrics")).text
                depth = next((float(line.split()[-1]) for line in text.splitlines()
                              if line.startswith("qc_queue_depth ")), None)
                if depth is not None:
                    result.max_queue_depth = max(result.max_queue_depth or 0.0, depth)
            except httpx.HTTPError:
                pass
            try:
                await asyncio.wait_for(stop.wait(), 1.0)
            except TimeoutError:
                pass


async def _stream_all(url: str, pid: int, jpegs: list[bytes], cameras: list[str], fps: float, seconds: float,
                      result: ServiceResult, spool_root: Path) -> None:
    statuses: Counter[str] = Counter()
    stop = asyncio.Event()
    t0 = time.monotonic() + 0.5  # every connection opens before the first frame
    watcher = asyncio.create_task(_watch(url, pid, stop, t0, result))
    spacing = max(1, len(jpegs) // max(len(cameras), 1))
    try:
        if result.resend:
            runs = await asyncio.gather(*(
                daemon_camera(url, cam, TOKEN.format(camera=cam), jpegs, i * spacing, fps, seconds, t0, spool_root,
                              drain_s=60.0)
                for i, cam in enumerate(cameras)))
            for sent, captured, finished, acks in runs:
                _tally_daemon(result, statuses, fps, sent, captured, finished, acks)
        else:
            await asyncio.gather(*(_camera(url, cam, jpegs, i * spacing, fps, seconds, t0, result, statuses)
                                   for i, cam in enumerate(cameras)))
    finally:
        stop.set()
        await watcher
    result.by_status = dict(statuses)
    result.unanswered = result.sent - sum(statuses.values())


def _tally_daemon(result: ServiceResult, statuses: Counter[str], fps: float, sent: int, captured: dict[int, float],
                  finished: dict[int, tuple[float, str]], acks: Counter[str]) -> None:
    """Add one daemon-like camera's final acks to ``result``: ok and duplicate (processed before, its ack lost) are
    processed frames; dropped and error are drops; a frame with no final ack is unanswered."""
    result.sent += sent
    result.retries += acks.get("retry", 0)
    if captured and finished:
        span = max(at for at, _ in finished.values()) - min(captured.values())
        result.span_s = max(result.span_s or 0.0, span)
    for seq, (at, outcome) in finished.items():
        status = outcome.split(":", 1)[0]
        statuses[status] += 1
        if status in ("ok", "duplicate"):
            result.ok += 1
            if seq / fps >= WARMUP_S:
                result.latencies_s.append(at - captured[seq])


def run_service(workdir: Path, run: ServiceRun, jpegs: list[bytes],
                log: Callable[[str], None] = lambda m: None) -> ServiceResult:
    """Start `qc serve` on ``run.served`` (with its grader, as one version) and drive ``run.load.streams`` cameras
    at ``run.load.fps`` for ``run.load.stream_seconds`` (a soak's length in a soak)."""
    load = run.load
    seconds = load.stream_seconds
    cameras = [f"bench{i}" for i in range(load.streams)]
    seed_registry(workdir / "registry", run.served)
    port = free_port()
    config = write_config(workdir, port, cameras, run)
    result = ServiceResult(streams=load.streams, fps_per_stream=load.fps, seconds=seconds, batch=run.max_batch,
                           queue_limit=load.queue_limit, resend=load.resend)
    log(f"service: starting qc serve on port {port} ({load.streams} camera(s), {load.fps:g} fps each, {seconds:g} s)")
    with ServiceProcess(config, port, workdir / "serve.log") as service:
        asyncio.run(_stream_all(service.url, service.pid, jpegs, cameras, load.fps, seconds, result,
                                workdir / "spools"))
        result.peak_rss_mib = peak_rss_mib(service.pid)
        if result.ok == 0:
            raise QCError(f"the service processed no frame (acks: {json.dumps(result.by_status)}); its log:\n"
                          f"{service.log_tail()}")
    return result
