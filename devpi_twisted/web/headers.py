"""The C{X-Devpi-*} headers every reply carries."""

from __future__ import annotations

from twisted.web.iweb import IRequest
from twisted.web.resource import IResource, Resource

from devpi_twisted.web.context import WebContext


class DevpiHeaders(Resource):
    """Serves C{wrapped}, adding serial, uuids and versions to each reply."""

    isLeaf = True

    def __init__(self, wrapped: IResource, ctx: WebContext) -> None:
        super().__init__()
        self._wrapped = wrapped
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
        serial = str(self._ctx.store.serial).encode("ascii")
        request.setHeader(b"x-devpi-serial", serial)
        return self._wrapped.render(request)
