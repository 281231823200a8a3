"""C{POST} of a tox result (devpi test) to a release file's C{+f/} URL."""

from __future__ import annotations

import json

from twisted.web.iweb import IRequest

from devpi_twisted.model import acl, keys, releases
from devpi_twisted.model.errors import NotFound, PermissionDenied
from devpi_twisted.model.releases import StoredBlob
from devpi_twisted.store.blobs import IBlobWriter, finished_blob
from devpi_twisted.store.changelog import Transaction
from devpi_twisted.web.context import WebContext
from devpi_twisted.web.incoming import authenticate, permission
from devpi_twisted.web.replies import HTTPError, result_reply
from devpi_twisted.web.routing import route_map
from devpi_twisted.web.transactions import commit


class ToxResultRoutes:
    """Tox results (devpi test) posted to a release file's C{+f/} URL."""

    app = route_map()

    def __init__(self, ctx: WebContext) -> None:
        self._ctx = ctx

    @app.route("/<name:username>/<name:indexname>/+f/<path:rest>", methods=["POST"])
    async def upload_toxresult(
        self, request: IRequest, username: str, indexname: str, rest: str
    ) -> bytes:
        ctx = self._ctx
        config = releases.stage_config(ctx.store, username, indexname)
        auth = await authenticate(ctx, request)
        with permission(auth):
            if not acl.may_upload_toxresult(auth.identity, config):
                raise PermissionDenied(
                    "No permission to upload tox results. You can use the devpi test "
                    "--no-upload option to skip the upload."
                )
        body = request.content.read(ctx.json_body_limit + 1)
        if len(body) > ctx.json_body_limit:
            raise HTTPError(413, f"tox result larger than {ctx.json_body_limit} bytes")
        try:
            json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise HTTPError(400, "Bad request: could not decode json")
        relpath = f"{username}/{indexname}/+f/{rest}"
        if ctx.store.get(keys.file(relpath)) is None:
            raise NotFound(f"no release file found at {relpath}")

        def write() -> tuple[StoredBlob, IBlobWriter]:
            writer = finished_blob(ctx.blobs, body)
            return StoredBlob("toxresult", writer.digests()["sha256"], len(body)), writer

        blob, writer = await ctx.io(write)
        now = ctx.clock.seconds()

        def store(txn: Transaction) -> releases.Outcome:
            outcome = releases.add_toxresult(
                txn, username, indexname, relpath, blob, auth.identity.username, now
            )
            txn.before_commit(writer.publish)
            return outcome

        try:
            outcome = await commit(ctx, request, store)
        finally:
            await ctx.io(writer.abort)
        return result_reply(
            request, "toxresultpath", f"{outcome.relpath}#sha256={blob.sha256}"
        )
