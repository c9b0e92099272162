"""Load for the starvation tests: a camera streaming at a fixed rate (what it kept), and attackers in a separate
process (as they would be: their Python work must not share the service's interpreter lock).

Imported by sibling test modules (pytest puts this folder on sys.path).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

from service_harness import TOKENS, RunningService, message
from websockets.sync.client import connect

from edge.protocol import parse_ack

# A frame acked later than this after it was sent is as good as lost on a moving belt.
KEPT_WITHIN_S = 3.0


@dataclass
class CameraRun:
    """What one camera streaming at a fixed rate got back: seq -> (status, seconds from send to ack)."""

    sent: dict[int, float] = field(default_factory=dict)
    acks: dict[int, tuple[str, float]] = field(default_factory=dict)

    def kept(self) -> float:
        """The share of sent frames acked ``ok`` within `KEPT_WITHIN_S`."""
        good = sum(1 for status, lag in self.acks.values() if status == "ok" and lag <= KEPT_WITHIN_S)
        return good / max(1, len(self.sent))


def stream_at_rate(svc: RunningService, camera_id: str, first_seq: int, fps: float, seconds: float) -> CameraRun:
    """Stream ``fps`` frames a second for ``seconds`` without waiting for acks (as `qc capture` does), then collect
    the acks still due (up to `KEPT_WITHIN_S` more)."""
    run = CameraRun()
    with connect(svc.ws_url(camera_id), additional_headers={"Authorization": f"Bearer {TOKENS[camera_id]}"},
                 max_size=2**20, open_timeout=10) as ws:
        done = threading.Event()

        def read() -> None:
            while not done.is_set() or len(run.acks) < len(run.sent):
                try:
                    ack = parse_ack(ws.recv(timeout=KEPT_WITHIN_S + 1))
                except TimeoutError:
                    if done.is_set():
                        return
                    continue
                if ack.seq is not None and ack.seq in run.sent:
                    run.acks[ack.seq] = (ack.status, time.monotonic() - run.sent[ack.seq])

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        start = time.monotonic()
        n = int(fps * seconds)
        for i in range(n):
            time.sleep(max(0.0, start + i / fps - time.monotonic()))
            seq = first_seq + i
            data = message(camera_id, seq)
            run.sent[seq] = time.monotonic()
            ws.send(data)
        done.set()
        reader.join(timeout=KEPT_WITHIN_S + 5)
    return run


_SIGN_IN_FLOOD = r'''
import json, re, sys, threading, time
import httpx
base, threads, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
statuses, lock = {}, threading.Lock()
def attack(i):
    end = time.monotonic() + seconds
    with httpx.Client(base_url=base, timeout=30) as c:
        while time.monotonic() < end:
            try:
                form = c.get("/review/login")
                token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
                r = c.post("/review/login", data={"username": "olga", "password": f"guess-{i}-{time.time()}",
                                                  "csrf_token": token})
                key = str(r.status_code)
            except httpx.HTTPError as exc:
                key = type(exc).__name__
            with lock:
                statuses[key] = statuses.get(key, 0) + 1
ts = [threading.Thread(target=attack, args=(i,)) for i in range(threads)]
[t.start() for t in ts]
[t.join() for t in ts]
print(json.dumps(statuses))
'''


def start_sign_in_flood(base_url: str, threads: int, seconds: float) -> subprocess.Popen[str]:
    """``threads`` threads in another process, each looping: fetch the sign-in form, post a wrong password."""
    return subprocess.Popen([sys.executable, "-c", _SIGN_IN_FLOOD, base_url, str(threads), str(seconds)],
                            stdout=subprocess.PIPE, text=True)


def flood_result(proc: subprocess.Popen[str]) -> dict[str, int]:
    """The attack's answers by HTTP status, once it has finished."""
    out, _ = proc.communicate(timeout=120)
    return json.loads(out.strip().splitlines()[-1])
