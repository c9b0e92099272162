"""Sign-in throttling and the bound on password hashing, so that guessing passwords can neither succeed by volume
nor take the CPU the belts need.

`SignInThrottle` counts failed sign-ins per user name and per client address in a sliding window; past the limit the
key is locked for a while and attempts are answered at once ("try again in N s", 429) without running the KDF.
`KdfGate` runs every password hash on one dedicated thread with a short waiting line: scrypt costs ~40 ms of a
core, and the event loop's thread pool is shared with ingest and the store, so sign-in must never be able to occupy
more than one core however many requests arrive from however many addresses; beyond the line it answers "busy".
Both are per process: a lockout is a brake on guessing, not a record that must survive restarts.
"""

from __future__ import annotations

import asyncio
import math
import threading
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")
_MAX_KEYS = 50_000  # bounded memory under a flood of distinct names or addresses


@dataclass(frozen=True)
class ThrottlePolicy:
    """How many failed sign-ins a user name / a client address may make within ``window_s`` before a lockout of
    ``lockout_s`` seconds."""

    per_user: int = 5
    per_address: int = 20
    window_s: float = 300.0
    lockout_s: float = 60.0


@dataclass
class _Key:
    failures: deque[float]
    locked_until: float = 0.0


class SignInThrottle:
    """Failed sign-ins per ``user:<name>`` and ``addr:<address>`` key; thread-safe."""

    def __init__(self, policy: ThrottlePolicy | None = None) -> None:
        """Count with ``policy`` (default `ThrottlePolicy()`)."""
        self.policy = policy or ThrottlePolicy()
        self._keys: OrderedDict[str, _Key] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after(self, user: str | None, address: str, now: float) -> int:
        """Whole seconds until a sign-in for ``user`` from ``address`` may be tried again; 0 when it may now."""
        with self._lock:
            waits = [k.locked_until - now for k in (self._keys.get(key) for key in _keys(user, address)) if k]
        wait = max(waits, default=0.0)
        return math.ceil(wait) if wait > 0 else 0

    def failed(self, user: str | None, address: str, now: float) -> int:
        """Record a failed sign-in; the lockout it caused (seconds, 0 when none)."""
        p = self.policy
        with self._lock:
            for key in _keys(user, address):
                limit = p.per_user if key.startswith("user:") else p.per_address
                entry = self._keys.pop(key, None) or _Key(deque())
                self._keys[key] = entry  # most recently used last: the oldest go first when bounded
                entry.failures.append(now)
                while entry.failures and entry.failures[0] <= now - p.window_s:
                    entry.failures.popleft()
                if len(entry.failures) >= limit:
                    entry.locked_until = now + p.lockout_s
                    entry.failures.clear()
            while len(self._keys) > _MAX_KEYS:
                self._keys.popitem(last=False)
        return self.retry_after(user, address, now)

    def succeeded(self, user: str) -> None:
        """A correct password: the user's failures are forgotten (the address's are not: one valid account must
        not reset an address that guesses others)."""
        with self._lock:
            self._keys.pop(f"user:{user}", None)


def _keys(user: str | None, address: str) -> tuple[str, ...]:
    return (f"addr:{address}",) if user is None else (f"user:{user}", f"addr:{address}")


class KdfBusy(Exception):  # noqa: N818 - a condition, answered as 429 by the caller
    """More password checks are waiting than the gate lets queue."""


class KdfGate:
    """Runs password hashing on one dedicated thread, with at most ``max_waiting`` calls queued behind it."""

    def __init__(self, max_waiting: int = 4) -> None:
        """A gate that refuses (`KdfBusy`) a call when ``max_waiting`` are already queued or running."""
        self.max_waiting = max_waiting
        self._waiting = 0  # touched on the event loop only
        self._executor: ThreadPoolExecutor | None = None

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """``fn(*args)`` on the gate's thread; `KdfBusy` at once when the line is full."""
        if self._waiting >= self.max_waiting:
            raise KdfBusy("too many sign-ins in progress")
        if self._executor is None:  # created on first use: an app that never signs anyone in holds no thread
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qc-kdf")
        self._waiting += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
        finally:
            self._waiting -= 1

    def close(self) -> None:
        """Stop the gate's thread (after the call running on it)."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
