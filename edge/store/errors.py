"""Errors the store raises; each message names the store (password hidden), the record or the value at fault."""

from __future__ import annotations

from vision.errors import QCError


class StoreError(QCError):
    """The store cannot be opened or used: bad URL, unreachable server, unknown schema revision, conflicting record."""


class StoreUnavailableError(StoreError):
    """The database could not be reached, dropped the connection, or stayed locked past the busy timeout.

    Retry later. The write did not happen, except when the connection died during COMMIT itself, when it may have:
    commit_frame and record_dropped are idempotent, so retrying them is always safe.
    """


class NotFoundError(StoreError, LookupError):
    """No record with the requested id (item, flag, crop)."""


class StoreValueError(StoreError, ValueError):
    """A value handed to the store is unusable: a naive datetime, an item of another camera, a bad status."""
