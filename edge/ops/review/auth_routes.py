"""Sign-in and sign-out: ``GET/POST /review/login``, ``POST /review/logout``.

The sign-in form is a plain HTML form (works without script) protected by a signed pre-session cookie; a successful
sign-in opens a session in the store and sets its cookie (HttpOnly, SameSite=Strict, path /review), then redirects to
a *local* ``next`` page. Failed sign-ins are throttled per user name and client address (`edge.ops.review.throttle`):
a locked-out attempt is answered 429 with ``Retry-After`` and one line of text before any password is hashed, any
form or page rendered or any CSRF token checked (a locked-out address even before its body is read:
`edge.ops.review.signin_gate`), and hashing itself runs on the context's one-thread `KdfGate`. Signing out revokes
the session in the store, for every node and restart.
"""

from __future__ import annotations

import logging
import time
from urllib.parse import parse_qs

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from edge.ops.review.context import LOGIN_COOKIE, PREFIX, SESSION_COOKIE, ReviewContext, check_same_origin
from edge.ops.review.errors import BadReviewInput, Forbidden, NotSignedIn, Unavailable
from edge.ops.review.inputs import capped_body, media_type
from edge.ops.review.signin_gate import scope_address, throttled_answer
from edge.ops.review.throttle import KdfBusy
from edge.review_settings import USERNAME_PATTERN
from edge.store import sessions as session_repo
from edge.store.errors import StoreUnavailableError
from edge.store.store import Store

log = logging.getLogger(__name__)

MAX_FORM_BYTES = 8 * 1024
KDF_BUSY_RETRY_S = 1  # the line in front of the hashing thread drains within a second or so


def client_address(request: Request) -> str:
    """The address sign-ins are counted under (the peer; uvicorn puts a trusted proxy's forwarded one here)."""
    return scope_address(request.scope)


async def read_form(request: Request) -> dict[str, str]:
    """A small urlencoded form body as field -> first value (no multipart: the page never uploads files); an empty
    body is an empty form."""
    body = await capped_body(request, MAX_FORM_BYTES)
    if body is None:
        raise BadReviewInput("form too large")
    if not body:
        return {}
    if media_type(request) != "application/x-www-form-urlencoded":
        raise BadReviewInput("send the form as application/x-www-form-urlencoded")
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        raise BadReviewInput("malformed form") from None
    return {k: v[0] for k, v in fields.items()}


def safe_next(target: str | None) -> str:
    """``target`` when it is a page of the review site, else the queue (no open redirect to another host)."""
    if (
        not target
        or not (target == PREFIX or target.startswith(PREFIX + "/") or target.startswith(PREFIX + "?"))
        or "\\" in target
        or "//" in target
        or any(ord(c) < 0x20 for c in target)
        or target.startswith(f"{PREFIX}/login")
    ):
        return PREFIX
    return target


def open_session(store: Store, sid: str, username: str, expires_at: float) -> None:
    """Record a signed-in session in its own write transaction (blocking)."""
    with store.transaction(write=True) as conn:
        session_repo.open_session(conn, sid, username, expires_at)


def revoke_session(store: Store, sid: str) -> None:
    """Sign a session out in its own write transaction (blocking), for every node sharing the store."""
    with store.transaction(write=True) as conn:
        session_repo.revoke_session(conn, sid)


def router(ctx: ReviewContext) -> APIRouter:
    """The sign-in routes of ``ctx``."""
    r = APIRouter(prefix=PREFIX, include_in_schema=False)

    def login_page(request: Request, next_page: str, error: str | None, status: int) -> Response:
        nonce = ctx.signer.login_nonce()
        response = ctx.templates.TemplateResponse(
            request, "login.html",
            {"csrf_token": ctx.signer.login_token(nonce), "next": safe_next(next_page), "error": error},
            status_code=status,
        )
        response.set_cookie(LOGIN_COOKIE, nonce, max_age=3600, path=PREFIX, httponly=True, samesite="strict",
                            secure=ctx.secure(request))
        return response

    @r.get("/login")
    async def login_form(request: Request) -> Response:
        """The sign-in form (or straight on to the queue when already signed in)."""
        next_page = safe_next(request.query_params.get("next"))
        # Rendered on the event loop (a few tens of microseconds); only a session cookie can mean "signed in", and
        # only then is the store asked, on a thread. Without one nothing here waits on a thread or the store.
        if request.cookies.get(SESSION_COOKIE):
            try:
                await run_in_threadpool(ctx.principal, request)
                return RedirectResponse(next_page, status_code=303)
            except NotSignedIn:
                pass
        return login_page(request, next_page, None, 200)

    @r.post("/login")
    async def login(request: Request) -> Response:
        """Check the user name and password; on success set the session cookie and go on to ``next``."""
        check_same_origin(request)
        form = await read_form(request)
        name, password = form.get("username", "").strip(), form.get("password", "")
        counted_name = name if USERNAME_PATTERN.fullmatch(name) else None  # malformed names count per address only
        address = client_address(request)
        # The throttle first: a locked-out attempt costs no CSRF check, no page and no store (the address alone
        # was checked before the body was read: signin_gate).
        wait = ctx.throttle.retry_after(counted_name, address, time.time())
        if wait:
            ctx.refusals.note(f"locked out for {wait} s more", counted_name, address)
            await ctx.pause.wait()
            return throttled_answer(wait)
        next_page = safe_next(form.get("next"))
        if not ctx.signer.check_login(request.cookies.get(LOGIN_COOKIE), form.get("csrf_token")):
            return login_page(request, next_page, "The sign-in form expired. Please try again.", 403)
        store = ctx.store_of(request)
        try:
            user = await ctx.kdf.run(ctx.users.authenticate, store, name, password)
        except KdfBusy:
            ctx.refusals.note("password checks busy", counted_name, address)
            await ctx.pause.wait()
            return throttled_answer(KDF_BUSY_RETRY_S)
        except StoreUnavailableError:
            raise Unavailable("the store is busy or unreachable; try again") from None
        if user is None:
            locked = ctx.throttle.failed(counted_name, address, time.time())
            if locked:
                log.warning("sign-in locked out for %d s after failed attempts (user %r, address %s)", locked,
                            counted_name, address)
            return login_page(request, next_page, "Wrong user name or password.", 401)
        ctx.throttle.succeeded(user.name)
        cookie, session = ctx.signer.issue(user.name)
        await run_in_threadpool(open_session, store, session.sid, user.name, session.expires_at)
        response = RedirectResponse(next_page, status_code=303)
        response.set_cookie(SESSION_COOKIE, cookie, max_age=int(ctx.settings.session_ttl_s), path=PREFIX,
                            httponly=True, samesite="strict", secure=ctx.secure(request))
        response.delete_cookie(LOGIN_COOKIE, path=PREFIX)
        return response

    @r.post("/logout")
    async def logout(request: Request) -> Response:
        """Sign out (the form carries the CSRF token)."""
        form = await read_form(request)
        principal = await run_in_threadpool(ctx.principal, request)
        ctx.check_write(request, principal, form.get("csrf_token"))
        await run_in_threadpool(revoke_session, ctx.store_of(request), principal.session.sid)
        response = RedirectResponse(f"{PREFIX}/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path=PREFIX)
        return response

    @r.get("/logout")
    def logout_get() -> Response:
        """Signing out changes state, so it is a POST; a GET (a link, a prefetch) does nothing."""
        raise Forbidden("sign out with the button on the page")

    return r
