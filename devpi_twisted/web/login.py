"""C{POST /+login}: exchange a password for a signed, expiring token."""

from __future__ import annotations

from twisted.web.iweb import IRequest

from devpi_twisted.auth.credentials import OK, Credentials
from devpi_twisted.model import users
from devpi_twisted.web.context import WebContext
from devpi_twisted.web.incoming import read_json
from devpi_twisted.web.replies import HTTPError, result_reply
from devpi_twisted.web.routing import route_map


class LoginRoutes:
    """C{+login}: a password exchanged for a token."""

    app = route_map()

    def __init__(self, ctx: WebContext) -> None:
        self._ctx = ctx

    @app.route("/+login", methods=["POST"], strict_slashes=False)
    async def login(self, request: IRequest) -> bytes:
        ctx = self._ctx
        body = read_json(request, ctx.json_body_limit)
        username = body.get("user") if isinstance(body, dict) else None
        password = body.get("password") if isinstance(body, dict) else None
        if not isinstance(username, str) or not isinstance(password, str):
            raise HTTPError(400, "Bad request: no user/password specified")
        auth = await ctx.auth.authenticator.authenticate(Credentials(username, password))
        if auth.status != OK:
            raise HTTPError(401, f"user {username!r} could not be authenticated")
        pwhash = users.get_user(ctx.store, username)["pwhash"]
        token = ctx.auth.signer.issue(username, pwhash)
        return result_reply(
            request,
            "proxyauth",
            {"password": token, "expiration": ctx.auth.signer.lifetime},
            message="login successful",
        )
