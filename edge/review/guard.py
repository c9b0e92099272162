"""The review page's outer layer: security headers on every ``/review`` response, bearer tokens refused, and the
answers to `ReviewError` (JSON for the API and images, an escaped HTML page or a sign-in redirect for pages).
"""

from __future__ import annotations

import json
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from edge.review.context import PREFIX, ReviewContext
from edge.review.errors import NotSignedIn, ReviewError

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    # Nothing a signed-in user sees may be kept by a browser or proxy cache (shared terminals on a warehouse floor).
    (b"cache-control", b"no-store"),
    (b"pragma", b"no-cache"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"content-security-policy",
     b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; "
     b"frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"),
)
_REPLACED = {name for name, _ in SECURITY_HEADERS}


def is_review_path(path: str) -> bool:
    """True for ``/review`` and everything under it."""
    return path == PREFIX or path.startswith(PREFIX + "/")


class ReviewGuardMiddleware:
    """ASGI middleware: for ``/review`` paths, refuse any ``Authorization`` header (camera tokens cannot review;
    the page authenticates people by session only) and add `SECURITY_HEADERS` to every response."""

    def __init__(self, app: ASGIApp) -> None:
        """Wrap ``app``."""
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_review_path(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        if any(name == b"authorization" for name, _ in scope.get("headers", [])):
            body = json.dumps({"error": "bearer tokens (cameras) cannot use the review page; sign in as a person"})
            await _send_headers(send, 403, [(b"content-type", b"application/json")], body.encode())
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in _REPLACED]
                message = {**message, "headers": headers + list(SECURITY_HEADERS)}
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _send_headers(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    all_headers = headers + [(b"content-length", str(len(body)).encode())] + list(SECURITY_HEADERS)
    await send({"type": "http.response.start", "status": status, "headers": all_headers})
    await send({"type": "http.response.body", "body": body})


def wants_page(request: Request) -> bool:
    """True for page requests (HTML answers); False for the JSON API, images and the polled queue section (which
    the script fetches: it must see a 401, not a redirect to the sign-in form)."""
    path = request.url.path
    if path == f"{PREFIX}/queue":
        return False
    return not any(path.startswith(f"{PREFIX}/{p}/") for p in ("api", "crops", "frames", "static"))


def error_handler(ctx: ReviewContext):  # noqa: ANN201 - a Starlette exception handler
    """The handler of `ReviewError` for an app that includes the review page."""

    async def handle(request: Request, exc: Exception) -> Response:
        if not isinstance(exc, ReviewError):
            raise exc
        if wants_page(request):
            if isinstance(exc, NotSignedIn) and request.method == "GET":
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(f"{PREFIX}/login?next={quote(target, safe='')}", status_code=303)
            return ctx.templates.TemplateResponse(
                request, "error.html", {"status": exc.status, "message": exc.message}, status_code=exc.status
            )
        return JSONResponse({"error": exc.message}, status_code=exc.status)

    return handle
