"""The simple API: project lists and project pages, at +simple/ and for installers at the index root."""

from __future__ import annotations

import re
from typing import Optional

from twisted.logger import Logger
from twisted.web.http import datetimeToString
from twisted.web.iweb import IRequest

from devpi_twisted.model import indexes, mirrors
from devpi_twisted.model.errors import InvalidInput, NotFound
from devpi_twisted.mirror.upstream import UpstreamError
from devpi_twisted.model.links import (
    installable_offline,
    mirrors_in_order,
    mirrors_to_refresh,
    project_links,
    project_names,
)
from devpi_twisted.model.names import normalize_project
from devpi_twisted.web.context import WebContext
from devpi_twisted.web.outside import outside_url
from devpi_twisted.web.negotiation import (
    CONTENT_TYPES,
    SIMPLE_JSON,
    TEXT_HTML,
    choose_simple_type,
    is_installer,
)
from devpi_twisted.web.page_cache import Page, PageCache
from devpi_twisted.web.replies import body_reply
from devpi_twisted.web.routing import route_map
from devpi_twisted.web.simple_pages import list_html, list_json, project_html, project_json

#: From C{/u/i/+simple/p/} and from C{/u/i/p/} back to the server root.
FROM_SIMPLE_PROJECT = "../../../../"
FROM_INDEX_PROJECT = "../../../"
#: GETs that may be answered straight from the page cache: /u/i/+simple/ and /u/i/+simple/p/
_CACHEABLE_PATH = re.compile(rb"/([^/+%][^/%]*)/([^/+%][^/%]*)/\+simple/(?:([^/%]+)/)?")
_MEDIA_TYPES_REMEMBERED = 256
#: How often a project list that includes mirrors is rebuilt from their (cached) lists.
LIST_RECHECK = 60.0
_log = Logger()


class SimplePages:
    """Serves simple pages for any index from a cache of rendered bytes."""

    def __init__(self, ctx: WebContext) -> None:
        self._ctx = ctx
        self._cache = PageCache(ctx.store, ctx.clock, metrics=ctx.metrics)
        self._media_types: dict[Optional[bytes], str] = {}

    def _choose(self, accept: Optional[bytes]) -> str:
        """
        L{choose_simple_type}, remembered for the few Accept headers clients
        send; HTML when none of the simple API's types is acceptable (as
        devpi does: PEP 691 lets a server pick a default instead of 406).
        """
        try:
            return self._media_types[accept]
        except KeyError:
            if len(self._media_types) >= _MEDIA_TYPES_REMEMBERED:
                self._media_types.clear()
            media = self._media_types[accept] = choose_simple_type(accept) or TEXT_HTML
            return media

    def cached_reply(self, request: IRequest) -> Optional[bytes]:
        """
        The reply to a GET of a C{+simple/} page straight from the page cache,
        skipping the router; None for a miss or anything unusual, which the
        router then handles.
        """
        if request.method != b"GET" or request.getHeader(b"x-devpi-absolute-urls") is not None:
            return None
        match = _CACHEABLE_PATH.fullmatch(request.path)
        if match is None:
            return None
        media = self._choose(request.getHeader(b"accept"))
        try:
            username, indexname, project = (
                None if part is None else part.decode("utf-8") for part in match.groups()
            )
        except UnicodeDecodeError:
            return None
        name, as_json = f"{username}/{indexname}", media == SIMPLE_JSON
        if project is None:
            page = self._cache.peek((name, None, as_json, ""))
        else:
            page = self._cache.peek((name, project, as_json, FROM_SIMPLE_PROJECT))
        return None if page is None else self._reply(request, media, page)

    def forget(self, project: str) -> None:
        """Drop the cached pages of a project (its mirror pages are being refreshed)."""
        self._cache.drop_project(project)

    def _media_type(self, request: IRequest) -> str:
        return self._choose(request.getHeader(b"accept"))

    def _reply(self, request: IRequest, media: str, page: Page) -> bytes:
        request.setHeader(b"vary", b"Accept, User-Agent")
        request.setHeader(b"etag", page.etag)
        for header, value in page.headers:
            request.setHeader(header, value)
        if page.stale:
            now = datetimeToString(self._ctx.clock.seconds())
            request.setHeader(b"cache-control", b"max-age=0, must-revalidate, no-cache, no-store")
            request.setHeader(b"pragma", b"no-cache")
            request.setHeader(b"expires", now)
            request.setHeader(b"last-modified", now)
        match = request.getHeader(b"if-none-match")
        if match and page.etag in [tag.strip() for tag in match.split(b",")]:
            request.setResponseCode(304)
            return b""
        return body_reply(request, 200, CONTENT_TYPES[media], page.body)

    async def _refresh_mirrors(self, name: str, project: str) -> tuple[Optional[float], bool, list[UpstreamError]]:
        """
        Bring the upstream pages a project's page on C{name} needs up to
        date: (until when the page is fresh, whether it is stale, failures).
        """
        fresh_until: Optional[float] = None
        stale = False
        failures: list[UpstreamError] = []
        for mirror, config in mirrors_to_refresh(self._ctx.store, name, project):
            try:
                stale = await self._ctx.mirrors.pages.refresh(mirror, config, project) or stale
            except NotFound:
                pass
            except UpstreamError as error:
                failures.append(error)
                stale = True
            until = self._ctx.mirrors.pages.fresh_until(mirror, project)
            fresh_until = until if fresh_until is None else min(fresh_until, until)
        return fresh_until, stale, failures

    def _prefix(self, request: IRequest, relative: Optional[str]) -> str:
        if relative is None or request.getHeader(b"x-devpi-absolute-urls") is not None:
            return outside_url(request, self._ctx.info.outside_url) + "/"
        return relative

    async def project_list(
        self, request: IRequest, username: str, indexname: str, at_directory: bool
    ) -> bytes:
        """
        The project list of an index; C{at_directory} says whether the URL
        ends in C{/}, so that links relative to it reach the project pages.
        """
        indexes.get_index(self._ctx.store, username, indexname)
        media = self._media_type(request)
        name = f"{username}/{indexname}"
        as_json = media == SIMPLE_JSON
        prefix = "" if at_directory else f"{self._prefix(request, None)}{name}/"
        if request.getHeader(b"x-devpi-absolute-urls") is not None:
            # absolute, but to where the relative links lead from this URL
            under = "+simple/" if at_directory and request.path.endswith(b"/+simple/") else ""
            prefix = f"{self._prefix(request, None)}{name}/{under}"

        mirror_names = {}
        fresh_until: Optional[float] = None
        for mirror, config in mirrors_in_order(self._ctx.store, name):
            mirror_names[mirror] = await self._ctx.mirrors.projects.names(mirror, config)
            until = self._ctx.clock.seconds() + LIST_RECHECK
            fresh_until = until if fresh_until is None else min(fresh_until, until)

        def render() -> bytes:
            names = project_names(self._ctx.store, name, mirror_names)
            return list_json(names) if as_json else list_html(names, name, prefix)

        page = self._cache.get((name, None, as_json, prefix), None, render, fresh_until)
        return self._reply(request, media, page)

    async def project_page(
        self,
        request: IRequest,
        username: str,
        indexname: str,
        project: str,
        relative: Optional[str],
    ) -> bytes:
        """
        A project's page; C{relative} leads from the page to the server root
        (None: the URL is not a directory, so links are absolute).
        """
        indexes.get_index(self._ctx.store, username, indexname)
        if not project.isascii():
            raise InvalidInput("unicode project names not allowed")
        normalized = normalize_project(project)
        if normalized != project:
            base = outside_url(request, self._ctx.info.outside_url)
            request.setHeader(b"location", f"{base}/{username}/{indexname}/+simple/{normalized}/".encode())
            request.setResponseCode(302)
            return b""
        media = self._media_type(request)
        name = f"{username}/{indexname}"
        as_json = media == SIMPLE_JSON
        prefix = self._prefix(request, relative)
        fresh_until, stale, failures = await self._refresh_mirrors(name, project)
        # the refresh may have committed: replicas wait for the serial the page shows
        request.setHeader(b"x-devpi-serial", str(self._ctx.store.serial).encode("ascii"))

        def render() -> bytes:
            links = project_links(self._ctx.store, name, project)
            if self._ctx.mirrors.pages.offline:
                links = installable_offline(self._ctx.store, links)
            for base in links.missing_bases:
                _log.warn("index {index} refers to missing base {base}", index=name, base=base)
            if not (links.exists or links.links):
                if failures:
                    raise failures[0]
                raise NotFound(f"The project {project} does not exist.")
            if as_json:
                return project_json(links, prefix)
            return project_html(links, name, prefix)

        def headers() -> tuple[tuple[bytes, bytes], ...]:
            record = mirrors.get_page(self._ctx.store, username, indexname, project)
            if record is None or record["serial"] < 0:
                return ()
            return ((b"x-pypi-last-serial", str(record["serial"]).encode()),)

        key = (name, project, as_json, prefix)
        page = self._cache.get(key, project, render, fresh_until, stale, headers)
        return self._reply(request, media, page)


def wants_simple(request: IRequest) -> bool:
    """Whether a GET of an index or project URL is an installer's simple-API request."""
    return is_installer(request.getHeader(b"user-agent"), request.getHeader(b"accept"))


_INDEX = "/<name:username>/<name:indexname>"


class SimpleRoutes:
    """The C{+simple} routes: project lists and project pages, with and without the slash, and refresh."""

    app = route_map()

    def __init__(self, ctx: WebContext, pages: SimplePages) -> None:
        self._ctx = ctx
        self._pages = pages

    @app.route(_INDEX + "/+simple/", methods=["GET"])
    async def simple_list(self, request: IRequest, username: str, indexname: str) -> bytes:
        return await self._pages.project_list(request, username, indexname, at_directory=True)

    @app.route(_INDEX + "/+simple", methods=["GET"])
    async def simple_list_without_slash(self, request: IRequest, username: str, indexname: str) -> bytes:
        if wants_simple(request):
            return await self._pages.project_list(request, username, indexname, at_directory=False)
        return redirect(request, self._ctx, f"/{username}/{indexname}/+simple/")

    @app.route(_INDEX + "/+simple/<project>/", methods=["GET"])
    async def simple_project(self, request: IRequest, username: str, indexname: str, project: str) -> bytes:
        return await self._pages.project_page(request, username, indexname, project, FROM_SIMPLE_PROJECT)

    @app.route(_INDEX + "/+simple/<project>", methods=["GET"])
    async def simple_project_without_slash(
        self, request: IRequest, username: str, indexname: str, project: str
    ) -> bytes:
        if wants_simple(request):
            return await self._pages.project_page(request, username, indexname, project, None)
        return redirect(request, self._ctx, f"/{username}/{indexname}/+simple/{project}/")

    @app.route(_INDEX + "/+simple/<project>/refresh", methods=["POST"])
    def refresh(self, request: IRequest, username: str, indexname: str, project: str) -> bytes:
        ctx = self._ctx
        indexes.get_index(ctx.store, username, indexname)
        normalized = normalize_project(project)
        for mirror, _ in mirrors_in_order(ctx.store, f"{username}/{indexname}"):
            ctx.mirrors.pages.forget(mirror, normalized)
        self._pages.forget(normalized)
        return redirect(request, ctx, f"/{username}/{indexname}/+simple/{normalized}/")


def redirect(request: IRequest, ctx: WebContext, path: str) -> bytes:
    """A 302 to C{path} on this server."""
    request.setResponseCode(302)
    request.setHeader(b"location", (outside_url(request, ctx.info.outside_url) + path).encode())
    request.setHeader(b"vary", b"Accept, User-Agent")
    return b""
