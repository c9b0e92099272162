"""The service's outer HTTP layer (everything but ``/review``, which has its own guard): security headers on every
answer, a Content-Security-Policy fitting what each path serves, and one error path for whatever escapes a route.

Hostile input that gets past a route's own checks (JSON nested deeper than the parser recurses, numbers that
overflow, bad encodings) is answered 400 JSON; anything else 500 JSON, logged with its path; both with the headers.
"""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from edge.ops.review.guard import escaped_error, is_review_path

log = logging.getLogger(__name__)

BASE_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
)
# JSON and metrics: nothing to run, nothing to load, never framed.
API_CSP = b"default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
# Swagger UI / ReDoc (only served with service.api_docs on): FastAPI's pages load their script and style from the
# jsDelivr CDN and start with an inline script; nothing else.
DOCS_CSP = (
    b"default-src 'none'; script-src 'unsafe-inline' https://cdn.jsdelivr.net; "
    b"style-src 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    b"font-src https://fonts.gstatic.com; img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly; "
    b"connect-src 'self'; worker-src blob:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
DOCS_PATHS = ("/docs", "/redoc")


def csp_for(path: str) -> bytes:
    """The Content-Security-Policy of a (non-review) path."""
    return DOCS_CSP if path in DOCS_PATHS or path.startswith("/docs/") else API_CSP


def headers_for(path: str) -> list[tuple[bytes, bytes]]:
    """The security headers every answer on ``path`` carries."""
    return [*BASE_HEADERS, (b"content-security-policy", csp_for(path))]


class ServiceGuardMiddleware:
    """ASGI middleware adding `headers_for` to every HTTP answer outside ``/review`` and answering exceptions."""

    def __init__(self, app: ASGIApp) -> None:
        """Wrap ``app``."""
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or is_review_path(path):
            await self.app(scope, receive, send)
            return
        extra = headers_for(path)
        names = {name for name, _ in extra}
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
                message = {**message, "headers": kept + extra}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as exc:
            if started:
                raise
            status, body = escaped_error(exc)
            log.log(logging.ERROR if status >= 500 else logging.WARNING, "%s %s answered %d: %s",
                    scope.get("method"), path, status, type(exc).__name__, exc_info=status >= 500)
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *extra]
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
