"""Errors of the capture daemon that a user can cause or must act on; each message names the problem."""

from __future__ import annotations

from vision.errors import QCError


class CaptureError(QCError):
    """Base class of the capture daemon's errors."""


class SourceError(CaptureError):
    """The video source cannot be parsed or opened (a missing file, an unknown URL scheme, no such device)."""


class SpoolError(CaptureError):
    """The spool directory is unusable: locked by another daemon, written for another camera, or unreadable."""


class ServiceRejected(CaptureError):
    """The service refused this camera for good (unknown camera, wrong token, replaced by another daemon)."""
