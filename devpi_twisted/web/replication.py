"""The primary's replication endpoints: the changelog stream and blobs by sha256, for replicas only."""

from __future__ import annotations

from typing import Any

from twisted.web.server import Request

from devpi_twisted.auth.replicas import InvalidReplicaToken
from devpi_twisted.replication.feed import ReplicaPeer
from devpi_twisted.replication.frames import CONTENT_TYPE
from devpi_twisted.store.blobs import is_digest
from devpi_twisted.web.context import WebContext
from devpi_twisted.web.files import StoredFile
from devpi_twisted.web.replies import HTTPError
from devpi_twisted.web.routing import route_map

_CHALLENGE = {b"www-authenticate": b'Bearer realm="devpi-replication"'}


def _header(request: Request, name: bytes, default: str) -> str:
    return (request.getHeader(name) or default.encode()).decode("ascii", "replace")


class ReplicationRoutes:
    """The primary's replication endpoints, for replicas only: the changelog stream and blobs."""

    app = route_map()

    def __init__(self, ctx: WebContext) -> None:
        self._ctx = ctx

    def _replica_uuid(self, request: Request) -> str:
        """The uuid of the replica sending C{request}; 401/403 for anyone else."""
        ctx = self._ctx
        if ctx.replication.feeds is None or ctx.replication.tokens is None:
            raise HTTPError(403, "replication is off: start the primary with --role primary")
        scheme, _, token = (request.getHeader(b"authorization") or b"").partition(b" ")
        if scheme.lower() != b"bearer" or not token:
            raise HTTPError(401, "replicas authenticate with a bearer token", _CHALLENGE)
        try:
            return ctx.replication.tokens.check(token.decode("ascii"))
        except (InvalidReplicaToken, UnicodeDecodeError) as error:
            raise HTTPError(403, str(error))

    @app.route("/+changelog/stream", methods=["GET"])
    async def stream(self, request: Request) -> Any:
        ctx = self._ctx
        uuid = self._replica_uuid(request)
        assert ctx.replication.feeds is not None
        expected = _header(request, b"x-devpi-expected-primary-uuid", "")
        if expected and expected != ctx.info.uuid:
            raise HTTPError(409, f"this is primary {ctx.info.uuid}, the replica follows {expected}")
        try:
            serial = int(_header(request, b"x-devpi-replica-serial", "-1"))
            timestamp = float(_header(request, b"x-devpi-replica-timestamp", "0"))
        except ValueError:
            raise HTTPError(400, "X-Devpi-Replica-Serial and -Timestamp must be numbers")
        if serial > ctx.store.serial:
            raise HTTPError(
                409,
                f"the replica is at serial {serial}, this primary only at {ctx.store.serial}:"
                " the primary's store is older than the replica's (restored from a backup?)",
            )
        if serial >= 0:
            rows = await ctx.io(lambda: ctx.store.entries(serial, 1))
            if not rows or rows[0][1] != timestamp:
                raise HTTPError(
                    409,
                    f"serial {serial} of the replica is not this primary's serial {serial}:"
                    " their histories differ (the primary's store was restored from a backup?)",
                )
        request.setHeader(b"content-type", CONTENT_TYPE)
        request.setHeader(b"cache-control", b"no-store")
        request.setHeader(b"x-accel-buffering", b"no")
        request.setHeader(b"x-devpi-heartbeat", repr(ctx.replication.feeds.heartbeat).encode())
        address = request.getClientAddress()
        peer = ReplicaPeer(
            remote_ip=getattr(address, "host", "?"),
            outside_url=_header(request, b"x-devpi-replica-outside-url", "") or None,
            connected_at=ctx.clock.seconds(),
        )
        await ctx.replication.feeds.connect(uuid, request, serial + 1, peer)
        return None

    @app.route("/+blobs/<string:sha256>", methods=["GET", "HEAD"])
    def blob(self, request: Request, sha256: str) -> Any:
        self._replica_uuid(request)
        if not is_digest(sha256) or not self._ctx.blobs.exists(sha256):
            raise HTTPError(404, f"no blob {sha256}")
        return StoredFile(self._ctx.blobs.path(sha256), f"+blobs/{sha256}", "application/octet-stream", sha256, None)
