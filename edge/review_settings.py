"""The ``review`` section of the service configuration: who may sign in, and how sessions behave.

Beside `edge.config`, not inside the review page's package (`edge.ops.review`): the config includes this section and
the review page's commands read the config, so living in `edge.ops` would make config and ops import each other.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

Role = Literal["ops", "admin"]
ROLES: tuple[str, ...] = ("ops", "admin")
USERNAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")  # as the store's user names


class ReviewUserSection(BaseModel):
    """A user defined in the config file (users can also live in the store: ``qc users add``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="User name (1-64 of [A-Za-z0-9_.@-], starting with a letter or digit).")
    role: Role = Field("ops", description="'ops' reviews flagged items; 'admin' also manages users (settings).")
    password_hash: SecretStr = Field(
        description="The password's KDF hash as printed by `qc users hash-password` (scrypt; never the password)."
    )

    @field_validator("name")
    @classmethod
    def _name_format(cls, v: str) -> str:
        if not USERNAME_PATTERN.fullmatch(v):
            raise ValueError("user name must be 1-64 characters of [A-Za-z0-9_.@-]")
        return v


class ReviewSection(BaseModel):
    """The review page served under ``/review``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(True, description="Serve the review page under /review.")
    users: list[ReviewUserSection] = Field(
        default_factory=list, description="Users from the config file; users added with `qc users add` (in the "
        "store) can sign in too. A name defined here wins over the store's."
    )
    secret_key: SecretStr | None = Field(
        None, description="Key that signs session cookies and CSRF tokens (>= 32 chars). Default: a random key per "
        "start, so everybody signs in again after a restart. Set it when several processes serve the page."
    )
    session_ttl_s: float = Field(8 * 3600, gt=60, description="How long a sign-in lasts (seconds).")
    secure_cookies: bool | None = Field(
        None, description="Mark cookies Secure (HTTPS only). Default: when the request came over HTTPS."
    )
    signin_failures_per_user: int = Field(
        5, ge=1, description="Failed sign-ins a user name may have within signin_window_s before it is locked out."
    )
    signin_failures_per_address: int = Field(
        20, ge=1, description="Failed sign-ins one client address may have within signin_window_s before it is "
        "locked out (any user names)."
    )
    signin_window_s: float = Field(300.0, gt=0, description="The window failed sign-ins are counted in (seconds).")
    signin_lockout_s: float = Field(
        60.0, gt=0, description="How long a locked-out user name or address is answered 'try again in N s' (429)."
    )
    page_size: int = Field(25, ge=1, le=200, description="Flagged items per queue page.")
    poll_interval_s: float = Field(
        4.0, ge=0.5, le=300, description="How often an open review page asks the service for queue changes."
    )

    @field_validator("secret_key")
    @classmethod
    def _key_length(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and len(v.get_secret_value()) < 32:
            raise ValueError("secret_key must be at least 32 characters")
        return v

    @field_validator("users")
    @classmethod
    def _unique_names(cls, v: list[ReviewUserSection]) -> list[ReviewUserSection]:
        seen: set[str] = set()
        for user in v:
            if user.name in seen:
                raise ValueError(f"user {user.name!r} appears twice")
            seen.add(user.name)
        return v
