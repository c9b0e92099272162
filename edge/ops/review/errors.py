"""The review page's errors and how they are answered: a JSON body for the API, an HTML page otherwise.

Messages are written by us and never contain what the request sent; the HTML error page is rendered by Jinja2 with
autoescaping anyway, so even a message that quoted input could not inject markup.
"""

from __future__ import annotations

from vision.errors import QCError


class ReviewError(QCError):
    """A refused review request; ``status`` is its HTTP status."""

    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadReviewInput(ReviewError):
    """A parameter or body field is missing or malformed (the message names the field, never its value)."""

    status = 400


class NotSignedIn(ReviewError):
    """No valid session: the API answers 401, pages redirect to the sign-in form."""

    status = 401


class Forbidden(ReviewError):
    """Signed in (or a bearer token) but not allowed: a camera token, an ops user on a settings page, a missing or
    wrong CSRF token, a cross-site request."""

    status = 403


class NotFound(ReviewError):
    """No flag, crop or frame with that id (or the id is not an id)."""

    status = 404


class Unavailable(ReviewError):
    """The store cannot be reached right now; try again."""

    status = 503


class Conflict(ReviewError):
    """The action no longer applies (someone else reviewed the flag since)."""

    status = 409


class TooManyRequests(ReviewError):
    """Too many sign-in attempts (or password checks at once); ``retry_after_s`` says when to try again."""

    status = 429

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
