"""What a request brings: its credentials, its JSON body, its query arguments."""

from __future__ import annotations

import json
from contextlib import contextmanager
from typing import Any, Iterator, cast

from twisted.web.iweb import IRequest

from devpi_twisted.auth.credentials import (
    INVALID,
    Authentication,
    MalformedCredentials,
    credentials_from_headers,
)
from devpi_twisted.model.acl import Identity
from devpi_twisted.model.errors import PermissionDenied
from devpi_twisted.web.context import WebContext
from devpi_twisted.web.replies import HTTPError
from devpi_twisted.web.site import LimitedRequest

_CHALLENGE = {b"www-authenticate": b'Basic realm="pypi"'}


async def authenticate(ctx: WebContext, request: IRequest) -> Authentication:
    """Who sent C{request} (noted on it for the access log); malformed credentials count as invalid."""
    try:
        credentials = credentials_from_headers(
            request.getHeader(b"x-devpi-auth"), request.getHeader(b"authorization")
        )
    except MalformedCredentials as error:
        return Authentication(Identity(), INVALID, str(error))
    auth = await ctx.auth.authenticator.authenticate(credentials)
    cast(LimitedRequest, request).username = auth.identity.username  # the site makes only these
    return auth


@contextmanager
def permission(auth: Authentication) -> Iterator[None]:
    """
    Turn a L{PermissionDenied} into 401 when credentials are missing or
    invalid (with a Basic challenge), and 403 for a known user.
    """
    try:
        yield
    except PermissionDenied as error:
        if auth.status == INVALID:
            raise HTTPError(401, auth.problem or error.message, _CHALLENGE)
        if auth.identity.username is None:
            raise HTTPError(401, f"{error.message}: log in first", _CHALLENGE)
        raise HTTPError(403, error.message)


def read_json(request: IRequest, limit: int, default: Any = None) -> Any:
    """The request body parsed as JSON (C{default} if empty); 400/413 if it cannot be."""
    length = request.getHeader(b"content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise HTTPError(413, f"request body larger than {limit} bytes")
    body = request.content.read(limit + 1)
    if len(body) > limit:
        raise HTTPError(413, f"request body larger than {limit} bytes")
    if not body.strip() and default is not None:
        return default
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise HTTPError(400, "Bad request: could not decode json")


def has_arg(request: IRequest, name: bytes) -> bool:
    """Whether the query string names C{name} (with any value, even empty)."""
    # twisted drops a bare C{?name} (no C{=}) from request.args; devpi honours it
    query = request.uri.partition(b"?")[2]
    return name in (request.args or {}) or name in query.split(b"&")
