"""The C{X-Devpi-*} headers every reply carries."""

from __future__ import annotations

from typing import Callable, Optional, cast

from twisted.web.iweb import IRequest
from twisted.web.resource import IResource, Resource
from twisted.web.server import NOT_DONE_YET

from devpi_twisted.web.access_log import CACHED_SIMPLE_PAGE
from devpi_twisted.web.context import WebContext
from devpi_twisted.web.site import LimitedRequest


class DevpiHeaders(Resource):
    """
    Serves C{wrapped}, adding serial, uuids and versions to each reply;
    C{shortcut} may answer a request first (a cached page) or return None.
    """

    isLeaf = True

    def __init__(
        self,
        wrapped: IResource,
        ctx: WebContext,
        shortcut: Callable[[IRequest], Optional[bytes]],
    ) -> None:
        super().__init__()
        self._wrapped = wrapped
        self._shortcut = shortcut
        self._ctx = ctx
        uuid = ctx.info.uuid.encode("ascii")
        self._fixed = [
            (b"x-devpi-uuid", uuid),
            (b"x-devpi-primary-uuid", uuid),
            (b"x-devpi-master-uuid", uuid),
            (b"x-devpi-api-version", b"2"),
            (b"x-devpi-server-version", ctx.info.version.encode("ascii")),
        ]

    def render(self, request: IRequest) -> object:
        for name, value in self._fixed:
            request.setHeader(name, value)
        if self._ctx.replication.replica is not None:
            primary = (self._ctx.replication.replica.status.primary_uuid or "").encode("ascii")
            request.setHeader(b"x-devpi-primary-uuid", primary)
            request.setHeader(b"x-devpi-master-uuid", primary)
        serial = str(self._ctx.store.serial).encode("ascii")
        request.setHeader(b"x-devpi-serial", serial)
        reply = self._shortcut(request)
        limited = cast(LimitedRequest, request)  # the site makes only these
        if reply is not None:
            limited.route = CACHED_SIMPLE_PAGE
        if reply is not None and limited.code == 304:
            # finished here: returning b"" would make twisted add Content-Length: 0
            request.finish()
            return NOT_DONE_YET
        if reply is not None:
            return reply
        return self._wrapped.render(request)
