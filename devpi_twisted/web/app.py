"""Assembles the klein app: the route classes in one URL map, and error replies."""

from __future__ import annotations

from klein import Klein
from twisted.python.failure import Failure
from twisted.web.iweb import IRequest
from twisted.web.resource import IResource
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from devpi_twisted.mirror.upstream import UpstreamError
from devpi_twisted.model import errors
from devpi_twisted.store.blobs import BlobStoreUnavailable
from devpi_twisted.store.changelog import ReadOnlyStore
from devpi_twisted.web.api import ApiRoutes
from devpi_twisted.web.context import WebContext
from devpi_twisted.web.docs import DocRoutes
from devpi_twisted.web.files import FileRoutes
from devpi_twisted.web.headers import DevpiHeaders
from devpi_twisted.web.indexes import IndexRoutes
from devpi_twisted.web.login import LoginRoutes
from devpi_twisted.web.metrics import MetricsRoutes
from devpi_twisted.web.projects import ProjectRoutes
from devpi_twisted.web.replication import ReplicationRoutes
from devpi_twisted.web.relay import ReplicaGate
from devpi_twisted.web.replies import HTTPError, blob_store_status, error_reply, gateway_status, status_of
from devpi_twisted.web.routing import RouteTable
from devpi_twisted.web.simple import SimplePages, SimpleRoutes
from devpi_twisted.web.toxresults import ToxResultRoutes
from devpi_twisted.web.ui.gate import BrowserGate
from devpi_twisted.web.ui.routes import StaticRoutes, make_ui_app
from devpi_twisted.web.upload import Uploads
from devpi_twisted.web.users import UserRoutes


def make_app(ctx: WebContext, pages: SimplePages) -> Klein:
    """The klein app serving devpi's protocols from C{ctx}."""
    app = RouteTable()
    for routes in (
        ApiRoutes(ctx).app,
        LoginRoutes(ctx).app,
        UserRoutes(ctx).app,
        FileRoutes(ctx).app,
        ToxResultRoutes(ctx).app,
        Uploads(ctx).app,
        DocRoutes(ctx).app,
        MetricsRoutes(ctx).app,
        ReplicationRoutes(ctx).app,
        IndexRoutes(ctx, pages).app,
        SimpleRoutes(ctx, pages).app,
        ProjectRoutes(ctx, pages).app,
        StaticRoutes().app,
    ):
        app.include(routes)

    @app.handle_errors(HTTPError)
    def http_error(request: IRequest, failure: Failure) -> bytes:
        error = failure.value
        for name, value in error.headers.items():
            request.setHeader(name, value)
        return error_reply(request, error.status, error.message)

    @app.handle_errors(UpstreamError)
    def upstream_error(request: IRequest, failure: Failure) -> bytes:
        error = failure.value
        return error_reply(request, gateway_status(error), error.message)

    @app.handle_errors(BlobStoreUnavailable)
    def blob_store_unavailable(request: IRequest, failure: Failure) -> bytes:
        return error_reply(request, blob_store_status(failure.value), str(failure.value))

    @app.handle_errors(ReadOnlyStore)
    def read_only(request: IRequest, failure: Failure) -> bytes:
        return error_reply(request, 503, str(failure.value))

    @app.handle_errors(errors.ModelError)
    def model_error(request: IRequest, failure: Failure) -> bytes:
        error = failure.value
        return error_reply(request, status_of(error), error.message)

    @app.handle_errors(HTTPException)
    def routing_error(request: IRequest, failure: Failure) -> bytes:
        error = failure.value
        if isinstance(error, MethodNotAllowed):
            method = request.method.decode("ascii", "replace")
            message = f"method {method} is not allowed for {request.uri.decode('utf-8', 'replace')}"
            allowed = ", ".join(error.valid_methods or [])
            request.setHeader(b"allow", allowed.encode("ascii"))
        else:
            message = f"The resource could not be found: {request.path.decode('utf-8', 'replace')}"
        return error_reply(request, error.code or 500, message)

    return app


def make_resource(ctx: WebContext) -> IResource:
    """
    The root resource: the app (and, for browsers, the UI) behind devpi's
    per-reply headers (on a replica, behind its write relay).
    """
    pages = SimplePages(ctx)
    ui = make_ui_app(ctx, ctx.search)
    gate = BrowserGate(ui.resource(), ui.url_map, make_app(ctx, pages).resource())
    resource: IResource = DevpiHeaders(gate, ctx, pages.cached_reply)
    replica = ctx.replication.replica
    return resource if replica is None else ReplicaGate(resource, replica.forwarder)
