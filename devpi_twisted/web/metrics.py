"""GET /+metrics: the server's metrics in the Prometheus text format."""

from __future__ import annotations

from klein import Klein
from twisted.web.iweb import IRequest

from devpi_twisted.metrics import CONTENT_TYPE
from devpi_twisted.web.context import WebContext


def add_routes(app: Klein, ctx: WebContext) -> None:
    """Register C{GET /+metrics}, with the store's serial among the metrics."""
    ctx.metrics.gauge(
        "devpi_store_serial", "Serial of the store's latest commit.", lambda: ctx.store.serial
    )

    @app.route("/+metrics", methods=["GET"], strict_slashes=False)
    def metrics(request: IRequest) -> bytes:
        request.setHeader(b"content-type", CONTENT_TYPE.encode("ascii"))
        request.setHeader(b"cache-control", b"no-store")
        return ctx.metrics.render().encode("utf-8")
