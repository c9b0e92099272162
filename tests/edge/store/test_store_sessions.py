"""Review sessions in the store, on both backends: open until signed out, expired or the password changes; two
stores opened on one database (two nodes, or a restart) agree; only a hash of the session id is stored."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from store_backends import BACKENDS, empty_database
from store_tx import read, write

from edge.store import Store, StoreValueError
from edge.store.sessions import change_password, open_session, revoke_session, revoke_user_sessions, session_user
from edge.store.users import create_user, hash_password

SID_A, SID_B, SID_C = "a" * 24, "b" * 24, "c" * 24


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with empty_database(request.param, tmp_path_factory.mktemp("sessions")) as db_url:
        yield db_url


def test_sign_out_and_password_change_hold_for_every_node(url: str) -> None:
    with Store.open(url) as node1, Store.open(url) as node2:
        write(node1, create_user, "ada", hash_password("ada-password-1"), role="admin")
        later = time.time() + 3600
        write(node1, open_session, SID_A, "ada", later)
        write(node1, open_session, SID_B, "ada", later)
        write(node1, open_session, SID_C, "olga", later)  # a config-file user: sessions do not need a store user
        assert read(node2, session_user, SID_A) == "ada" and read(node2, session_user, SID_C) == "olga"
        assert write(node2, revoke_session, SID_A) is True
        assert read(node1, session_user, SID_A) is None  # signed out on one node: out on the other
        assert write(node1, revoke_session, SID_A) is False  # already out
        write(node2, change_password, "ada", hash_password("ada-password-2"))  # revokes every session of that user
        assert read(node1, session_user, SID_B) is None
        assert read(node1, session_user, SID_C) == "olga"
        assert write(node1, revoke_user_sessions, "olga") == 1 and read(node2, session_user, SID_C) is None
    with Store.open(url) as restarted:  # a restart changes nothing
        assert read(restarted, session_user, SID_A) is None and read(restarted, session_user, SID_B) is None


def test_expiry_is_enforced_by_the_store(url: str) -> None:
    with Store.open(url) as store:
        now = time.time()
        write(store, open_session, SID_A, "olga", now + 60)
        assert read(store, session_user, SID_A, now=now + 59) == "olga"
        assert read(store, session_user, SID_A, now=now + 61) is None
        with pytest.raises(StoreValueError, match="expire after"):
            write(store, open_session, SID_B, "olga", now - 1)
        with pytest.raises(StoreValueError, match="session id"):
            write(store, open_session, "short", "olga", now + 60)
        with store._engine.connect() as conn:  # only the sha256 of the id is kept
            stored = conn.execute(text("SELECT sid_hash FROM review_sessions")).scalars().all()
        assert stored and SID_A not in stored and all(len(h) == 64 for h in stored)
