"""Settings, for admins only: ``GET /review/admin/users`` lists who may sign in, ``POST`` adds a user to the store.

Ops users (reviewers) get 403 here, for reading and for changing.
"""

# No `from __future__ import annotations`: the handlers' Annotated dependencies are local to the factory.
from typing import Annotated

from fastapi import APIRouter, Depends
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from edge.ops.review.auth_routes import read_form
from edge.ops.review.context import PREFIX, Principal, ReviewContext, store_transaction
from edge.ops.review.errors import BadReviewInput, Conflict, Forbidden, TooManyRequests
from edge.ops.review.throttle import KdfBusy
from edge.review_settings import ROLES, USERNAME_PATTERN
from edge.store import users as user_repo
from edge.store.errors import StoreValueError


def router(ctx: ReviewContext) -> APIRouter:
    """The admin routes of ``ctx``."""
    r = APIRouter(prefix=f"{PREFIX}/admin", include_in_schema=False)
    Admin = Annotated[Principal, Depends(ctx.admin)]
    ReadTx = Annotated[Connection, Depends(ctx.read_transaction, scope="function")]

    @r.get("/users")
    def users(request: Request, who: Admin, tx: ReadTx) -> Response:
        """Users from the config file and from the store."""
        stored = user_repo.list_users(tx)
        return ctx.templates.TemplateResponse(request, "users.html", {
            "who": who, "nav": "users", "csrf_token": who.csrf_token, "config_users": ctx.settings.users,
            "store_users": stored, "roles": ROLES, "added": request.query_params.get("added") == "1",
        })

    @r.post("/users")
    async def add_user(request: Request) -> Response:
        """Add a user to the store (form: username, password, role, csrf_token)."""
        form = await read_form(request)
        who = await run_in_threadpool(ctx.principal, request)
        ctx.check_write(request, who, form.get("csrf_token"))
        if not who.user.is_admin:
            raise Forbidden("only an admin can change settings")
        name, password, role = form.get("username", "").strip(), form.get("password", ""), form.get("role", "")
        if not USERNAME_PATTERN.fullmatch(name):
            raise BadReviewInput("username: 1-64 characters of A-Z a-z 0-9 _ . @ -")
        if role not in ROLES:
            raise BadReviewInput(f"role: one of {', '.join(ROLES)}")
        if any(u.name == name for u in ctx.settings.users):
            raise Conflict("that user is defined in the config file")
        store = ctx.store_of(request)

        def exists() -> bool:
            with store_transaction(store, write=False) as conn:
                return user_repo.get_user(conn, name) is not None

        def create(hashed: str) -> None:
            with store_transaction(store, write=True) as conn:
                user_repo.create_user(conn, name, hashed, role)

        if await run_in_threadpool(exists):
            raise Conflict("that user exists already")
        try:
            hashed = await ctx.kdf.run(user_repo.hash_password, password)  # hashing: on the one KDF thread
            await run_in_threadpool(create, hashed)  # the write lock is taken after the slow hash, not during it
        except KdfBusy:
            raise TooManyRequests("password checks are busy; try again in 1 s", 1) from None
        except StoreValueError as exc:  # the store's rules (password length, name); its message quotes no input
            raise BadReviewInput(str(exc)) from None
        return RedirectResponse(f"{PREFIX}/admin/users?added=1", status_code=303)

    return r
