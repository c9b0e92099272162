"""Signed session cookies and the CSRF tokens bound to them (pure functions of a key; no web framework here).

A session cookie is ``<payload>.<mac>``: the payload (user name, expiry, a random session id) in URL-safe base64 and an
HMAC-SHA256 over it. Nothing secret is in the cookie and nothing can be changed in it without the key; the user's
role is not in it either: every request looks the user up again, so a removed user or a changed role takes effect at
once. The signature and expiry are checked here; whether the session is still open (not signed out, password not
changed since) is the store's answer (`edge.store.sessions`), so restarts and nodes sharing a store agree.

CSRF: the token of a session is HMAC(key, "csrf" | session id); a page carries it (meta tag / hidden field) and every
state-changing request must send it back (``X-CSRF-Token`` header or ``csrf_token`` field). The sign-in form, which
has no session yet, is protected the same way by a random pre-session cookie (double submit, signed).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Session:
    """A valid signed-in session."""

    user: str
    sid: str  # random id: what the CSRF token is bound to
    expires_at: float


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def same_text(given: str, expected: str) -> bool:
    """Constant-time equality of a value a client sent and ours; any text (non-ASCII included) is just unequal.

    ``hmac.compare_digest`` refuses ``str`` with non-ASCII characters (TypeError), so both sides are compared as
    UTF-8 bytes (lone surrogates escaped rather than failing).
    """
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected.encode("utf-8", "surrogateescape"))


class SessionSigner:
    """Issues and checks session cookies and CSRF tokens with one key."""

    def __init__(self, key: bytes, ttl_s: float) -> None:
        """``key``: at least 32 bytes; ``ttl_s``: session lifetime."""
        if len(key) < 32:
            raise ValueError("the session key must be at least 32 bytes")
        self._key = key
        self.ttl_s = ttl_s

    def _mac(self, purpose: str, data: str) -> str:
        return _b64(hmac.new(self._key, f"{purpose}|{data}".encode(), hashlib.sha256).digest())

    def issue(self, user: str, now: float | None = None) -> tuple[str, Session]:
        """A new cookie value for ``user`` and the session it stands for."""
        now = time.time() if now is None else now
        session = Session(user=user, sid=secrets.token_urlsafe(18), expires_at=now + self.ttl_s)
        payload = _b64(json.dumps({"u": user, "s": session.sid, "e": int(session.expires_at)}).encode())
        return f"{payload}.{self._mac('session', payload)}", session

    def read(self, cookie: str | None, now: float | None = None) -> Session | None:
        """The session of a cookie value, or None when absent, forged, malformed or expired (whether it was signed
        out is the store's to say)."""
        if not cookie or len(cookie) > 1024 or cookie.count(".") != 1:
            return None
        payload, mac = cookie.split(".")
        if not same_text(mac, self._mac("session", payload)):
            return None
        try:
            data = json.loads(_unb64(payload))
            session = Session(user=str(data["u"]), sid=str(data["s"]), expires_at=float(data["e"]))
        except (ValueError, KeyError, TypeError):
            return None
        now = time.time() if now is None else now
        if session.expires_at <= now:
            return None
        return session

    def csrf_token(self, session: Session) -> str:
        """The CSRF token pages of ``session`` carry."""
        return self._mac("csrf", session.sid)

    def check_csrf(self, session: Session, token: str | None) -> bool:
        """True when ``token`` is the session's CSRF token."""
        return bool(token) and same_text(str(token), self.csrf_token(session))

    def login_nonce(self) -> str:
        """A random value for the pre-session cookie of the sign-in form."""
        return secrets.token_urlsafe(18)

    def login_token(self, nonce: str) -> str:
        """The sign-in form's CSRF field for pre-session cookie ``nonce``."""
        return self._mac("login", nonce)

    def check_login(self, nonce: str | None, token: str | None) -> bool:
        """True when the sign-in form's field matches its pre-session cookie."""
        return bool(nonce) and bool(token) and same_text(str(token), self.login_token(str(nonce)))
