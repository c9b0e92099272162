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
from edge.store.timestamps import Timestamp, to_utc, utc_now
from edge.store.users import check_username, set_password_hash

# Rows of sessions expired this long ago are deleted when a new one opens (the table stays bounded; expired ones
# are refused anyway).
_KEEP_EXPIRED = timedelta(days=1)
_MAX_SID_LEN = 256


def sid_hash(sid: str) -> str:
    """The stored form of a session id: its sha256 in hex."""
    if not isinstance(sid, str) or not 16 <= len(sid) <= _MAX_SID_LEN:
        raise StoreValueError("a session id must be a string of 16 to 256 characters")
    return hashlib.sha256(sid.encode("utf-8", "surrogateescape")).hexdigest()


def open_session(
    conn: Connection, sid: str, username: str, expires_at: Timestamp, now: datetime | None = None
) -> None:
    """Record a signed-in session ``sid`` of ``username`` until ``expires_at`` (and forget sessions expired long
    ago). The user need not be in the users table: users may come from the config file."""
    check_username(username)
    expires_at = to_utc(expires_at, "expires_at")
    now = now or utc_now()
    if expires_at <= now:
        raise StoreValueError("a session must expire after it opens")
    conn.execute(delete(review_sessions).where(review_sessions.c.expires_at < now - _KEEP_EXPIRED))
    conn.execute(review_sessions.insert().values(
        sid_hash=sid_hash(sid), username=username, created_at=now, expires_at=expires_at, revoked_at=None
    ))


def session_user(conn: Connection, sid: str, now: Timestamp | None = None) -> str | None:
    """The user of an open (not revoked, not expired) session, None otherwise."""
    now = utc_now() if now is None else to_utc(now)
    row = conn.execute(
        select(review_sessions.c.username).where(
            review_sessions.c.sid_hash == sid_hash(sid),
            review_sessions.c.revoked_at.is_(None),
            review_sessions.c.expires_at > now,
        )
    ).one_or_none()
    return None if row is None else str(row.username)


def revoke_session(conn: Connection, sid: str, now: datetime | None = None) -> bool:
    """Sign session ``sid`` out, for every node sharing the store; False when it was not open."""
    now = now or utc_now()
    result = conn.execute(
        update(review_sessions)
        .where(review_sessions.c.sid_hash == sid_hash(sid), review_sessions.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return result.rowcount > 0


def revoke_user_sessions(conn: Connection, username: str, now: datetime | None = None) -> int:
    """Revoke every open session of ``username``; how many were open."""
    now = now or utc_now()
    result = conn.execute(
        update(review_sessions)
        .where(review_sessions.c.username == username, review_sessions.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return int(result.rowcount)


def change_password(conn: Connection, username: str, password_hash: str, now: datetime | None = None) -> None:
    """Replace a user's password hash (from `edge.store.users.hash_password`, computed outside the transaction) and
    sign out every session of theirs; NotFoundError for an unknown user."""
    now = now or utc_now()
    set_password_hash(conn, username, password_hash, now)
    revoke_user_sessions(conn, username, now)
