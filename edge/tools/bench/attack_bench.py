"""`qc bench --attack`: `qc serve` under the two starvation attacks it was hardened against, with one camera measured
without an attack and during each.

The service starts as the service bench starts it (a temp config, registry and SQLite store), with a review user
(a real scrypt hash) and one more camera per multipart client, whose token that client holds. One camera streams
at a fixed rate over the WebSocket protocol and never resends, so each frame's first answer is what it kept;
`/healthz` is polled throughout. Phases, one after another on the same service: a short warm-up (not reported),
no attack, then each attack asked for, from a process of its own (`edge.tools.bench.attackers`) that runs from
`ATTACK_LEAD_S` before the camera's first frame until its acks are in.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from edge.protocol import FrameHeader, encode_frame, parse_ack
from edge.store.users import hash_password
from edge.tools.bench.attack_report import AttackPhase, AttackResult, CameraRun, HealthPolls
from edge.tools.bench.attackers import AttackAnswers
from edge.tools.bench.options import ServiceRun
from edge.tools.bench.service_bench import TOKEN, ServiceProcess, free_port, seed_registry, write_config
from vision.errors import InputError, QCError

ATTACK_KINDS = ("signin", "multipart")
ATTACK_CHOICES = {"signin": ("signin",), "multipart": ("multipart",), "both": ATTACK_KINDS}
ATTACK_LEAD_S = 1.0  # the attack runs this long before the camera's first frame
WARMUP_S = 2.0  # streamed first and not reported: the first batches warm the session up
DRAIN_S = 10.0  # after its last frame the camera waits this long for the acks still due
HEALTH_EVERY_S = 0.1
# Attackers send from machines of their own; here their client work shares the node's cores, so it runs at a lower
# priority: it takes what the service leaves idle, and the figures show what answering the attack costs the service.
ATTACKER_NICE = 10
CAMERA = "bench0"
ATTACK_CAMERA = "attacker{client}"  # valid camera tokens in the multipart clients' hands, a camera each
BENCH_USER = "bench-ops"


def attack_cameras(clients: int) -> list[str]:
    """The cameras the multipart clients post as, one each: each one's seqs rise, since a frame older than its
    camera's last one is refused for its order (409) rather than for its parts."""
    return [ATTACK_CAMERA.format(client=i) for i in range(clients)]


def attack_kinds(value: str) -> tuple[str, ...]:
    """The attacks ``--attack VALUE`` asks for (``signin``, ``multipart`` or ``both``); `InputError` otherwise."""
    kinds = ATTACK_CHOICES.get(value.strip().lower())
    if kinds is None:
        raise InputError(f"--attack must be one of {', '.join(ATTACK_CHOICES)}, got {value!r}")
    return kinds


async def _camera(url: str, jpegs: list[bytes], first_seq: int, fps: float, seconds: float) -> CameraRun:
    """`CAMERA` sends a frame every 1/fps s for ``seconds`` (seq from ``first_seq``) and notes each frame's first
    answer; a frame the connection could not take, or not answered within `DRAIN_S`, stays unanswered."""
    run = CameraRun(fps=fps, seconds=seconds, sent=int(seconds * fps))
    captured: dict[int, float] = {}
    async with connect(f"{url.replace('http', 'ws', 1)}/ws/{CAMERA}", max_size=2**20,
                       additional_headers={"Authorization": f"Bearer {TOKEN.format(camera=CAMERA)}"}) as ws:

        async def receive() -> None:
            while len(run.acks) < run.sent:
                ack = parse_ack(await ws.recv())
                if ack.seq is not None and ack.seq in captured and ack.seq not in run.acks:
                    run.acks[ack.seq] = (ack.status, time.time() - captured[ack.seq])

        receiver = asyncio.create_task(receive())
        t0 = time.monotonic()
        for i in range(run.sent):
            delay = t0 + i / fps - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            seq = first_seq + i
            captured[seq] = time.time()
            try:
                await ws.send(encode_frame(FrameHeader(camera_id=CAMERA, seq=seq, captured_at=captured[seq]),
                                           jpegs[i % len(jpegs)]))
            except ConnectionClosed:
                break
        with contextlib.suppress(TimeoutError, ConnectionClosed):
            await asyncio.wait_for(receiver, DRAIN_S)
    return run


async def _poll_health(url: str, stop: asyncio.Event, polls: HealthPolls) -> None:
    """GET /healthz every `HEALTH_EVERY_S` until ``stop``; each answer timed, failures counted by name."""
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        while not stop.is_set():
            started = time.monotonic()
            try:
                r = await http.get("/healthz")
                polls.latencies_s.append(time.monotonic() - started)
                polls.by_status[str(r.status_code)] += 1
            except httpx.HTTPError as exc:
                polls.by_status[type(exc).__name__] += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), HEALTH_EVERY_S)


async def _phase(url: str, jpegs: list[bytes], first_seq: int, fps: float,
                 seconds: float) -> tuple[CameraRun, HealthPolls]:
    """The camera for ``seconds`` with /healthz polled alongside."""
    stop, polls = asyncio.Event(), HealthPolls()
    poller = asyncio.create_task(_poll_health(url, stop, polls))
    try:
        camera = await _camera(url, jpegs, first_seq, fps, seconds)
    finally:
        stop.set()
        await poller
    return camera, polls


class Attack:
    """One attack (`edge.tools.bench.attackers`) in a process of its own, running from ``__enter__`` to `finish`."""

    def __init__(self, kind: str, url: str, clients: int, workdir: Path, jpeg: bytes) -> None:
        """Ready ``kind`` from ``clients`` clients against ``url``; the bomb's file part is ``jpeg``."""
        self.kind, self.url, self.clients, self.workdir, self.jpeg = kind, url, clients, workdir, jpeg
        self.log = workdir / f"attack-{kind}.log"
        self.proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> Attack:
        args = [sys.executable, "-m", "edge.tools.bench.attackers", self.kind, self.url, "--clients", str(self.clients),
                "--nice", str(ATTACKER_NICE)]
        if self.kind == "signin":
            args += ["--user", BENCH_USER]
        else:
            jpeg = self.workdir / "bomb-file.jpg"
            jpeg.write_bytes(self.jpeg)
            args += ["--jpeg", str(jpeg)]
            for camera in attack_cameras(self.clients):
                args += ["--camera", f"{camera}={TOKEN.format(camera=camera)}"]
        with self.log.open("w") as log:
            self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True)
        if self.proc.stdout is None or self.proc.stdout.readline().strip() != "started":
            self.__exit__()
            raise QCError(f"the {self.kind} attacker did not start:\n{self.log.read_text(errors='replace')[-2000:]}")
        return self

    def finish(self) -> AttackAnswers:
        """Stop the attack (each client ends the request it has in flight) and return how it was answered."""
        if self.proc is None or self.proc.stdin is None:
            raise QCError("the attack is not running")
        out, _ = self.proc.communicate(timeout=180)  # closes its stdin: the signal to stop
        lines = out.strip().splitlines()
        if self.proc.returncode != 0 or not lines:
            raise QCError(f"the {self.kind} attacker failed ({self.proc.returncode}):\n"
                          f"{self.log.read_text(errors='replace')[-2000:]}")
        return AttackAnswers.from_json(json.loads(lines[-1]))

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def run_attacks(workdir: Path, run: ServiceRun, jpegs: list[bytes],
                log: Callable[[str], None] = lambda m: None) -> AttackResult:
    """Start `qc serve` on ``run.served`` and measure one camera at ``run.load.fps`` for ``run.load.seconds``
    without an attack, then for as long under each of ``run.load.attack`` from ``run.load.attack_clients``
    clients."""
    load = run.load
    kinds, clients, fps, seconds = load.attack, load.attack_clients, load.fps, load.seconds
    seed_registry(workdir / "registry", run.served)
    port = free_port()
    # A real user with the production scrypt cost: each guess that reaches the KDF costs what it would on a node.
    review = {"users": [{"name": BENCH_USER, "role": "ops", "password_hash": hash_password(secrets.token_urlsafe(16))}]}
    config = write_config(workdir, port, [CAMERA, *attack_cameras(clients)], run, review=review)
    log(f"attack: starting qc serve on port {port}; camera {CAMERA} at {fps:g} fps, {seconds:g} s per phase")
    with ServiceProcess(config, port, workdir / "serve.log") as service:
        seq = 1
        asyncio.run(_phase(service.url, jpegs, seq, fps, WARMUP_S))
        seq += int(WARMUP_S * fps)
        log("attack: no attack ...")
        camera, health = asyncio.run(_phase(service.url, jpegs, seq, fps, seconds))
        seq += camera.sent
        if not camera.ok_ms:
            raise QCError(f"the service acked no frame ok without an attack ({camera.by_status}); its log:\n"
                          f"{service.log_tail()}")
        result = AttackResult(camera_id=CAMERA, fps=fps, seconds=seconds,
                              baseline=AttackPhase("baseline", camera, health))
        for kind in kinds:
            log(f"attack: {kind} flood from {clients} clients ...")
            with Attack(kind, service.url, clients, workdir, jpegs[0]) as attack:
                time.sleep(ATTACK_LEAD_S)  # the flood is at full rate before the first frame
                camera, health = asyncio.run(_phase(service.url, jpegs, seq, fps, seconds))
                answers = attack.finish()
            seq += camera.sent
            result.attacks.append(AttackPhase(kind, camera, health, answers))
    return result
