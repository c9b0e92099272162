"""Review sessions in the store: opened at sign-in, revoked at sign-out or when the user's password changes.

The cookie carries a random session id; the store keeps only its sha256 (a leaked table cannot be replayed as
cookies) with the user, the expiry and when it was revoked. A session counts only while a row says it is open and
unexpired, so every node sharing the store, and every restart, sees the same sign-outs.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, select, update

from edge.store.errors import StoreValueError
from edge.store.schema import review_sessions

# Rows of sessions expired this long ago are deleted when a new one opens (the table stays bounded; expired ones
# are refused anyway).
_KEEP_EXPIRED = timedelta(days=1)
_MAX_SID_LEN = 256


def sid_hash(sid: str) -> str:
    """The stored form of a session id: its sha256 in hex."""
    if not isinstance(sid, str) or not 16 <= len(sid) <= _MAX_SID_LEN:
        raise StoreValueError("a session id must be a string of 16 to 256 characters")
    return hashlib.sha256(sid.encode("utf-8", "surrogateescape")).hexdigest()


def open_session(conn: Connection, sid: str, username: str, now: datetime, expires_at: datetime) -> None:
    """Record a new session (and forget sessions expired long ago)."""
    if expires_at <= now:
        raise StoreValueError("a session must expire after it opens")
    conn.execute(delete(review_sessions).where(review_sessions.c.expires_at < now - _KEEP_EXPIRED))
    conn.execute(review_sessions.insert().values(
        sid_hash=sid_hash(sid), username=username, created_at=now, expires_at=expires_at, revoked_at=None
    ))


def session_user(conn: Connection, sid: str, now: datetime) -> str | None:
    """The user of an open (not revoked, not expired) session, None otherwise."""
    row = conn.execute(
        select(review_sessions.c.username).where(
            review_sessions.c.sid_hash == sid_hash(sid),
            review_sessions.c.revoked_at.is_(None),
            review_sessions.c.expires_at > now,
        )
    ).one_or_none()
    return None if row is None else str(row.username)


def revoke_session(conn: Connection, sid: str, now: datetime) -> bool:
    """Revoke one session; False when it was not open."""
    result = conn.execute(
        update(review_sessions)
        .where(review_sessions.c.sid_hash == sid_hash(sid), review_sessions.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return result.rowcount > 0


def revoke_user_sessions(conn: Connection, username: str, now: datetime) -> int:
    """Revoke every open session of ``username``; how many were open."""
    result = conn.execute(
        update(review_sessions)
        .where(review_sessions.c.username == username, review_sessions.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return int(result.rowcount)
