"""The review page's outer layer: security headers on every ``/review`` response, bearer tokens refused, the
answers to `ReviewError` (JSON for the API and images, an escaped HTML page or a sign-in redirect for pages), and
one error path for whatever else escapes a route: a JSON answer with the security headers, never a bare 500.
"""

from __future__ import annotations

import json
import logging
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from edge.ops.review.context import PREFIX, ReviewContext
from edge.ops.review.errors import NotSignedIn, ReviewError, TooManyRequests

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
log = logging.getLogger(__name__)

# Exceptions only hostile input raises in parsing code (nesting deeper than a parser recurses, numbers too large for
# a float or a database integer, text that is not what its encoding says): answered 400, not 500.
HOSTILE_INPUT_ERRORS: tuple[type[BaseException], ...] = (RecursionError, OverflowError, UnicodeError)


def escaped_error(exc: BaseException) -> tuple[int, bytes]:
    """The status and JSON body answering an exception no handler answered (the message quotes no input)."""
    if isinstance(exc, HOSTILE_INPUT_ERRORS):
        return 400, b'{"error": "malformed request"}'
    return 500, b'{"error": "internal error"}'


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

        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in _REPLACED]
                message = {**message, "headers": headers + list(SECURITY_HEADERS)}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as exc:
            if started:  # half an answer is out: nothing better to do than to let the server close it
                raise
            status, body = escaped_error(exc)
            log.log(logging.ERROR if status >= 500 else logging.WARNING, "%s %s answered %d: %s",
                    scope.get("method"), scope.get("path"), status, type(exc).__name__, exc_info=status >= 500)
            await _send_headers(send, status, [(b"content-type", b"application/json")], body)


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
        headers = {"retry-after": str(exc.retry_after_s)} if isinstance(exc, TooManyRequests) else None
        if wants_page(request):
            if isinstance(exc, NotSignedIn) and request.method == "GET":
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(f"{PREFIX}/login?next={quote(target, safe='')}", status_code=303)
            return ctx.templates.TemplateResponse(
                request, "error.html", {"status": exc.status, "message": exc.message}, status_code=exc.status,
                headers=headers,
            )
        return JSONResponse({"error": exc.message}, status_code=exc.status, headers=headers)

    return handle
