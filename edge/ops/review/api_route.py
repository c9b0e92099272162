"""`ReviewApiRoute`: the route class of the review page's routes, which lets FastAPI parse bodies, path ids and query
strings into the typed values of `edge.ops.review.api_models` and `edge.ops.review.inputs` while keeping the page's
error contract.

FastAPI answers a refused body, path or query parameter with a 422 that quotes the input back; this route class
answers them as the rest of the review page does (a `ReviewError`: ``{"error": ...}`` with the security headers, or
the error page for a page route): a path id that is not an id is a 404 ("no such flag": nothing is there), a bad
body or query parameter a 400 naming the field. It also reads the
body itself first, at most `MAX_BODY_BYTES` of it, because FastAPI reads a body whole and before any dependency.
A body that is too large, not ``application/json`` or not JSON at all is not refused here but noted, and the route's
writer dependency (`refuse_bad_body`) raises it after the session and CSRF checks, so that a request that may not
act learns nothing about its body.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message

from edge.ops.review.api_models import ReviewBody
from edge.ops.review.errors import BadReviewInput, NotFound, ReviewError
from edge.ops.review.inputs import REVIEW_INPUT, capped_body, media_type

MAX_BODY_BYTES = 64 * 1024
# The scope key under which a body problem waits for `refuse_bad_body` (a message written here, quoting nothing).
BODY_PROBLEM = "review.body_problem"


async def read_body(request: Request) -> tuple[bytes, str | None]:
    """The request's body (up to `MAX_BODY_BYTES` of it) and what is wrong with it as a JSON object, if anything; an
    empty body stays empty (FastAPI hands it to validation as a missing body, which `body_error` judges as ``{}``)."""
    body = await capped_body(request, MAX_BODY_BYTES)
    if body is None:
        return b"", "body too large"
    if not body.strip():
        return b"", None
    if media_type(request) != "application/json":
        return b"", "send the body as application/json"
    try:
        value = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
        return b"", "the body is not valid JSON"
    if not isinstance(value, dict):  # FastAPI would take ``null`` for no body at all
        return b"", "the body must be a JSON object"
    return body, None


def refuse_bad_body(request: Request) -> None:
    """Raise the body problem `ReviewApiRoute` noted for this request, if any (call it after the write checks)."""
    problem = request.scope.get(BODY_PROBLEM)
    if problem is not None:
        raise BadReviewInput(problem)


def review_error(errors: list[Any], body_model: type[BaseModel] | None) -> ReviewError:
    """The `ReviewError` answering FastAPI's validation ``errors`` of a review API request (the first one counts)."""
    first = errors[0] if errors else {}
    loc = tuple(first.get("loc", ()))
    if loc[:1] == ("path",):
        return NotFound("no such flag")
    if first.get("type") == REVIEW_INPUT:
        return BadReviewInput(str(first.get("msg")))
    if loc[:1] != ("body",) or body_model is None:
        return BadReviewInput("malformed request")
    return body_error(first.get("type"), loc[1:], body_model)


def body_error(kind: str | None, loc: tuple[Any, ...], model: type[BaseModel]) -> BadReviewInput:
    """The message for a refusal of kind ``kind`` at ``loc`` (inside the body) by ``model``."""
    if kind == "missing" and not loc:  # an empty body reaches validation as no body: judge it as {}
        try:
            model.model_validate({})
        except ValidationError as exc:
            first = exc.errors(include_url=False, include_input=False)[0]
            if first["type"] == REVIEW_INPUT:
                return BadReviewInput(first["msg"])
            return body_error(first["type"], tuple(first["loc"]), model)
    if not loc:
        return BadReviewInput("the body must be a JSON object")
    if kind == "extra_forbidden":
        return BadReviewInput(f"unknown field(s); allowed: {', '.join(sorted(model.model_fields))}")
    field_errors: dict[str, tuple[str, str]] = getattr(model, "FIELD_ERRORS", {})
    whole, element = field_errors.get(str(loc[0]), (f"{loc[0]}: malformed", f"{loc[0]}: malformed"))
    return BadReviewInput(element if len(loc) > 1 else whole)


class ReviewApiRoute(APIRoute):
    """An API route of the review page: its body read with a size limit, its validation errors answered as review
    errors."""

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        """FastAPI's handler, wrapped."""
        handler = super().get_route_handler()
        body_model = self._body_model()

        async def handle(request: Request) -> Response:
            if body_model is not None:
                body, problem = await read_body(request)
                if problem is not None:
                    request.scope[BODY_PROBLEM] = problem
                request = Request(request.scope, _replay(body))
            try:
                return await handler(request)
            except RequestValidationError as exc:
                raise review_error(list(exc.errors()), body_model) from None

        return handle

    def _body_model(self) -> type[BaseModel] | None:
        """The model of this route's body (a `ReviewBody`), or None when it takes none."""
        for param in self.dependant.body_params:
            annotation = param.field_info.annotation
            if isinstance(annotation, type) and issubclass(annotation, ReviewBody):
                return annotation
        return None


def _replay(body: bytes) -> Callable[[], Awaitable[Message]]:
    """An ASGI receive callable that hands over ``body`` once (the body `read_body` already took off the wire)."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive
