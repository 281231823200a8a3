"""The UI's routes: each reads its view, renders it through the templates once per serial, and replies."""

from __future__ import annotations

import hashlib
from http import HTTPStatus
from typing import Any, Awaitable, Callable, Hashable, Optional

from twisted.python.failure import Failure
from twisted.python.filepath import FilePath
from twisted.web.iweb import IRequest
from werkzeug.exceptions import HTTPException

from devpi_twisted.mirror.upstream import UpstreamError
from devpi_twisted.model import errors, indexes
from devpi_twisted.model.errors import NotFound
from devpi_twisted.model.links import mirrors_in_order, mirrors_to_refresh, project_versions
from devpi_twisted.model.names import normalize_project
from devpi_twisted.model.releases import version_key
from devpi_twisted.search.indexer import Indexer
from devpi_twisted.search.interface import QueryError, Results
from devpi_twisted.web.api import status_result
from devpi_twisted.web.context import WebContext
from devpi_twisted.web.docs import doczip_link
from devpi_twisted.web.outside import outside_url
from devpi_twisted.web.page_cache import Page
from devpi_twisted.web.replies import HTML, HTTPError, body_reply, gateway_status, status_of
from devpi_twisted.web.routing import RouteTable, route_map
from devpi_twisted.web.simple import redirect
from devpi_twisted.web.ui import templates, views
from devpi_twisted.web.ui.describe import Descriptions
from devpi_twisted.web.ui.cache import RenderCache
from devpi_twisted.web.ui.markup import fragment
from devpi_twisted.web.ui.templates import Body, Frame, Links
from devpi_twisted.web.ui.toxreport import ToxReport, read_report

_STYLE = FilePath(__file__).sibling("static").child("style.css").getContent()
#: The stylesheet's URL changes with its content, so it may be cached for ever.
STYLE_PATH = f"/+static/{hashlib.sha256(_STYLE).hexdigest()[:16]}/style.css"
_INDEX = "/<name:username>/<name:indexname>"
_PROJECT = _INDEX + "/<name:project>"
_VERSION = _PROJECT + "/<version>"
PROJECTS_PER_PAGE = 100
NAMES_PER_PAGE = 500
VERSIONS_PER_PAGE = 100
RESULTS_PER_PAGE = 20
#: How long a mirror's page (its upstream name list) is served before it is built again.
MIRROR_LIST_RECHECK = 60.0
#: Tox results read for a version page's pass/fail marks (the others are only linked).
MAX_TOXRESULTS_READ = 100
MAX_TOXRESULT_SIZE = 10 * 1024 * 1024


def _number(request: IRequest, name: bytes = b"page") -> int:
    try:
        return max(1, int((request.args.get(name) or [b"1"])[0]))
    except ValueError:
        return 1


def _text_arg(request: IRequest, name: bytes) -> str:
    return (request.args.get(name) or [b""])[0].decode("utf-8", "replace").strip()


class StaticRoutes:
    """The UI's stylesheet, under a URL that changes with its content."""

    app = route_map()

    @app.route("/+static/<digest>/style.css", methods=["GET"])
    def stylesheet(self, request: IRequest, digest: str) -> bytes:
        if f"/+static/{digest}/style.css" != STYLE_PATH:
            raise NotFound("no such stylesheet")
        request.setHeader(b"cache-control", b"public, max-age=31536000, immutable")
        return body_reply(request, 200, b"text/css; charset=utf-8", _STYLE)


class UiRoutes:
    """The pages browsers get at devpi-web's URLs."""

    app = route_map()

    def __init__(self, ctx: WebContext, search: Optional[Indexer]) -> None:
        self._ctx = ctx
        self._search = search
        self._cache = RenderCache(ctx.store, ctx.clock)
        self._descriptions = Descriptions(ctx.io)

    # -- replying

    def links(self, request: IRequest) -> Links:
        """The URLs of pages as this request reaches them."""
        return Links(outside_url(request, self._ctx.info.outside_url))

    def _frame(self, links: Links) -> Frame:
        return Frame(links.root, links.to(STYLE_PATH), self._ctx.info.version)

    def render(self, links: Links, body: Body) -> bytes:
        """A page in the frame, as bytes."""
        return templates.page_bytes(self._frame(links), body)

    async def _cached(
        self,
        request: IRequest,
        key: Hashable,
        body: Callable[[Links], Awaitable[Body]],
        fresh_for: Optional[float] = None,
    ) -> bytes:
        links = self.links(request)

        async def render() -> bytes:
            return self.render(links, await body(links))

        page = await self._cache.get((key, links.root), render, fresh_for)
        return self._reply(request, page)

    def _reply(self, request: IRequest, page: Page) -> bytes:
        request.setHeader(b"etag", page.etag)
        request.setHeader(b"vary", b"Accept, User-Agent")
        request.setHeader(b"cache-control", b"no-cache")
        match = request.getHeader(b"if-none-match")
        if match and page.etag in [tag.strip() for tag in match.split(b",")]:
            request.setResponseCode(304)
            return b""
        return body_reply(request, 200, HTML, page.body)

    def state(self) -> tuple[str, str]:
        """The status badge: (css class, text)."""
        replica = self._ctx.replication.replica
        if replica is not None:
            status = replica.status
            if status.fatal:
                return "bad", "replication stopped"
            serials, _ = status.lag(self._ctx.store.serial, self._ctx.clock.seconds())
            if not status.connected:
                return "warn", "replica not connected"
            if serials:
                return "warn", f"replica {serials} serials behind"
        if self._ctx.mirrors.pages.outages():
            return "warn", "upstream unreachable"
        return "ok", "ok"

    # -- pages

    @app.route("/", methods=["GET"])
    def root(self, request: IRequest) -> Any:
        async def body(links: Links) -> Body:
            return templates.root_body(links, views.users_and_indexes(self._ctx.store), self.state())

        # the badge changes without a commit: it is part of the key
        return self._cached(request, ("root", self.state()), body)

    @app.route(_INDEX, methods=["GET"], strict_slashes=False)
    async def index_page(self, request: IRequest, username: str, indexname: str) -> bytes:
        ctx = self._ctx
        config = indexes.get_index(ctx.store, username, indexname)
        name, number = f"{username}/{indexname}", _number(request)
        if config["type"] != indexes.MIRROR:
            async def body(links: Links) -> Body:
                return templates.index_body(links, views.stage_index(ctx.store, name, number, PROJECTS_PER_PAGE))

            return await self._cached(request, ("index", name, number), body)
        names = await ctx.mirrors.projects.names(name, config)

        async def mirror_body(links: Links) -> Body:
            return templates.index_body(links, views.mirror_index(ctx.store, name, names, number, NAMES_PER_PAGE))

        return await self._cached(request, ("mirror", name, number), mirror_body, MIRROR_LIST_RECHECK)

    def _normalized(self, request: IRequest, username: str, indexname: str, project: str, rest: str = "") -> Optional[bytes]:
        normalized = normalize_project(project)
        if normalized == project:
            return None
        return redirect(request, self._ctx, f"/{username}/{indexname}/{normalized}{rest}")

    async def _refresh_mirrors(self, name: str, project: str) -> None:
        """Bring the upstream pages of the project up to date where upstream answers (else the cached ones show)."""
        for mirror, config in mirrors_to_refresh(self._ctx.store, name, project):
            try:
                await self._ctx.mirrors.pages.refresh(mirror, config, project)
            except (NotFound, UpstreamError):
                pass

    @app.route(_PROJECT, methods=["GET"], strict_slashes=False)
    async def project_page(self, request: IRequest, username: str, indexname: str, project: str) -> bytes:
        ctx = self._ctx
        indexes.get_index(ctx.store, username, indexname)
        moved = self._normalized(request, username, indexname, project)
        if moved is not None:
            return moved
        name, number = f"{username}/{indexname}", _number(request)
        await self._refresh_mirrors(name, project)

        async def body(links: Links) -> Body:
            view = views.project_view(
                ctx.store, name, project, mirrors_in_order(ctx.store, name), number, VERSIONS_PER_PAGE
            )
            if not view.versions and not view.mirror_files:
                raise NotFound(f"The project {project} does not exist on {name}.")
            return templates.project_body(links, view)

        return await self._cached(request, ("project", name, project, number), body)

    def _version(self, username: str, indexname: str, project: str, version: str) -> views.VersionView:
        indexes.get_index(self._ctx.store, username, indexname)
        view = views.version_view(self._ctx.store, f"{username}/{indexname}", project, version)
        if view is None:
            raise NotFound(f"The version {version} of project {project} does not exist.")
        return view

    async def _read_blob(self, sha256: str, limit: int) -> bytes:
        await self._ctx.ensure_blob(sha256)
        blobs = self._ctx.blobs

        def read() -> bytes:
            with blobs.open(sha256, 0, limit - 1) as f:
                return f.read(limit)

        return await self._ctx.io(read)

    async def _report(self, relpath: str, sha256: str) -> ToxReport:
        raw = await self._read_blob(sha256, MAX_TOXRESULT_SIZE)
        return await self._ctx.io(lambda: read_report(raw))

    @app.route(_VERSION, methods=["GET"], strict_slashes=False)
    async def version_page(self, request: IRequest, username: str, indexname: str, project: str, version: str) -> bytes:
        moved = self._normalized(request, username, indexname, project, f"/{version}")
        if moved is not None:
            return moved

        async def body(links: Links) -> Body:
            view = self._version(username, indexname, project, version)
            reports: dict[str, ToxReport] = {}
            for tox in [tox for row in view.files for tox in row.toxresults][:MAX_TOXRESULTS_READ]:
                reports[tox.relpath] = await self._report(tox.relpath, tox.sha256)
            html = await self._descriptions.html(view.description, view.description_content_type)
            return templates.version_body(links, view, fragment(html), reports)

        return await self._cached(request, ("version", username, indexname, project, version), body)

    @app.route(_VERSION + "/+toxresults/<filename>/<toxresult>", methods=["GET"])
    async def toxresult_page(
        self, request: IRequest, username: str, indexname: str, project: str, version: str, filename: str, toxresult: str
    ) -> bytes:
        async def body(links: Links) -> Body:
            view = self._version(username, indexname, project, version)
            for row in view.files:
                for tox in row.toxresults:
                    if row.filename == filename and tox.name == toxresult:
                        report = await self._report(tox.relpath, tox.sha256)
                        return templates.toxresult_body(links, view, filename, toxresult, report)
            raise NotFound(f"no tox result {toxresult} for {filename}")

        return await self._cached(request, ("toxresult", username, indexname, project, version, filename, toxresult), body)

    @app.route(_VERSION + "/+d/", methods=["GET"])
    @app.route(_VERSION + "/+d/<path:member>", methods=["GET"])
    async def docs_page(
        self, request: IRequest, username: str, indexname: str, project: str, version: str, member: str = "index.html"
    ) -> bytes:
        async def body(links: Links) -> Body:
            view = self._version(username, indexname, project, version)
            versions = project_versions(self._ctx.store, view.index, project)
            if not view.has_docs or doczip_link(versions, version) is None:
                raise NotFound(f"no documentation for {project} {version}")
            latest = next(
                (v for v in sorted(versions, key=version_key, reverse=True) if doczip_link(versions, v) is not None),
                None,
            )
            return templates.docs_body(links, view, member, latest)

        return await self._cached(request, ("docs", username, indexname, project, version, member), body)

    @app.route("/+status", methods=["GET"], strict_slashes=False)
    def status_page(self, request: IRequest) -> bytes:
        ctx = self._ctx
        result = status_result(ctx)
        now = ctx.clock.seconds()
        rows: list[tuple[str, Any]] = [
            ("Role", result["role"]),
            ("Version", ctx.info.version),
            ("Serial", str(result["serial"])),
            ("Last commit", templates.human_time(result["last-commit-timestamp"], now)),
            ("Server UUID", result["uuid"]),
            ("Outside URL", result["outside-url"] or "not set (taken from each request)"),
        ]
        if ctx.replication.replica is not None:
            rows += [
                ("Primary", result["primary-url"]),
                ("Connected to the primary", "yes" if result["replication-connected"] else "no"),
                ("Primary serial", str(result["primary-serial"])),
                ("Replication lag", f"{result['replication-lag-serials']} serials, {result['replication-lag-seconds']:.0f} seconds"),
                ("Primary last heard", templates.human_time(result["primary-contacted-at"], now)),
                ("In sync at", templates.human_time(result["replica-in-sync-at"], now)),
                ("Replication error", result["replication-error"] or "none"),
                ("Files still to fetch", str(result["replication-blobs-pending"])),
            ]
        outages = ctx.mirrors.pages.outages()
        rows.append(
            ("Upstream", "; ".join(f"{host} failing since {templates.human_time(since, now)}" for host, since in sorted(outages.items())) or "reachable (no failures)")
        )
        replicas = result.get("replicas") or []
        body = templates.status_body(rows, replicas if isinstance(replicas, list) else [], self.state())
        return body_reply(request, 200, HTML, self.render(self.links(request), body))

    @app.route("/+search", methods=["GET"])
    async def search_page(self, request: IRequest) -> bytes:
        query, number = _text_arg(request, b"query"), _number(request)
        links = self.links(request)
        results: Optional[Results] = None
        error = None
        if self._search is None:
            error = "Search is not available on this server."
        elif query:
            try:
                results = await self._search.search(query, (number - 1) * RESULTS_PER_PAGE, RESULTS_PER_PAGE)
            except QueryError as failure:
                error = str(failure)
        total = results.total if results is not None else 0
        page = views.page_of(total, number, RESULTS_PER_PAGE)
        body = templates.search_body(links, query, results, page, error)
        return body_reply(request, 400 if error and query else 200, HTML, self.render(links, body))

    @app.route("/+searchhelp", methods=["GET"])
    def search_help(self, request: IRequest) -> bytes:
        links = self.links(request)
        return body_reply(request, 200, HTML, self.render(links, templates.search_help_body(links)))


def make_ui_app(ctx: WebContext, search: Optional[Indexer]) -> RouteTable:
    """The UI's app: its pages, and errors as pages in the frame."""
    routes = UiRoutes(ctx, search)
    app = RouteTable()
    app.include(routes.app)

    def error_page(request: IRequest, status: int, message: str) -> bytes:
        links = routes.links(request)
        body = templates.error_body(status, HTTPStatus(status).phrase, message)
        return body_reply(request, status, HTML, routes.render(links, body))

    @app.handle_errors(HTTPError)
    def http_error(request: IRequest, failure: Failure) -> bytes:
        return error_page(request, failure.value.status, failure.value.message)

    @app.handle_errors(errors.ModelError)
    def model_error(request: IRequest, failure: Failure) -> bytes:
        return error_page(request, status_of(failure.value), failure.value.message)

    @app.handle_errors(UpstreamError)
    def upstream_error(request: IRequest, failure: Failure) -> bytes:
        return error_page(request, gateway_status(failure.value), failure.value.message)

    @app.handle_errors(HTTPException)
    def routing_error(request: IRequest, failure: Failure) -> bytes:
        return error_page(request, failure.value.code or 500, failure.value.description or "")

    return app
