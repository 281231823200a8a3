"""Routes for users: list, read, create, modify, delete."""

from __future__ import annotations

from typing import Any

from twisted.web.iweb import IRequest

from devpi_twisted.model import users
from devpi_twisted.model.state import StateWriter
from devpi_twisted.web.context import WebContext
from devpi_twisted.web.incoming import authenticate, permission, read_json
from devpi_twisted.web.replies import message_reply, result_reply
from devpi_twisted.web.routing import route_map
from devpi_twisted.web.transactions import commit


class UserRoutes:
    """The user routes of devpi's JSON API: list, read, create, modify, delete."""

    app = route_map()

    def __init__(self, ctx: WebContext) -> None:
        self._ctx = ctx

    @app.route("/", methods=["GET"])
    def list_users(self, request: IRequest) -> bytes:
        return result_reply(request, "list:userconfig", users.list_users(self._ctx.store))

    @app.route("/<name:username>", methods=["GET"], strict_slashes=False)
    def get_user(self, request: IRequest, username: str) -> bytes:
        return result_reply(request, "userconfig", users.user_view(self._ctx.store, username))

    @app.route("/<name:username>", methods=["PUT"], strict_slashes=False)
    async def create_user(self, request: IRequest, username: str) -> bytes:
        ctx = self._ctx
        auth = await authenticate(ctx, request)
        with permission(auth):
            ctx.auth.policy.check_create_user(auth.identity, username)
        password, fields = users.parse_user_body(
            read_json(request, ctx.json_body_limit), creating=True
        )
        assert password is not None
        pwhash = await ctx.auth.hasher.hash(password)
        now = ctx.clock.seconds()
        await commit(
            ctx,
            request,
            lambda txn: users.create_user(txn, username, pwhash, fields, now),
        )
        return result_reply(
            request, "userconfig", users.user_view(ctx.store, username), status=201
        )

    @app.route("/<name:username>", methods=["PATCH"], strict_slashes=False)
    async def modify_user(self, request: IRequest, username: str) -> bytes:
        ctx = self._ctx
        auth = await authenticate(ctx, request)
        password, fields = users.parse_user_body(
            read_json(request, ctx.json_body_limit), creating=False
        )
        current = users.get_user(ctx.store, username)
        changed = users.changed_fields(current, fields)
        with permission(auth):
            ctx.auth.policy.check_modify_user(
                auth.identity, username, password_only=not changed
            )
        pwhash = None if password is None else await ctx.auth.hasher.hash(password)
        now = ctx.clock.seconds()

        def modify(txn: StateWriter) -> None:
            users.modify_user(txn, username, changed, pwhash, now)

        await commit(ctx, request, modify)
        if pwhash is None:
            return message_reply(request, "user updated")
        token = ctx.auth.signer.issue(username, pwhash)
        result: dict[str, Any] = {"password": token, "expiration": ctx.auth.signer.lifetime}
        return result_reply(
            request, "userpassword", result, message="user updated, new proxy auth"
        )

    @app.route("/<name:username>", methods=["DELETE"], strict_slashes=False)
    async def delete_user(self, request: IRequest, username: str) -> bytes:
        ctx = self._ctx
        auth = await authenticate(ctx, request)
        users.get_user(ctx.store, username)
        with permission(auth):
            ctx.auth.policy.check_delete_user(auth.identity, username)
        await commit(ctx, request, lambda txn: users.delete_user(txn, username))
        return message_reply(request, f"user {username!r} deleted")
