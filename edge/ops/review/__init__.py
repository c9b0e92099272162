"""The review page for warehouse ops, served by the edge service under ``/review``.

Design: server-rendered HTML (Jinja2, autoescaping) plus one small vanilla-JS file, no build step and nothing
fetched from a CDN. Why: the page runs on an edge node that may have no internet; the same process already serves
the store, so rendering there means one source of truth for what a queue entry looks like (the script swaps in
server-rendered fragments instead of re-implementing the markup), the page works (sign in, filters, pager) with
script off, and there is no JavaScript tool chain to install, audit or keep up to date. The script only adds what
needs it: actions without a reload, keyboard shortcuts, drawing a corrected box, and live updates by polling the
queue section with ``If-None-Match`` (a 304 costs nothing; polling survives proxies and restarts where an SSE stream
would need reconnect logic and a long-lived thread per viewer). Charts are inline SVG drawn on the server.

One router per resource, each built by a factory over one `ReviewContext`:
    auth_routes       GET/POST /review/login, POST /review/logout
    page_routes       GET /review (queue page), GET /review/queue (queue section, polled)
    queue_routes      /review/api/... (queue JSON, confirm, not-waste, relabel, box, undo, bulk-confirm)
    image_routes      GET /review/crops/{flag_id}, GET /review/frames/{flag_id}
    dashboard_routes  GET /review/dashboard
    admin_routes      GET/POST /review/admin/users (admins only: the settings an ops user cannot change)
The API's ids, query strings, bodies and answers are typed values (`api_models`, `inputs`); `api_route` answers
their refusals as the page's own errors, not FastAPI's 422. A route that touches the store takes a connection in one
transaction as a dependency (`ReviewContext.read_transaction` / `write_transaction`) and calls the store's repository
functions with it.

Security: scrypt password hashes, run on one dedicated thread (`throttle.KdfGate`) behind a sign-in throttle per user
name and client address (429 + Retry-After, a line of text answered before any form, page or store work, a
locked-out address's before its body is read: `signin_gate`); HMAC-signed session cookie (HttpOnly,
SameSite=Strict, path /review) whose session lives in the store, so sign-out and password changes revoke it on every
node and across restarts; a CSRF token bound to the session on every state-changing request plus an Origin
(scheme + host) / Sec-Fetch-Site check; any ``Authorization`` header (a camera's bearer token) is refused on
/review; ``Cache-Control: no-store`` and a strict CSP on every /review response, errors included (hostile input is a
4xx, never a bare 500); ids in URLs are digits only (images come from the store by id, never from a path); error
answers never quote the request.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI
    from starlette.requests import HTTPConnection

    from edge.review_settings import ReviewSection
    from edge.store.store import Store
    from vision.taxonomy import Taxonomy


def include_review(
    app: FastAPI,
    store_of: Callable[[HTTPConnection], Store],
    settings: ReviewSection,
    taxonomy: Taxonomy | None = None,
) -> None:
    """Serve the review page on ``app`` under ``/review``.

    ``store_of(request)`` returns the store a request works on (the service: ``request.state.runtime.store``);
    ``settings`` is the config's ``review`` section; ``taxonomy`` names the produce kinds and conditions a relabel may
    choose (default: the project's taxonomy file). Does nothing when ``settings.enabled`` is false.
    """
    if not settings.enabled:
        return
    from starlette.staticfiles import StaticFiles

    from edge.ops.review import (
        admin_routes,
        auth_routes,
        dashboard_routes,
        image_routes,
        page_routes,
        queue_routes,
        waste_routes,
    )
    from edge.ops.review.context import PREFIX, STATIC_DIR, ReviewContext
    from edge.ops.review.errors import ReviewError
    from edge.ops.review.guard import ReviewGuardMiddleware, error_handler
    from edge.ops.review.signin_gate import SignInGate
    from edge.ops.review.templating import install_filters
    from vision.taxonomy import Taxonomy

    ctx = ReviewContext(settings, store_of, taxonomy or Taxonomy.load())
    install_filters(ctx.templates.env)
    for module in (auth_routes, page_routes, queue_routes, image_routes, dashboard_routes, admin_routes, waste_routes):
        app.include_router(module.router(ctx))
    app.mount(f"{PREFIX}/static", StaticFiles(directory=STATIC_DIR), name="review-static")
    app.add_exception_handler(ReviewError, error_handler(ctx))
    # Inside the guard (added later, so outer): the gate's 429 gets the security headers like every /review answer.
    app.add_middleware(SignInGate, login_path=f"{PREFIX}/login", throttle=ctx.throttle, refusals=ctx.refusals,
                       pause=ctx.pause)
    app.add_middleware(ReviewGuardMiddleware)
