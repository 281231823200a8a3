"""API discovery (C{+api}) and server status (C{+status})."""

from __future__ import annotations

from typing import Any, Optional

from twisted.web.iweb import IRequest

from devpi_twisted.auth.credentials import OK
from devpi_twisted.model import indexes, users
from devpi_twisted.web.context import WebContext
from devpi_twisted.web.incoming import authenticate
from devpi_twisted.web.outside import outside_url
from devpi_twisted.web.replies import json_reply, result_reply
from devpi_twisted.web.routing import route_map

#: What devpi-client may rely on this server to understand.
FEATURES = ["server-keyvalue-parsing"]


class ApiRoutes:
    """C{+api} at every level, and C{+status}."""

    app = route_map()

    def __init__(self, ctx: WebContext) -> None:
        self._ctx = ctx

    async def _apiconfig(
        self, request: IRequest, username: Optional[str], indexname: Optional[str]
    ) -> bytes:
        ctx = self._ctx
        auth = await authenticate(ctx, request)
        base = outside_url(request, ctx.info.outside_url)
        if auth.status == OK:
            authstatus = ["ok", auth.identity.username, list(auth.identity.groups)]
        else:
            authstatus = ["noauth", "", []]
        result: dict[str, Any] = {
            "login": f"{base}/+login",
            "authstatus": authstatus,
            "features": FEATURES,
        }
        if username is not None and indexname is not None:
            config = indexes.get_index(ctx.store, username, indexname)
            result["index"] = f"{base}/{username}/{indexname}"
            result["simpleindex"] = f"{base}/{username}/{indexname}/+simple/"
            if config["type"] != indexes.MIRROR:
                result["pypisubmit"] = f"{base}/{username}/{indexname}/"
        elif username is not None:
            users.get_user(ctx.store, username)
        return json_reply(request, {"type": "apiconfig", "result": result})

    @app.route("/+api", methods=["GET"], strict_slashes=False)
    def root_api(self, request: IRequest) -> Any:
        return self._apiconfig(request, None, None)

    @app.route("/<name:username>/+api", methods=["GET"], strict_slashes=False)
    def user_api(self, request: IRequest, username: str) -> Any:
        return self._apiconfig(request, username, None)

    @app.route("/<name:username>/<name:indexname>/+api", methods=["GET"], strict_slashes=False)
    def index_api(self, request: IRequest, username: str, indexname: str) -> Any:
        return self._apiconfig(request, username, indexname)

    @app.route("/+status", methods=["GET"], strict_slashes=False)
    def status(self, request: IRequest) -> bytes:
        return result_reply(request, "status", status_result(self._ctx))


def status_result(ctx: WebContext) -> dict[str, Any]:
    """What C{/+status} reports: the server, its store, its replicas or its primary."""
    info, store = ctx.info, ctx.store
    result = {
        "serverdir": info.serverdir,
        "uuid": info.uuid,
        "versioninfo": {"devpi-twisted": info.version},
        "host": info.host,
        "port": info.port,
        "outside-url": info.outside_url,
        "serial": store.serial,
        "last-commit-timestamp": store.last_commit_timestamp,
        "role": info.role,
    }
    if ctx.replication.feeds is not None:
        result["replicas"] = ctx.replication.feeds.status()
        result["polling_replicas"] = result["replicas"]  # devpi's name
    if ctx.replication.replica is not None:
        result.update(ctx.replication.replica.status.as_json(store.serial, ctx.clock.seconds()))
    return result
