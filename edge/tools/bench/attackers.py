"""The two starvation attacks of `qc bench --attack`, run in a process of their own (as attackers are: their Python
work must not share the interpreter lock of the bench's camera, whose latency is what is measured).

``python -m edge.tools.bench.attackers signin URL --clients 16 --user NAME`` floods the sign-in page: each client loops
fetching the form (its cookie and CSRF token) and posting a wrong password. ``... multipart URL --clients N --camera
ID=TOKEN ... --jpeg FILE`` floods ``POST /frames`` with valid camera tokens and a multipart body of ~150,000 empty
parts plus one ``file`` part (7.8 MB); each client posts as a camera of its own (round robin over ``--camera``)
with rising seqs, so every bomb reaches the multipart check rather than its camera's order check. Both print
``started`` once every client runs, attack until their stdin closes, finish the request each client has in flight,
and print one JSON line: `AttackAnswers`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
BOMB_PARTS = 151_640  # what the probe that found the weakness sent: 7.8 MB of empty fields
_BOMB_FIELD = b'--b\r\nContent-Disposition: form-data; name="f"\r\n\r\n\r\n'
BOMB_CONTENT_TYPE = "multipart/form-data; boundary=b"


@dataclass
class AttackAnswers:
    """How the service answered one attack: counts per HTTP status (or per client-side error), 429 answers that
    carried Retry-After, the JSON error codes, and each answer's time (the request that is the attack, seconds)."""

    kind: str
    clients: int
    by_status: Counter[str] = field(default_factory=Counter)
    with_retry_after: int = 0
    codes: Counter[str] = field(default_factory=Counter)
    answer_s: list[float] = field(default_factory=list)
    body_bytes: int | None = None  # the multipart body's size

    @property
    def answers(self) -> int:
        """Requests answered (or failed on the client side)."""
        return sum(self.by_status.values())

    def to_json(self) -> dict[str, Any]:
        """As one JSON object (the raw answer times included: the bench takes its own percentiles)."""
        return {"kind": self.kind, "clients": self.clients, "by_status": dict(self.by_status),
                "with_retry_after": self.with_retry_after, "codes": dict(self.codes),
                "answer_s": [round(s, 5) for s in self.answer_s], "body_bytes": self.body_bytes}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> AttackAnswers:
        """The inverse of `to_json`."""
        return cls(kind=str(raw["kind"]), clients=int(raw["clients"]), by_status=Counter(raw["by_status"]),
                   with_retry_after=int(raw["with_retry_after"]), codes=Counter(raw["codes"]),
                   answer_s=[float(s) for s in raw["answer_s"]], body_bytes=raw.get("body_bytes"))


def multipart_bomb(jpeg: bytes, parts: int = BOMB_PARTS) -> bytes:
    """A ``multipart/form-data`` body (boundary ``b``) of ``parts`` empty 51-byte fields, then a ``file`` part."""
    file = (b'--b\r\nContent-Disposition: form-data; name="file"; filename="f.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'
            + jpeg + b"\r\n--b--\r\n")
    return _BOMB_FIELD * parts + file


class _Tally:
    """`AttackAnswers` filled from many client threads."""

    def __init__(self, answers: AttackAnswers) -> None:
        self.answers = answers
        self._lock = threading.Lock()

    def add(self, status: str, seconds: float, retry_after: bool = False, code: str | None = None) -> None:
        with self._lock:
            self.answers.by_status[status] += 1
            self.answers.answer_s.append(seconds)
            self.answers.with_retry_after += int(retry_after)
            if code is not None:
                self.answers.codes[code] += 1

    def to_json(self) -> dict[str, Any]:
        """The answers so far, as `AttackAnswers.to_json`."""
        with self._lock:
            return self.answers.to_json()


def sign_in_client(url: str, user: str, client: int, tally: _Tally, stop: threading.Event) -> None:
    """Loop until ``stop``: fetch the sign-in form, post a wrong password for ``user``; the post is timed."""
    with httpx.Client(base_url=url, timeout=30) as http:
        while True:
            started = time.monotonic()
            try:
                form = http.get("/review/login")
                token = CSRF.search(form.text)
                started = time.monotonic()
                r = http.post("/review/login", data={"username": user, "password": f"guess-{client}-{time.time()}",
                                                     "csrf_token": token.group(1) if token else ""})
                tally.add(str(r.status_code), time.monotonic() - started,
                          retry_after=r.status_code == 429 and "retry-after" in r.headers)
            except httpx.HTTPError as exc:
                tally.add(type(exc).__name__, time.monotonic() - started)
            if stop.is_set():  # checked after the request: every client makes at least one
                return


def multipart_client(url: str, camera: str, token: str, body: bytes, tally: _Tally, stop: threading.Event) -> None:
    """Loop until ``stop``: post the multipart bomb as a frame of ``camera`` (a fresh seq each time), timed."""
    seq = 1
    with httpx.Client(base_url=url, timeout=60) as http:
        while True:
            started = time.monotonic()
            headers = {"Authorization": f"Bearer {token}", "X-Camera-Id": camera, "X-Seq": str(seq),
                       "X-Captured-At": f"{time.time():.3f}", "Content-Type": BOMB_CONTENT_TYPE}
            try:
                r = http.post("/frames", content=body, headers=headers)
                try:
                    code = r.json().get("code")
                except ValueError:
                    code = None
                tally.add(str(r.status_code), time.monotonic() - started, code=code if isinstance(code, str) else None)
            except httpx.HTTPError as exc:
                tally.add(type(exc).__name__, time.monotonic() - started)
            seq += 1
            if stop.is_set():
                return


def run_clients(clients: int, target: Callable[[int, threading.Event], None]) -> None:
    """Start ``clients`` threads on ``target``, say ``started``, wait for stdin to close, then join them."""
    stop = threading.Event()
    threads = [threading.Thread(target=target, args=(i, stop), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    print("started", flush=True)
    sys.stdin.read()  # the bench closes our stdin to end the attack
    stop.set()
    for t in threads:
        t.join(timeout=120)


def main(argv: list[str] | None = None) -> None:
    """Run one attack (see the module's docstring) and print its `AttackAnswers` as the last line."""
    parser = argparse.ArgumentParser(prog="python -m edge.tools.bench.attackers")
    parser.add_argument("kind", choices=("signin", "multipart"))
    parser.add_argument("url")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--user", default="ops")
    parser.add_argument("--camera", action="append", default=[], metavar="ID=TOKEN",
                        help="a camera the multipart clients post as (repeat: client i takes the i-th, round robin)")
    parser.add_argument("--jpeg", type=Path)
    parser.add_argument("--parts", type=int, default=BOMB_PARTS)
    parser.add_argument("--nice", type=int, default=0, help="lower this process's CPU priority by this much")
    args = parser.parse_args(argv)
    if args.nice:
        os.nice(args.nice)
    answers = AttackAnswers(kind=args.kind, clients=args.clients)
    tally = _Tally(answers)
    if args.kind == "signin":
        run_clients(args.clients, lambda i, stop: sign_in_client(args.url, args.user, i, tally, stop))
    else:
        body = multipart_bomb(args.jpeg.read_bytes(), args.parts)
        answers.body_bytes = len(body)
        cameras = [camera.split("=", 1) for camera in args.camera]
        if not cameras or any(len(c) != 2 for c in cameras):
            parser.error("multipart needs --camera ID=TOKEN")
        run_clients(args.clients, lambda i, stop: multipart_client(
            args.url, cameras[i % len(cameras)][0], cameras[i % len(cameras)][1], body, tally, stop))
    print(json.dumps(tally.to_json()), flush=True)


if __name__ == "__main__":
    main()
