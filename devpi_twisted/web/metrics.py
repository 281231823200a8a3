"""GET /+metrics: the server's metrics in the Prometheus text format."""

from __future__ import annotations

from twisted.web.iweb import IRequest

from devpi_twisted.metrics import CONTENT_TYPE
from devpi_twisted.web.context import WebContext
from devpi_twisted.web.routing import route_map


class MetricsRoutes:
    """C{GET /+metrics}, with the store's serial among the metrics."""

    app = route_map()

    def __init__(self, ctx: WebContext) -> None:
        self._metrics = ctx.metrics
        store = ctx.store
        ctx.metrics.gauge("devpi_store_serial", "Serial of the store's latest commit.", lambda: store.serial)

    @app.route("/+metrics", methods=["GET"], strict_slashes=False)
    def metrics(self, request: IRequest) -> bytes:
        request.setHeader(b"content-type", CONTENT_TYPE.encode("ascii"))
        request.setHeader(b"cache-control", b"no-store")
        return self._metrics.render().encode("utf-8")
