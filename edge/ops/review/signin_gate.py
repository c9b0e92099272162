"""The cheap answer to a sign-in flood: a throttled attempt is refused with a few fixed bytes, before anything else.

Once a guessing client is locked out (`throttle.SignInThrottle`) it goes on posting, hundreds of attempts a second
from a handful of connections, and every answer runs on the service's one event loop beside every camera's frames.
So the refusal must cost next to nothing: `SignInGate` answers ``POST /review/login`` from a locked-out address
from the ASGI scope alone, before the body is read: no form parsed, no CSRF token checked, no template rendered,
no session or store touched, no framework routing. The sign-in route gives the same answer (`throttled_answer`)
for a locked-out user name and for a full hashing line, right after reading the form. The answer is plain text
with ``Retry-After``; the review guard around the gate adds the security headers as to every ``/review`` answer.

A cheap answer alone only lets a guessing client guess faster: one that waits for each answer (as an HTTP/1.1 client
on one connection does) would loop as fast as the loop answers, and the loop would be as busy as before. So each
throttled answer is held back for `PAUSE_S` first (`AnswerPause`): a sleeping coroutine costs no CPU, and it caps
each connection at about one attempt a second. At most `MAX_PAUSED` answers wait at once, so that many
connections cannot make the pauses hold unbounded memory; beyond that the answer goes out at once.

`RefusalLog` keeps the log from being the flood's next cost (one line and one write per refused attempt): the
first refusal is logged at once, then at most one line per interval, counting the refusals it stands for.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from edge.ops.review.throttle import SignInThrottle

log = logging.getLogger(__name__)

REFUSAL_LOG_EVERY_S = 10.0
PAUSE_S = 1.0  # a throttled answer waits this long: a connection's guesses come at most about once a second
MAX_PAUSED = 256  # answers held back at once; each is a few kB (a request and a sleeping coroutine)
_CONTENT_TYPE = b"text/plain; charset=utf-8"


def scope_address(scope: Scope) -> str:
    """The address sign-ins are counted under: the peer (uvicorn puts a trusted proxy's forwarded one here)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def throttled_text(wait_s: int) -> bytes:
    """The body of a throttled sign-in: one line, no form, nothing of the request quoted."""
    return f"Too many sign-in attempts. Try again in {wait_s} s.\n".encode("ascii")


def throttled_answer(wait_s: int) -> Response:
    """`throttled_text` as a 429 with ``Retry-After`` (for the sign-in route)."""
    return Response(throttled_text(wait_s), status_code=429, media_type="text/plain",
                    headers={"retry-after": str(wait_s)})


class AnswerPause:
    """Holds throttled answers back for ``pause_s`` seconds, at most ``max_paused`` at once (the rest go at once).
    Used on the event loop only."""

    def __init__(self, pause_s: float = PAUSE_S, max_paused: int = MAX_PAUSED) -> None:
        """Pause up to ``max_paused`` answers ``pause_s`` seconds each."""
        self.pause_s, self.max_paused = pause_s, max_paused
        self.paused = 0

    async def wait(self) -> None:
        """Sleep ``pause_s``, unless ``max_paused`` answers are already waiting."""
        if self.pause_s <= 0 or self.paused >= self.max_paused:
            return
        self.paused += 1
        try:
            await asyncio.sleep(self.pause_s)
        finally:
            self.paused -= 1


class RefusalLog:
    """Warnings about refused sign-ins, at most one line per ``every_s`` seconds (the first one at once); each
    line says how many refusals it stands for. Used on the event loop only."""

    def __init__(self, every_s: float = REFUSAL_LOG_EVERY_S, clock: Callable[[], float] = time.monotonic,
                 logger: logging.Logger = log) -> None:
        """Log to ``logger`` (this module's)."""
        self.logger, self.every_s, self._clock = logger, every_s, clock
        self._next_at = float("-inf")
        self._unlogged = 0

    def note(self, why: str, user: str | None, address: str) -> None:
        """One refused sign-in, for ``why`` (e.g. "locked out for 42 s more")."""
        now = self._clock()
        if now < self._next_at:
            self._unlogged += 1
            return
        self._next_at = now + self.every_s
        unlogged, self._unlogged = self._unlogged, 0
        more = f"; {unlogged} more refused since the last such line" if unlogged else ""
        self.logger.warning("sign-in refused: %s (user %r, address %s)%s", why, user, address, more)


class SignInGate:
    """ASGI middleware: ``POST`` to the sign-in path from a locked-out address is answered 429 (after the pause)
    without going further; everything else goes on to the app."""

    def __init__(self, app: ASGIApp, login_path: str, throttle: SignInThrottle, refusals: RefusalLog,
                 pause: AnswerPause, clock: Callable[[], float] = time.time) -> None:
        """Gate ``POST login_path`` of ``app`` with ``throttle`` (the sign-in route's own), noting refusals in
        ``refusals`` and holding each answer back with ``pause``."""
        self.app, self.login_path, self.throttle = app, login_path, throttle
        self.refusals, self.pause, self._clock = refusals, pause, clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == self.login_path and scope["method"] == "POST":
            address = scope_address(scope)
            wait = self.throttle.retry_after(None, address, self._clock())
            if wait:
                self.refusals.note(f"address locked out for {wait} s more", None, address)
                await self.pause.wait()
                body = throttled_text(wait)
                await send({"type": "http.response.start", "status": 429, "headers": [
                    (b"content-type", _CONTENT_TYPE), (b"content-length", str(len(body)).encode("ascii")),
                    (b"retry-after", str(wait).encode("ascii"))]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)
