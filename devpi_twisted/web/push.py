"""C{POST}/C{PUSH} of a JSON body to an index: push a release to another index."""

from __future__ import annotations

from twisted.web.iweb import IRequest

from devpi_twisted.auth.credentials import Authentication
from devpi_twisted.model import acl, keys
from devpi_twisted.model.errors import InvalidInput, PermissionDenied
from devpi_twisted.model.names import normalize_project
from devpi_twisted.model.push import push_release
from devpi_twisted.model.releases import stage_config
from devpi_twisted.web.context import WebContext
from devpi_twisted.web.incoming import permission, read_json
from devpi_twisted.web.replies import HTTPError, result_reply
from devpi_twisted.web.transactions import commit

_OPTIONS = {"name", "version", "targetindex", "no_docs", "only_docs", "posturl", "username", "password", "register_project"}


async def push(
    ctx: WebContext, request: IRequest, auth: Authentication, username: str, indexname: str
) -> bytes:
    """Copy C{name==version} from this index to C{targetindex} on this server."""
    body = read_json(request, ctx.json_body_limit)
    if not isinstance(body, dict):
        raise InvalidInput("Bad request: could not decode json")
    unknown = sorted(set(body) - _OPTIONS)
    if unknown:
        raise InvalidInput("unknown additional options: " + ", ".join(unknown))
    name, version = body.get("name"), body.get("version")
    source = f"{username}/{indexname}"
    if not isinstance(name, str) or not isinstance(version, str):
        raise InvalidInput(f"there are no files for {name} {version} on stage {source}")
    if body.get("no_docs") and body.get("only_docs"):
        raise InvalidInput("can't use 'no_docs' and 'only_docs' together")
    if "targetindex" not in body:
        raise HTTPError(400, "pushing to an external index (posturl) is not supported")
    target = body["targetindex"]
    target_user, sep, target_index = str(target).partition("/")
    if not sep or not target_user or not target_index or "/" in target_index:
        raise InvalidInput("targetindex not in format user/index")
    config = stage_config(ctx.store, target_user, target_index)
    with permission(auth):
        if not acl.may_upload(auth.identity, config):
            raise PermissionDenied(
                f"user {auth.identity.username!r} cannot upload to {target!r}"
            )
    if ctx.store.get(keys.index(username, indexname)) is None:
        raise InvalidInput(f"there are no files for {name} {version} on stage {source}")
    project = normalize_project(name)
    now = ctx.clock.seconds()
    actionlog = await commit(
        ctx,
        request,
        lambda txn: push_release(
            txn, source, project, version, target, auth.identity.username, now,
            no_docs=bool(body.get("no_docs")), only_docs=bool(body.get("only_docs")),
        ),
    )
    return result_reply(request, "actionlog", actionlog)
