"""A replica's write relay: requests that change data go to the primary, reads it cannot serve too."""

from __future__ import annotations

from typing import Any, Optional, cast

from treq.client import HTTPClient
from twisted.internet.defer import Deferred, ensureDeferred
from twisted.logger import Logger
from twisted.web.http_headers import Headers
from twisted.web.iweb import IRequest
from twisted.web.resource import IResource, Resource
from twisted.web.server import NOT_DONE_YET, Request

from devpi_twisted.connections import abort_connection
from devpi_twisted.mirror.bodies import BodyReceiver
from devpi_twisted.mirror.upstream import describe
from devpi_twisted.replication.status import ReplicaStatus, reported_serial
from devpi_twisted.store.changelog import Store
from devpi_twisted.web.outside import outside_url
from devpi_twisted.web.replies import error_reply
from devpi_twisted.web.site import LimitedRequest

#: Headers that describe one connection, not the request: never relayed.
_HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"trailers",
        b"transfer-encoding",
        b"upgrade",
        b"host",
        b"content-length",
    }
)
_READS = frozenset({b"GET", b"HEAD", b"OPTIONS"})
#: The route (for the access log and metrics) of a write a replica relays.
RELAYED_WRITE = "relayed_write"


class Forwarder:
    """
    Relays a request to the primary and its reply back. A successful write
    is answered only once this replica has applied the serial the primary
    reported for it, so the client reads its own write here at once.
    """

    def __init__(
        self,
        http: HTTPClient,
        store: Store,
        status: ReplicaStatus,
        replica_uuid: str,
        configured_outside_url: Optional[str],
        timeout: float,
        log: Logger,
    ) -> None:
        self._http = http
        self._store = store
        self._status = status
        self._uuid = replica_uuid
        self._outside_url = configured_outside_url
        self._timeout = timeout
        self._log = log

    def _request_headers(self, request: IRequest) -> Headers:
        headers = Headers()
        for name, values in request.requestHeaders.getAllRawHeaders():
            if name.lower() not in _HOP_BY_HOP:
                headers.setRawHeaders(name, values)
        headers.setRawHeaders(b"x-outside-url", [outside_url(request, self._outside_url).encode()])
        forwarded = request.getClientAddress()
        headers.addRawHeader(b"x-forwarded-for", getattr(forwarded, "host", "unknown").encode())
        return headers

    async def relay(self, request: Request, wait_for_serial: bool) -> None:
        """Answer C{request} with the primary's reply (streamed unless C{wait_for_serial})."""
        url = self._status.primary_url + request.uri.decode("latin-1").lstrip("/")
        if request.content is not None:
            request.content.seek(0)
        sending = self._http.request(
            request.method.decode("ascii"),
            url,
            headers=self._request_headers(request),
            data=request.content if request.method not in _READS else None,
            unbuffered=True,
            timeout=self._timeout,
        )
        try:
            response = await sending
        except Exception as error:
            request.write(error_reply(request, 502, f"the primary {self._status.primary_url} is unreachable: {describe(error)}"))
            return
        if wait_for_serial and response.code < 400:
            body = await response.content()
            await self._until_applied(response)
            self._start_reply(request, response)
            request.write(body)
            return
        self._start_reply(request, response)
        body_done = BodyReceiver(request.write)
        response.deliverBody(body_done)
        try:
            await body_done.done
        except Exception as error:
            self._log.warn("relaying {uri} from the primary broke off: {error}", uri=request.uri, error=describe(error))
            abort_connection(request)

    async def _until_applied(self, response: Any) -> None:
        serial = reported_serial(response.headers)
        if serial is not None and not await self._store.reached_within(serial, self._timeout):
            self._log.warn(
                "replica did not reach serial {serial} within {timeout}s; answering anyway",
                serial=serial,
                timeout=self._timeout,
            )

    def _start_reply(self, request: Request, response: Any) -> None:
        request.setResponseCode(response.code, response.phrase)
        for name, values in response.headers.getAllRawHeaders():
            if name.lower() not in _HOP_BY_HOP:
                request.responseHeaders.setRawHeaders(name, values)
        length = response.headers.getRawHeaders(b"content-length")
        if length and request.method != b"HEAD":
            request.setHeader(b"content-length", length[0])
        request.setHeader(b"x-devpi-proxy", b"replica")
        request.setHeader(b"x-devpi-uuid", self._uuid.encode())


class ReplicaGate(Resource):
    """The replica's root: writes go to the primary, reads to C{wrapped}."""

    isLeaf = True

    def __init__(self, wrapped: IResource, forwarder: Forwarder) -> None:
        super().__init__()
        self._wrapped = wrapped
        self._forwarder = forwarder

    def render(self, request: IRequest) -> object:
        if request.method in _READS:
            return self._wrapped.render(request)
        return self._relay(cast(LimitedRequest, request))  # the site makes only these

    def _relay(self, request: LimitedRequest) -> object:
        request.route = RELAYED_WRITE
        gone: list[bool] = []
        request.notifyFinish().addErrback(lambda _: gone.append(True))

        def finish(_: object) -> None:
            if not (gone or request.finished):
                request.finish()

        relaying: Deferred[None] = ensureDeferred(self._forwarder.relay(request, wait_for_serial=True))
        relaying.addErrback(lambda failure: self._failed(request, failure))
        relaying.addCallback(finish)
        return NOT_DONE_YET

    def _failed(self, request: Request, failure: Any) -> None:
        if not request.startedWriting:
            request.write(error_reply(request, 502, f"relaying to the primary failed: {failure.getErrorMessage()}"))
