"""`qc users`: review-page users in the store (add, set a password, list) and hashes for the config file."""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from vision.errors import InputError

app = typer.Typer(help="Review-page users: who may sign in to /review, and with which role.", no_args_is_help=True)


class Role(str, Enum):
    """A review-page role: a choice, so `--help` lists them and a typo is refused before the password prompt."""

    ops = "ops"
    admin = "admin"


ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="Service YAML config (for the store URL); QC_* env overrides it.")
]
StoreOption = Annotated[str | None, typer.Option("--store", help="Store URL; default the config's store.")]
StdinOption = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from the first line of stdin (no prompt).")
]


def _password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    if not password:
        raise InputError("the password is empty")
    return password


def _open_store(config: Path | None, store: str | None):  # noqa: ANN202 - edge.store.Store, imported lazily
    """The service's store, which must exist: users added to a store no service reads could never sign in."""
    from edge.store.existing import open_existing

    if store is None:
        from edge.config import load_config

        store = load_config(config).store_url
    return open_existing(
        store, how_to_point="point at the service's store with --config serve.yaml (the file `qc serve --config` "
        "runs with) or --store URL"
    )


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="User name (1-64 of A-Z a-z 0-9 _ . @ -).")],
    role: Annotated[
        Role, typer.Option("--role", help="'ops' reviews flagged items; 'admin' also manages users.")
    ] = Role.ops,
    config: ConfigOption = None,
    store: StoreOption = None,
    password_stdin: StdinOption = False,
) -> None:
    """Add a user to the store (the password is asked for, and stored only as a scrypt hash)."""
    from edge.store.users import check_username, create_user, hash_password

    with _open_store(config, store) as opened:  # first: no password prompt for a store that is not there
        password = _password(password_stdin)
        check_username(name)
        hashed = hash_password(password)  # the slow KDF runs before the write transaction opens
        with opened.transaction(write=True) as conn:
            user = create_user(conn, name, hashed, role.value)
    typer.echo(json.dumps({"username": user.username, "role": user.role}))


@app.command("set-password")
def set_password(
    name: Annotated[str, typer.Argument(help="An existing user in the store.")],
    config: ConfigOption = None,
    store: StoreOption = None,
    password_stdin: StdinOption = False,
) -> None:
    """Replace a store user's password."""
    from edge.store.sessions import change_password
    from edge.store.users import hash_password

    with _open_store(config, store) as opened:  # first: no password prompt for a store that is not there
        hashed = hash_password(_password(password_stdin))
        with opened.transaction(write=True) as conn:
            change_password(conn, name, hashed)  # also signs out every session of the user
    typer.echo(json.dumps({"username": name, "password": "changed"}))


@app.command("list")
def list_users(config: ConfigOption = None, store: StoreOption = None) -> None:
    """The store's users as JSON (users defined in the config file are listed there)."""
    from edge.store.users import list_users as stored_users

    with _open_store(config, store) as opened, opened.transaction(write=False) as conn:
        users = stored_users(conn)
    typer.echo(json.dumps([{"username": u.username, "role": u.role, "created_at": u.created_at.isoformat()}
                           for u in users]))


@app.command("hash-password")
def hash_password(password_stdin: StdinOption = False) -> None:
    """Print the scrypt hash of a password, for review.users[].password_hash in the config file."""
    from edge.store.users import hash_password as kdf

    typer.echo(kdf(_password(password_stdin)))
