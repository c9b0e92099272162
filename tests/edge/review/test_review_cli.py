"""`qc users`: add a store user who can then sign in; hashes for the config file verify; mistakes are clear."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from edge.review.settings import ReviewSection
from edge.review.users import UserDirectory
from edge.store.store import Store
from vision.cli import build_app


def test_users_add_list_and_hash_password(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'qc.sqlite3'}"
    app, runner = build_app(), CliRunner()
    added = runner.invoke(app, ["users", "add", "carol", "--role", "admin", "--store", url, "--password-stdin"],
                          input="carol-password\n")
    assert added.exit_code == 0, added.output
    assert json.loads(added.stdout) == {"username": "carol", "role": "admin"}
    listed = runner.invoke(app, ["users", "list", "--store", url])
    assert [u["username"] for u in json.loads(listed.stdout)] == ["carol"]
    with Store.open(url) as store:
        directory = UserDirectory(ReviewSection())
        assert directory.authenticate(store, "carol", "carol-password").role == "admin"
        assert directory.authenticate(store, "carol", "wrong-password") is None

    again = runner.invoke(app, ["users", "add", "carol", "--store", url, "--password-stdin"], input="other-pw-123\n")
    assert again.exit_code != 0 and "already exists" in str(again.exception)
    bad_role = runner.invoke(app, ["users", "add", "dave", "--role", "root", "--store", url, "--password-stdin"],
                             input="dave-password\n")
    assert bad_role.exit_code != 0 and "role must be one of" in str(bad_role.exception)

    hashed = runner.invoke(app, ["users", "hash-password", "--password-stdin"], input="config-user-pw\n")
    assert hashed.exit_code == 0
    section = ReviewSection(users=[{"name": "erin", "password_hash": hashed.stdout.strip()}])
    with Store.open(url) as store:
        assert UserDirectory(section).authenticate(store, "erin", "config-user-pw").source == "config"
