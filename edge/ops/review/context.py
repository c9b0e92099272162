"""`ReviewContext`: what the review routers share (settings, signer, users, templates, the store getter), the
guards every route runs through (who is signed in, whether a state-changing request is same-origin and carries the
session's CSRF token, whether the user may change settings) and the request's store transaction.

Routers are built by factories that close over one context (no module-level state, no app-as-service-locator). A
route that reads or writes the store takes a connection from `ReviewContext.read_transaction` or
`ReviewContext.write_transaction` as a dependency and calls the store's repository functions with it::

    ReadTx = Annotated[Connection, Depends(ctx.read_transaction, scope="function")]

``scope="function"`` ends the transaction when the route returns, before the answer is sent: a write is committed
(or refused as 503) before anyone is told it happened.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import anyio
from fastapi.concurrency import contextmanager_in_threadpool
from sqlalchemy import Connection
from starlette.requests import HTTPConnection, Request
from starlette.templating import Jinja2Templates

from edge.ops.review.errors import Forbidden, NotSignedIn, Unavailable
from edge.ops.review.sessions import Session, SessionSigner
from edge.ops.review.signin_gate import AnswerPause, RefusalLog
from edge.ops.review.throttle import KdfGate, SignInThrottle, ThrottlePolicy
from edge.ops.review.users import ReviewUser, UserDirectory
from edge.review_settings import ReviewSection
from edge.store import sessions as session_repo
from edge.store.errors import StoreUnavailableError, StoreValueError
from edge.store.store import Store
from vision.taxonomy import Taxonomy

PREFIX = "/review"
SESSION_COOKIE = "qc_review_session"
LOGIN_COOKIE = "qc_review_login"
CSRF_HEADER = "x-csrf-token"
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent / "static"

StoreGetter = Callable[[HTTPConnection], Store]
# Request transactions open at once. A request holds its pooled connection while FastAPI moves it between threads
# (open, route, commit); past the pool's size (5 + 10 overflow by default) requests waiting for a connection could
# take every thread that the holders need to finish. Below it, the rest of the pool stays free for the service.
TRANSACTION_SLOTS = 8


@contextmanager
def store_transaction(store: Store, *, write: bool) -> Iterator[Connection]:
    """`Store.transaction`, with an unreachable store answered as the page's `Unavailable` (503)."""
    try:
        with store.transaction(write=write) as conn:
            yield conn
    except StoreUnavailableError:
        raise Unavailable("the store is busy or unreachable; try again") from None


@dataclass(frozen=True)
class Principal:
    """The signed-in user of a request and their session."""

    user: ReviewUser
    session: Session
    csrf_token: str


class ReviewContext:
    """Everything the review routes need, built once per app by `include_review`."""

    def __init__(self, settings: ReviewSection, store_of: StoreGetter, taxonomy: Taxonomy) -> None:
        """``store_of`` returns the store serving a request (the service: its runtime's store)."""
        self.settings = settings
        self.store_of = store_of
        self.taxonomy = taxonomy
        key = settings.secret_key.get_secret_value().encode() if settings.secret_key else secrets.token_bytes(32)
        self.signer = SessionSigner(key, settings.session_ttl_s)
        self.users = UserDirectory(settings)
        self.throttle = SignInThrottle(ThrottlePolicy(
            per_user=settings.signin_failures_per_user, per_address=settings.signin_failures_per_address,
            window_s=settings.signin_window_s, lockout_s=settings.signin_lockout_s,
        ))
        self.kdf = KdfGate()  # every password hash (sign-in, new users) runs here: one thread, a short line
        self.refusals = RefusalLog()  # refused sign-ins, logged without letting a flood of them flood the log
        self.pause = AnswerPause()  # throttled sign-ins are answered after a pause: a guessing loop slows down
        self.templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
        self.templates.env.globals.update(prefix=PREFIX)
        self._slots: anyio.Semaphore | None = None  # made on first use, on the event loop that serves the app

    # ---- the request's transaction (FastAPI dependencies, scope="function") -------------------------------------

    async def read_transaction(self, request: Request) -> AsyncIterator[Connection]:
        """A connection in a read transaction of the request's store, ended when the route returns."""
        async with self._transaction(request, write=False) as conn:
            yield conn

    async def write_transaction(self, request: Request) -> AsyncIterator[Connection]:
        """A connection in a write transaction of the request's store: committed when the route returns, rolled
        back when it raises. Declare it after the writer guard, so a refused request takes no write lock."""
        async with self._transaction(request, write=True) as conn:
            yield conn

    @asynccontextmanager
    async def _transaction(self, request: Request, *, write: bool) -> AsyncIterator[Connection]:
        if self._slots is None:
            self._slots = anyio.Semaphore(TRANSACTION_SLOTS)
        async with self._slots, contextmanager_in_threadpool(
            store_transaction(self.store_of(request), write=write)
        ) as conn:
            yield conn

    # ---- guards (used as FastAPI dependencies; sync, so FastAPI runs the store look-up in its thread pool) -------

    def principal(self, request: Request) -> Principal:
        """The signed-in user; `NotSignedIn` without a valid session cookie, when the store says the session was
        signed out (or the password changed since), or when the user no longer exists."""
        session = self.signer.read(request.cookies.get(SESSION_COOKIE))
        if session is None:  # forged, malformed or expired: refused before the store is asked anything
            raise NotSignedIn("sign in first")
        try:
            with store_transaction(self.store_of(request), write=False) as conn:
                open_for = session_repo.session_user(conn, session.sid)
                user = self.users.get(conn, session.user) if open_for == session.user else None
        except StoreValueError:
            raise NotSignedIn("sign in first") from None
        if user is None:
            raise NotSignedIn("sign in first")
        return Principal(user=user, session=session, csrf_token=self.signer.csrf_token(session))

    def writer(self, request: Request) -> Principal:
        """A signed-in user making a same-origin request with the session's CSRF token in ``X-CSRF-Token``."""
        principal = self.principal(request)
        self.check_write(request, principal, request.headers.get(CSRF_HEADER))
        return principal

    def admin_writer(self, request: Request) -> Principal:
        """`writer`, and an admin: ops users review but cannot change settings."""
        principal = self.writer(request)
        if not principal.user.is_admin:
            raise Forbidden("only an admin can change settings")
        return principal

    def admin(self, request: Request) -> Principal:
        """A signed-in admin (read-only pages about settings)."""
        principal = self.principal(request)
        if not principal.user.is_admin:
            raise Forbidden("only an admin can change settings")
        return principal

    def check_write(self, request: Request, principal: Principal, token: str | None) -> None:
        """Refuse a state-changing request that is cross-site or lacks the session's CSRF token."""
        check_same_origin(request)
        if not self.signer.check_csrf(principal.session, token):
            raise Forbidden("missing or wrong CSRF token: reload the page")

    def secure(self, request: Request) -> bool:
        """Whether cookies get the Secure flag."""
        if self.settings.secure_cookies is not None:
            return self.settings.secure_cookies
        return request.url.scheme == "https"


def check_same_origin(request: Request) -> None:
    """Refuse a request a browser marks as cross-site (Sec-Fetch-Site) or whose Origin is another scheme or host.

    Defence in depth next to the CSRF token and the SameSite=Strict cookie: any one of them stops a cross-site POST.
    """
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        raise Forbidden("cross-site request refused")
    origin = request.headers.get("origin")
    if origin is None:
        return
    host = request.headers.get("host", "")
    parts = urlsplit(origin)
    # The scheme counts too: a page served over plain http must not act on the https site of the same host.
    if origin == "null" or parts.scheme.lower() != request.url.scheme or parts.netloc.lower() != host.lower():
        raise Forbidden("cross-site request refused")
