"""Who may sign in: users from the config file (``review.users``, scrypt hashes) and users in the store.

A name defined in the config wins over the store's. Hashing is the store's (`edge.store.users`: scrypt, one string
format for both sources). Checking a password always runs the KDF once, also for an unknown or malformed name, so
the answer's timing does not tell which names exist.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection

from edge.review_settings import USERNAME_PATTERN, ReviewSection
from edge.store import users as user_repo
from edge.store.store import Store
from edge.store.users import DUMMY_HASH, check_password


@dataclass(frozen=True)
class ReviewUser:
    """A signed-in person: name, role ('ops' or 'admin') and where the account is defined."""

    name: str
    role: str
    source: str  # "config" | "store"

    @property
    def is_admin(self) -> bool:
        """Admins may change settings (manage users); ops users only review."""
        return self.role == "admin"


class UserDirectory:
    """Looks users up and checks passwords, config users first."""

    def __init__(self, settings: ReviewSection) -> None:
        """Users of ``settings.users`` plus whatever store each call is given."""
        self._config = {u.name: u for u in settings.users}

    def get(self, conn: Connection, name: str) -> ReviewUser | None:
        """The user called ``name`` (store users read with ``conn``), or None (also for a name that is not a valid
        user name)."""
        if not USERNAME_PATTERN.fullmatch(name):
            return None
        if name in self._config:
            return ReviewUser(name=name, role=self._config[name].role, source="config")
        user = user_repo.get_user(conn, name)
        return None if user is None else ReviewUser(name=user.username, role=user.role, source="store")

    def authenticate(self, store: Store, name: str, password: str) -> ReviewUser | None:
        """The user when ``password`` is theirs; None otherwise (unknown name, wrong password, malformed input)."""
        if not USERNAME_PATTERN.fullmatch(name) or not password or len(password) > 1024:
            check_password(password[:1024] or "x", DUMMY_HASH)
            return None
        if name in self._config:
            entry = self._config[name]
            if check_password(password, entry.password_hash.get_secret_value()):
                return ReviewUser(name=name, role=entry.role, source="config")
            return None
        with store.transaction(write=False) as conn:
            user = user_repo.verify_password(conn, name, password)  # runs the KDF for unknown names too
        return None if user is None else ReviewUser(name=user.username, role=user.role, source="store")
