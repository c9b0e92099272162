"""Per-camera bearer tokens: which camera a connection or request speaks for, decided by one pure function."""

from __future__ import annotations

import hmac

from edge.config import CameraSection, ServeConfig
from edge.protocol import CLOSE_FORBIDDEN, CLOSE_UNAUTHORIZED, Code
from vision.errors import QCError


class AuthError(QCError):
    """A camera cannot be authenticated; carries the machine code, HTTP status and WebSocket close code."""

    def __init__(self, code: Code, message: str, http_status: int, close_code: int) -> None:
        super().__init__(message)
        self.code = code
        self.http_status = http_status
        self.close_code = close_code


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, None when absent or of another scheme."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def authenticate(config: ServeConfig, camera_id: str | None, authorization: str | None) -> CameraSection:
    """The configured camera ``camera_id`` if ``authorization`` carries its token; else AuthError.

    Unknown camera or no token: 401 / close 4401. A token that is not this camera's: 403 / close 4403.
    """
    camera = config.camera(camera_id) if camera_id else None
    if camera is None:
        raise AuthError(Code.UNKNOWN_CAMERA, f"unknown camera {camera_id!r}", 401, CLOSE_UNAUTHORIZED)
    token = bearer_token(authorization)
    if token is None:
        raise AuthError(
            Code.MISSING_TOKEN, f"camera {camera_id!r}: send 'Authorization: Bearer <token>'", 401, CLOSE_UNAUTHORIZED
        )
    # Constant-time comparison: the answer must not leak how much of the token was right.
    if not hmac.compare_digest(token.encode(), camera.token.get_secret_value().encode()):
        raise AuthError(Code.BAD_TOKEN, f"wrong token for camera {camera_id!r}", 403, CLOSE_FORBIDDEN)
    return camera
