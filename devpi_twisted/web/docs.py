"""Documentation uploaded as doc zips: pages under C{+doc/}, the zip under C{+doczip}."""

from __future__ import annotations

from typing import Any, Optional

from packaging.version import InvalidVersion, Version
from twisted.web.iweb import IRequest

from devpi_twisted.dists.errors import DocNotFound
from devpi_twisted.dists.docs import read_doc_member
from devpi_twisted.model import indexes
from devpi_twisted.model.errors import NotFound
from devpi_twisted.model.links import project_versions
from devpi_twisted.model.names import normalize_project
from devpi_twisted.model.records import VersionRecord
from devpi_twisted.model.releases import DOCZIP, version_key
from devpi_twisted.web.context import WebContext
from devpi_twisted.web.outside import outside_url
from devpi_twisted.web.replies import body_reply
from devpi_twisted.web.routing import route_map

_VERSION = "/<name:username>/<name:indexname>/<name:project>/<version>"


def _is_stable(version: str) -> bool:
    try:
        return not Version(version).is_prerelease
    except InvalidVersion:
        return False


def doczip_link(
    versions: dict[str, tuple[str, VersionRecord]], version: str
) -> Optional[dict[str, Any]]:
    """
    The doc zip link of C{version}, where C{latest} and C{stable} mean the
    newest version (the newest final release) that has docs.
    """
    with_docs = {
        name: link
        for name, (_, record) in versions.items()
        for link in record["+elinks"]
        if link["rel"] == DOCZIP
    }
    if version in ("latest", "stable"):
        candidates = [v for v in with_docs if version == "latest" or _is_stable(v)]
        if not candidates:
            return None
        version = max(candidates, key=version_key)
    return with_docs.get(version)


class DocRoutes:
    """Documentation of a version: its doc zip and the pages in it."""

    app = route_map()

    def __init__(self, ctx: WebContext) -> None:
        self._ctx = ctx

    def _find_doczip(self, username: str, indexname: str, project: str, version: str) -> dict[str, Any]:
        indexes.get_index(self._ctx.store, username, indexname)
        normalized = normalize_project(project)
        versions = project_versions(self._ctx.store, f"{username}/{indexname}", normalized)
        link = doczip_link(versions, version)
        if link is None:
            raise NotFound(f"no documentation for {normalized} {version}")
        return link

    @app.route(_VERSION + "/+doczip", methods=["GET"])
    def doczip(self, request: IRequest, username: str, indexname: str, project: str, version: str) -> bytes:
        link = self._find_doczip(username, indexname, project, version)
        request.setResponseCode(302)
        base = outside_url(request, self._ctx.info.outside_url)
        request.setHeader(b"location", f"{base}/{link['entrypath']}".encode())
        return b""

    @app.route(_VERSION + "/+doc/", methods=["GET"])
    @app.route(_VERSION + "/+doc/<path:member>", methods=["GET"])
    async def doc_page(
        self,
        request: IRequest,
        username: str,
        indexname: str,
        project: str,
        version: str,
        member: str = "",
    ) -> bytes:
        link = self._find_doczip(username, indexname, project, version)
        sha256 = link["hashes"]["sha256"]
        path = await self._ctx.blob_path(sha256)
        try:
            content, content_type = await self._ctx.io(lambda: read_doc_member(path, member))
        except DocNotFound as error:
            raise NotFound(error.message)
        etag = f'"{sha256[:32]}-{len(content)}"'.encode()
        request.setHeader(b"etag", etag)
        request.setHeader(b"cache-control", b"max-age=60")
        if request.getHeader(b"if-none-match") == etag:
            request.setResponseCode(304)
            return b""
        return body_reply(request, 200, content_type.encode(), content)
