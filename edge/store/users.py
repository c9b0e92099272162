"""Review-page users: names, roles and scrypt password hashes (repository functions + the hashing itself).

The hash is a self-describing string ``scrypt$<log2 n>$<r>$<p>$<salt b64>$<key b64>``, so the cost can be raised
later without invalidating stored hashes. scrypt (hashlib, OpenSSL) is a memory-hard KDF: no extra dependency.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select
from sqlalchemy.exc import IntegrityError

from edge.store.errors import NotFoundError, StoreValueError
from edge.store.reviews import ROLES, User
from edge.store.schema import users
from edge.store.timestamps import utc_now

_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
MIN_PASSWORD_LEN = 8
_MAX_PASSWORD_LEN = 1024  # a bound on the work one sign-in attempt can cause


@dataclass(frozen=True)
class ScryptCost:
    """scrypt parameters: n = 2**log2_n, block size r, parallelism p (2**14, 8, 1 needs 16 MiB and ~50 ms)."""

    log2_n: int = 14
    r: int = 8
    p: int = 1


DEFAULT_COST = ScryptCost()


def hash_password(password: str, cost: ScryptCost = DEFAULT_COST) -> str:
    """A new salted scrypt hash of ``password`` in the self-describing string form."""
    _check_password(password)
    salt = secrets.token_bytes(16)
    key = _derive(password, salt, cost.log2_n, cost.r, cost.p)
    return "$".join(("scrypt", str(cost.log2_n), str(cost.r), str(cost.p), _b64(salt), _b64(key)))


def check_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches the hash string ``stored`` (constant-time comparison of the derived keys)."""
    try:
        scheme, log2_n, r, p, salt_b64, key_b64 = stored.split("$")
        if scheme != "scrypt":
            return False
        salt, key = base64.b64decode(salt_b64), base64.b64decode(key_b64)
        derived = _derive(password, salt, int(log2_n), int(r), int(p), len(key))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(derived, key)


# A well-formed hash no password matches: checked for unknown users so that a wrong name costs as long as a wrong
# password (no user enumeration by timing).
DUMMY_HASH = "scrypt$14$8$1$" + "A" * 22 + "==$" + "A" * 43 + "="


def _derive(password: str, salt: bytes, log2_n: int, r: int, p: int, length: int = 32) -> bytes:
    if not 10 <= log2_n <= 20 or not 1 <= r <= 32 or not 1 <= p <= 16:
        raise ValueError("scrypt parameters out of range")
    n = 1 << log2_n
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=256 * r * n * p, dklen=length)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _check_password(password: str) -> None:
    if not isinstance(password, str) or not MIN_PASSWORD_LEN <= len(password) <= _MAX_PASSWORD_LEN:
        raise StoreValueError(f"a password must be a string of {MIN_PASSWORD_LEN} to {_MAX_PASSWORD_LEN} characters")


def check_username(username: str) -> str:
    """``username`` if it is 1-64 characters of letters, digits and ``_ . @ -`` (starting with a letter or digit)."""
    if not isinstance(username, str) or not _USERNAME.fullmatch(username):
        raise StoreValueError(
            "a username must be 1-64 characters: letters, digits, '_', '.', '@', '-', starting with a letter or digit"
        )
    return username


def _user(row: object) -> User:
    m = row._mapping  # type: ignore[attr-defined]
    return User(username=m["username"], role=m["role"], created_at=m["created_at"])


def create_user(
    conn: Connection, username: str, password_hash: str, role: str = "ops", now: datetime | None = None
) -> User:
    """Insert a user (role "ops" reviews, "admin" also manages users) with a hash from `hash_password`, which runs
    outside the transaction (it is slow on purpose); StoreValueError when the name is taken or the role unknown."""
    now = now or utc_now()
    check_username(username)
    if role not in ROLES:
        raise StoreValueError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    try:
        with conn.begin_nested():
            conn.execute(
                users.insert().values(
                    username=username, role=role, password_hash=password_hash, created_at=now, password_changed_at=now
                )
            )
    except IntegrityError as exc:
        raise StoreValueError(f"user {username!r} already exists") from exc
    return User(username=username, role=role, created_at=now)


def get_user(conn: Connection, username: str) -> User | None:
    """The user named ``username``, None when there is none."""
    row = conn.execute(select(users).where(users.c.username == username)).one_or_none()
    return None if row is None else _user(row)


def password_hash_of(conn: Connection, username: str) -> tuple[User, str] | None:
    """The user and their stored hash, None when there is no such user."""
    row = conn.execute(select(users).where(users.c.username == username)).one_or_none()
    return None if row is None else (_user(row), row.password_hash)


def verify_password(conn: Connection, username: str, password: str) -> User | None:
    """The user when ``password`` is theirs; None for a wrong password or an unknown user, which costs the same KDF
    run (no user enumeration by timing)."""
    if not isinstance(username, str) or not isinstance(password, str) or len(password) > _MAX_PASSWORD_LEN:
        return None
    found = password_hash_of(conn, username)
    if found is None:
        check_password(password, DUMMY_HASH)
        return None
    user, stored = found
    return user if check_password(password, stored) else None


def set_password_hash(conn: Connection, username: str, password_hash: str, now: datetime | None = None) -> None:
    """Replace a user's hash; NotFoundError when there is no such user. A password change also signs the user out:
    `edge.store.sessions.change_password` does both."""
    now = now or utc_now()
    result = conn.execute(
        users.update().where(users.c.username == username).values(password_hash=password_hash, password_changed_at=now)
    )
    if result.rowcount == 0:
        raise NotFoundError(f"no user {username!r}")


def list_users(conn: Connection) -> list[User]:
    """Every user, by name."""
    return [_user(r) for r in conn.execute(select(users).order_by(users.c.username))]
