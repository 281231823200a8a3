"""The simple API: project lists and project pages, at +simple/ and for installers at the index root."""

from __future__ import annotations

import re
from typing import Optional

from klein import Klein
from twisted.logger import Logger
from twisted.web.iweb import IRequest

from devpi_twisted.model import indexes
from devpi_twisted.model.errors import InvalidInput, NotFound
from devpi_twisted.model.links import project_links, project_names
from devpi_twisted.model.names import normalize_project
from devpi_twisted.web.context import WebContext
from devpi_twisted.web.incoming import outside_url
from devpi_twisted.web.negotiation import (
    CONTENT_TYPES,
    SIMPLE_JSON,
    choose_simple_type,
    is_installer,
)
from devpi_twisted.web.page_cache import Page, PageCache
from devpi_twisted.web.replies import HTTPError, body_reply
from devpi_twisted.web.simple_pages import list_html, list_json, project_html, project_json

#: From C{/u/i/+simple/p/} and from C{/u/i/p/} back to the server root.
FROM_SIMPLE_PROJECT = "../../../../"
FROM_INDEX_PROJECT = "../../../"
#: GETs that may be answered straight from the page cache: /u/i/+simple/ and /u/i/+simple/p/
_CACHEABLE_PATH = re.compile(rb"/([^/+%][^/%]*)/([^/+%][^/%]*)/\+simple/(?:([^/%]+)/)?")
_MEDIA_TYPES_REMEMBERED = 256
_log = Logger()


class SimplePages:
    """Serves simple pages for any index from a cache of rendered bytes."""

    def __init__(self, ctx: WebContext) -> None:
        self._ctx = ctx
        self._cache = PageCache(ctx.store)
        self._media_types: dict[Optional[bytes], Optional[str]] = {}

    def _choose(self, accept: Optional[bytes]) -> Optional[str]:
        """L{choose_simple_type}, remembered for the few Accept headers clients send."""
        try:
            return self._media_types[accept]
        except KeyError:
            if len(self._media_types) >= _MEDIA_TYPES_REMEMBERED:
                self._media_types.clear()
            media = self._media_types[accept] = choose_simple_type(accept)
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
        if media is None:
            return None
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

    def _media_type(self, request: IRequest) -> str:
        media = self._choose(request.getHeader(b"accept"))
        if media is None:
            raise HTTPError(406, "acceptable types: " + ", ".join(CONTENT_TYPES))
        return media

    def _reply(self, request: IRequest, media: str, page: Page) -> bytes:
        request.setHeader(b"vary", b"Accept, User-Agent")
        request.setHeader(b"etag", page.etag)
        match = request.getHeader(b"if-none-match")
        if match and page.etag in [tag.strip() for tag in match.split(b",")]:
            request.setResponseCode(304)
            return b""
        return body_reply(request, 200, CONTENT_TYPES[media], page.body)

    def _prefix(self, request: IRequest, relative: Optional[str]) -> str:
        if relative is None or request.getHeader(b"x-devpi-absolute-urls") is not None:
            return outside_url(request, self._ctx.info.outside_url) + "/"
        return relative

    def project_list(
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

        def render() -> bytes:
            names = project_names(self._ctx.store, name)
            return list_json(names) if as_json else list_html(names, name, prefix)

        page = self._cache.get((name, None, as_json, prefix), None, render)
        return self._reply(request, media, page)

    def project_page(
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

        def render() -> bytes:
            links = project_links(self._ctx.store, name, project)
            for base in links.missing_bases:
                _log.warn("index {index} refers to missing base {base}", index=name, base=base)
            if not (links.exists or links.links):
                raise NotFound(f"The project {project} does not exist.")
            if as_json:
                return project_json(links, prefix)
            return project_html(links, name, prefix)

        page = self._cache.get((name, project, as_json, prefix), project, render)
        return self._reply(request, media, page)


def wants_simple(request: IRequest) -> bool:
    """Whether a GET of an index or project URL is an installer's simple-API request."""
    return is_installer(request.getHeader(b"user-agent"), request.getHeader(b"accept"))


def add_routes(app: Klein, ctx: WebContext, pages: SimplePages) -> None:
    """Register the C{+simple} routes on C{app}."""
    index = "/<name:username>/<name:indexname>"

    @app.route(index + "/+simple/", methods=["GET"])
    def simple_list(request: IRequest, username: str, indexname: str) -> bytes:
        return pages.project_list(request, username, indexname, at_directory=True)

    @app.route(index + "/+simple", methods=["GET"])
    def simple_list_without_slash(request: IRequest, username: str, indexname: str) -> bytes:
        if wants_simple(request):
            return pages.project_list(request, username, indexname, at_directory=False)
        return redirect(request, ctx, f"/{username}/{indexname}/+simple/")

    @app.route(index + "/+simple/<project>/", methods=["GET"])
    def simple_project(request: IRequest, username: str, indexname: str, project: str) -> bytes:
        return pages.project_page(request, username, indexname, project, FROM_SIMPLE_PROJECT)

    @app.route(index + "/+simple/<project>", methods=["GET"])
    def simple_project_without_slash(
        request: IRequest, username: str, indexname: str, project: str
    ) -> bytes:
        if wants_simple(request):
            return pages.project_page(request, username, indexname, project, None)
        return redirect(request, ctx, f"/{username}/{indexname}/+simple/{project}/")


def redirect(request: IRequest, ctx: WebContext, path: str) -> bytes:
    """A 302 to C{path} on this server."""
    request.setResponseCode(302)
    request.setHeader(b"location", (outside_url(request, ctx.info.outside_url) + path).encode())
    request.setHeader(b"vary", b"Accept, User-Agent")
    return b""
