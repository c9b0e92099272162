"""`qc users`: add a store user who can then sign in; hashes for the config file verify; mistakes are clear."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from edge.ops.review.users import UserDirectory
from edge.review_settings import ReviewSection
from edge.store.store import Store
from vision.cli import build_app


def test_users_add_list_and_hash_password(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'qc.sqlite3'}"
    Store.open(url).close()  # the service's store: `qc users` manages an existing one, never creates it
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
    assert bad_role.exit_code == 2 and "Invalid value for '--role'" in bad_role.output
    assert "'root' is not one of 'ops', 'admin'" in bad_role.output

    hashed = runner.invoke(app, ["users", "hash-password", "--password-stdin"], input="config-user-pw\n")
    assert hashed.exit_code == 0
    section = ReviewSection(users=[{"name": "erin", "password_hash": hashed.stdout.strip()}])
    with Store.open(url) as store:
        assert UserDirectory(section).authenticate(store, "erin", "config-user-pw").source == "config"


def test_users_refuse_a_store_that_does_not_exist(tmp_path: Path) -> None:
    """Without --config or --store, `qc users` used to create an empty store in the per-user data folder and add the
    user there, where no service would ever read it. Now a missing store is named, with how to point at one."""
    data_home = tmp_path / "xdg-data"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("QC_")}, "XDG_DATA_HOME": str(data_home)}
    default_store = data_home / "conveyor-qc" / "qc.sqlite3"
    for args in (["add", "carol", "--role", "ops", "--password-stdin"], ["list"]):
        done = subprocess.run([sys.executable, "-m", "vision.cli", "users", *args], input="carol-password\n",
                              capture_output=True, text=True, env=env, timeout=120)
        assert done.returncode == 2, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: no store at "), done.stderr
        assert str(default_store) in lines[0] and "--config" in lines[0]
        assert done.stdout == ""
    assert not default_store.exists() and not data_home.exists()  # nothing created as a side effect

    missing = tmp_path / "elsewhere.sqlite3"
    named = CliRunner().invoke(build_app(), ["users", "list", "--store", f"sqlite:///{missing}"])
    assert named.exit_code != 0 and f"no store at {missing}" in str(named.exception)
    assert not missing.exists()


def test_role_is_a_choice_listed_in_help() -> None:
    shown = CliRunner().invoke(build_app(), ["users", "add", "--help"], terminal_width=80)
    assert shown.exit_code == 0
    assert "ops|admin" in shown.output
