"""Sign-in and sign-out: ``GET/POST /review/login``, ``POST /review/logout``.

The sign-in form is a plain HTML form (works without script) protected by a signed pre-session cookie; a successful
sign-in sets the session cookie (HttpOnly, SameSite=Strict, path /review) and redirects to a *local* ``next`` page.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from edge.review.context import LOGIN_COOKIE, PREFIX, SESSION_COOKIE, ReviewContext, check_same_origin
from edge.review.errors import BadReviewInput, Forbidden, NotSignedIn

MAX_FORM_BYTES = 8 * 1024


async def read_form(request: Request) -> dict[str, str]:
    """A small urlencoded form body as field -> first value (no multipart: the page never uploads files); an empty
    body is an empty form."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise BadReviewInput("form too large")
    if not body:
        return {}
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
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
    def login_form(request: Request) -> Response:
        """The sign-in form (or straight on to the queue when already signed in)."""
        next_page = safe_next(request.query_params.get("next"))
        try:
            ctx.principal(request)
            return RedirectResponse(next_page, status_code=303)
        except NotSignedIn:
            return login_page(request, next_page, None, 200)

    @r.post("/login")
    async def login(request: Request) -> Response:
        """Check the user name and password; on success set the session cookie and go on to ``next``."""
        check_same_origin(request)
        form = await read_form(request)
        next_page = safe_next(form.get("next"))
        if not ctx.signer.check_login(request.cookies.get(LOGIN_COOKIE), form.get("csrf_token")):
            return login_page(request, next_page, "The sign-in form expired. Please try again.", 403)
        name, password = form.get("username", "").strip(), form.get("password", "")
        store = ctx.store_of(request)
        user = await run_in_threadpool(ctx.users.authenticate, store, name, password)
        if user is None:
            return login_page(request, next_page, "Wrong user name or password.", 401)
        cookie, _ = ctx.signer.issue(user.name)
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
        ctx.signer.revoke(principal.session)
        response = RedirectResponse(f"{PREFIX}/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path=PREFIX)
        return response

    @r.get("/logout")
    def logout_get() -> Response:
        """Signing out changes state, so it is a POST; a GET (a link, a prefetch) does nothing."""
        raise Forbidden("sign out with the button on the page")

    return r
