"""Routes for indexes: read, create, modify, delete."""

from __future__ import annotations

from typing import Any

from twisted.web.iweb import IRequest

from devpi_twisted.model import indexes, releases
from devpi_twisted.web.context import WebContext
from devpi_twisted.web.incoming import authenticate, has_arg, permission, read_json
from devpi_twisted.web.replies import message_reply, result_reply
from devpi_twisted.web.routing import route_map
from devpi_twisted.web.simple import SimplePages, wants_simple
from devpi_twisted.web.transactions import commit

_INDEX = "/<name:username>/<name:indexname>"


class IndexRoutes:
    """The index routes of devpi's JSON API: read, create, modify, delete."""

    app = route_map()

    def __init__(self, ctx: WebContext, pages: SimplePages) -> None:
        self._ctx = ctx
        self._pages = pages

    @app.route(_INDEX, methods=["GET"], strict_slashes=False)
    async def get_index(self, request: IRequest, username: str, indexname: str) -> bytes:
        ctx = self._ctx
        if wants_simple(request):
            at_directory = request.path.endswith(b"/")
            return await self._pages.project_list(request, username, indexname, at_directory)
        config = indexes.get_index(ctx.store, username, indexname)
        view: dict[str, Any] = dict(config)
        if not has_arg(request, b"no_projects"):
            if config["type"] == indexes.MIRROR:
                name = f"{username}/{indexname}"
                view["projects"] = sorted(await ctx.mirrors.projects.names(name, config))
            else:
                view["projects"] = indexes.project_names(ctx.store, username, indexname)
        return result_reply(request, "indexconfig", view)

    @app.route(_INDEX, methods=["PUT"], strict_slashes=False)
    async def create_index(self, request: IRequest, username: str, indexname: str) -> bytes:
        ctx = self._ctx
        auth = await authenticate(ctx, request)
        with permission(auth):
            ctx.auth.policy.check_create_index(auth.identity, username, indexname)
        raw = read_json(request, ctx.json_body_limit, default={})
        config = await commit(
            ctx,
            request,
            lambda txn: indexes.create_index(txn, username, indexname, raw),
        )
        return result_reply(request, "indexconfig", config)

    @app.route(_INDEX, methods=["PATCH"], strict_slashes=False)
    async def modify_index(self, request: IRequest, username: str, indexname: str) -> bytes:
        ctx = self._ctx
        auth = await authenticate(ctx, request)
        indexes.get_index(ctx.store, username, indexname)
        with permission(auth):
            ctx.auth.policy.check_modify_index(auth.identity, username, indexname)
        body = read_json(request, ctx.json_body_limit)
        error_on_noop = has_arg(request, b"error_on_noop")
        config = await commit(
            ctx,
            request,
            lambda txn: indexes.modify_index(
                txn, username, indexname, body, error_on_noop
            ),
        )
        return result_reply(request, "indexconfig", config)

    @app.route(_INDEX, methods=["DELETE"], strict_slashes=False)
    async def delete_index(self, request: IRequest, username: str, indexname: str) -> bytes:
        ctx = self._ctx
        auth = await authenticate(ctx, request)
        indexes.get_index(ctx.store, username, indexname)
        with permission(auth):
            ctx.auth.policy.check_delete_index(auth.identity, username, indexname)
        await commit(
            ctx, request, lambda txn: releases.delete_index(txn, username, indexname)
        )
        return message_reply(request, f"index {username}/{indexname} deleted", 201)
