"""Routes for projects and versions: JSON views, deletion, yanking."""

from __future__ import annotations

from typing import Any

from twisted.web.iweb import IRequest

from devpi_twisted.model import acl, indexes, releases
from devpi_twisted.model.errors import InvalidInput, NotFound, PermissionDenied
from devpi_twisted.model.links import project_versions
from devpi_twisted.model.names import normalize_project
from devpi_twisted.web.context import WebContext
from devpi_twisted.web.incoming import authenticate, has_arg, permission, read_json
from devpi_twisted.web.outside import outside_url
from devpi_twisted.web.replies import message_reply, result_reply
from devpi_twisted.web.routing import route_map
from devpi_twisted.web.simple import FROM_INDEX_PROJECT, SimplePages, redirect, wants_simple
from devpi_twisted.web.transactions import commit

_PROJECT = "/<name:username>/<name:indexname>/<name:project>"


def version_view(record: dict[str, Any], base: str) -> dict[str, Any]:
    """A version record as devpi shows it: C{+elinks} become C{+links} with hrefs."""
    view = {key: value for key, value in record.items() if key != "+elinks"}
    links = []
    for link in record["+elinks"]:
        shown = {
            "rel": link["rel"],
            "hash_spec": link["hash_spec"],
            "hashes": link["hashes"],
            "href": f"{base}/{link['entrypath']}",
            "log": link["_log"],
        }
        if "for_entrypath" in link:
            shown["for_href"] = f"{base}/{link['for_entrypath']}"
        links.append(shown)
    view["+links"] = links
    return view


class ProjectRoutes:
    """Projects and versions: JSON views, deletion, yanking."""

    app = route_map()

    def __init__(self, ctx: WebContext, pages: SimplePages) -> None:
        self._ctx = ctx
        self._pages = pages

    async def _check_manage(self, request: IRequest, username: str, indexname: str) -> None:
        config = indexes.get_index(self._ctx.store, username, indexname)
        auth = await authenticate(self._ctx, request)
        with permission(auth):
            if not acl.may_delete_entries(auth.identity, username, config):
                raise PermissionDenied(f"no permission to modify {username}/{indexname}")

    @app.route(_PROJECT, methods=["GET"])
    async def get_project(self, request: IRequest, username: str, indexname: str, project: str) -> bytes:
        if wants_simple(request):
            return await self._pages.project_page(request, username, indexname, project, None)
        return self._project_view(request, username, indexname, project)

    @app.route(_PROJECT + "/", methods=["GET"])
    async def get_project_slash(self, request: IRequest, username: str, indexname: str, project: str) -> bytes:
        if wants_simple(request):
            return await self._pages.project_page(request, username, indexname, project, FROM_INDEX_PROJECT)
        return self._project_view(request, username, indexname, project)

    def _project_view(self, request: IRequest, username: str, indexname: str, project: str) -> bytes:
        ctx = self._ctx
        indexes.get_index(ctx.store, username, indexname)
        normalized = normalize_project(project)
        if normalized != project:
            return redirect(request, ctx, f"/{username}/{indexname}/{normalized}")
        versions = project_versions(
            ctx.store, f"{username}/{indexname}", project, has_arg(request, b"ignore_bases")
        )
        if not versions:
            raise NotFound(f"no project {project!r}")
        base = outside_url(request, ctx.info.outside_url)
        result = {version: version_view(record, base) for version, (_, record) in versions.items()}
        return result_reply(request, "projectconfig", result)

    @app.route(_PROJECT + "/<version>", methods=["GET"], strict_slashes=False)
    def get_version(
        self, request: IRequest, username: str, indexname: str, project: str, version: str
    ) -> bytes:
        ctx = self._ctx
        indexes.get_index(ctx.store, username, indexname)
        normalized = normalize_project(project)
        if normalized != project:
            return redirect(request, ctx, f"/{username}/{indexname}/{normalized}/{version}")
        found = project_versions(ctx.store, f"{username}/{indexname}", project).get(version)
        if found is None:
            raise NotFound(f"The version {version} of project {project} does not exist.")
        base = outside_url(request, ctx.info.outside_url)
        return result_reply(request, "versiondata", version_view(found[1], base))

    @app.route(_PROJECT, methods=["DELETE"], strict_slashes=False)
    async def delete_project(
        self, request: IRequest, username: str, indexname: str, project: str
    ) -> bytes:
        await self._check_manage(request, username, indexname)
        normalized = normalize_project(project)
        force = has_arg(request, b"force")
        await commit(
            self._ctx,
            request,
            lambda txn: releases.delete_project(txn, username, indexname, normalized, force),
        )
        return message_reply(
            request, f"project {normalized} deleted from stage {username}/{indexname}"
        )

    @app.route(_PROJECT + "/<version>", methods=["DELETE"], strict_slashes=False)
    async def delete_version(
        self, request: IRequest, username: str, indexname: str, project: str, version: str
    ) -> bytes:
        await self._check_manage(request, username, indexname)
        normalized = normalize_project(project)
        force = has_arg(request, b"force")
        await commit(
            self._ctx,
            request,
            lambda txn: releases.delete_version(
                txn, username, indexname, normalized, version, force
            ),
        )
        return message_reply(request, f"project {normalized} version {version!r} deleted")

    @app.route(_PROJECT + "/<version>", methods=["PATCH"], strict_slashes=False)
    async def yank_version(
        self, request: IRequest, username: str, indexname: str, project: str, version: str
    ) -> bytes:
        ctx = self._ctx
        await self._check_manage(request, username, indexname)
        body = read_json(request, ctx.json_body_limit)
        if not isinstance(body, dict) or set(body) != {"yanked"}:
            raise InvalidInput('expected {"yanked": true, false or a reason}')
        normalized = normalize_project(project)
        await commit(
            ctx,
            request,
            lambda txn: releases.set_yanked(
                txn, username, indexname, normalized, version, body["yanked"]
            ),
        )
        record = releases.get_version(ctx.store, username, indexname, normalized, version)
        base = outside_url(request, ctx.info.outside_url)
        return result_reply(request, "versiondata", version_view(record, base))
