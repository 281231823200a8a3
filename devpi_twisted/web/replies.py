"""Reply bodies: devpi's JSON envelopes and errors as JSON or HTML."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any, Optional

from twisted.web.iweb import IRequest

from devpi_twisted.mirror.upstream import UpstreamError, UpstreamTimeout
from devpi_twisted.model import errors
from devpi_twisted.store.blobs import BlobStoreTimeout, BlobStoreUnavailable
from devpi_twisted.web.html import html_page

JSON = b"application/json"
HTML = b"text/html; charset=utf-8"


_MODEL_STATUS = {
    errors.InvalidInput: 400,
    errors.PermissionDenied: 403,
    errors.Forbidden: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
}


def status_of(error: errors.ModelError) -> int:
    """The HTTP status of a refusal by the domain rules."""
    return _MODEL_STATUS[type(error)]


def gateway_status(error: UpstreamError) -> int:
    """The HTTP status of an upstream failure: 504 when upstream did not answer in time, else 502."""
    return 504 if isinstance(error, UpstreamTimeout) else 502


def blob_store_status(error: BlobStoreUnavailable) -> int:
    """The HTTP status of a blob store failure: 504 when it did not answer in time, else 503."""
    return 504 if isinstance(error, BlobStoreTimeout) else 503


class HTTPError(Exception):
    """Answer the request with C{status} and C{message}."""

    def __init__(
        self, status: int, message: str, headers: Optional[dict[bytes, bytes]] = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def wants_json(request: IRequest) -> bool:
    """devpi's rule: JSON whenever C{Accept} mentions C{application/json}."""
    return JSON in (request.getHeader(b"accept") or b"")


def json_bytes(data: Any) -> bytes:
    """Pretty-printed JSON with a trailing newline, as devpi sends it."""
    return json.dumps(data, indent=2, sort_keys=True).encode("utf-8") + b"\n"


def wants_html(request: IRequest) -> bool:
    """A browser: C{Accept} names C{text/html} and not JSON."""
    accept = request.getHeader(b"accept") or b""
    return b"text/html" in accept and JSON not in accept


def body_reply(
    request: IRequest, status: int, content_type: bytes, body: bytes
) -> bytes:
    """Set status, content type and length for C{body}, and return it."""
    request.setResponseCode(status)
    request.setHeader(b"content-type", content_type)
    request.setHeader(b"content-length", str(len(body)).encode("ascii"))
    return body


def json_reply(request: IRequest, data: Any, status: int = 200) -> bytes:
    """C{data} as the JSON body of a reply with C{status}."""
    return body_reply(request, status, JSON, json_bytes(data))


def result_reply(
    request: IRequest,
    type_: str,
    result: Any,
    message: Optional[str] = None,
    status: int = 200,
) -> bytes:
    """devpi's envelope C{{"type": ..., "result": ...}}, with an optional message."""
    if wants_html(request):
        title = request.path.decode("utf-8", "replace")
        return body_reply(request, status, HTML, html_page(title, result))
    body: dict[str, Any] = {"type": type_, "result": result}
    if message is not None:
        body["message"] = message
    return json_reply(request, body, status)


def message_reply(request: IRequest, message: str, status: int = 200) -> bytes:
    """A reply that only says C{message}."""
    return json_reply(request, {"message": message}, status)


def error_reply(request: IRequest, status: int, message: str) -> bytes:
    """An error as C{{"message": ...}} for JSON clients, else as an HTML page."""
    if wants_json(request):
        return message_reply(request, message, status)
    title = f"{status} {HTTPStatus(status).phrase}"
    return body_reply(request, status, HTML, html_page(title, message))
