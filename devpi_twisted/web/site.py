"""The twisted.web site: requests that refuse bodies above a size limit, an access log, request metrics."""

from __future__ import annotations

from typing import Any, Optional, cast

from twisted.logger import Logger
from twisted.web import server
from twisted.web.resource import IResource

from devpi_twisted.metrics import Metrics
from devpi_twisted.web.access_log import ACCESS_LINE, UNROUTED, access_fields, method_label
from devpi_twisted.web.replies import error_reply

#: Upper bounds (seconds) of the request duration histogram's buckets.
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class LimitedRequest(server.Request):
    """
    A request whose body is discarded, not stored, once it grows past the
    site's C{max_body_size}; it is then answered with 413. Form bodies are
    left unparsed (Twisted would read them whole into memory).
    """

    _body_size = 0
    _too_large = False
    #: the route that took the request (see L{devpi_twisted.web.routing.RouteTable}), for the metrics
    route = UNROUTED
    #: the authenticated user, for the access log
    username: Optional[str] = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # uploads are parsed as a stream by the upload route, never into memory
        kwargs["parsePOSTFormSubmission"] = False
        super().__init__(*args, **kwargs)
        #: when the request line arrived, on the site's clock
        self.started: float = self._site().reactor.seconds()

    def _site(self) -> DevpiSite:
        # the site's buildProtocol gives the channel its site; the stubs do not declare it
        return cast(DevpiSite, self.channel.site)  # type: ignore[attr-defined]

    def _limit(self) -> int:
        return self._site().max_body_size

    def gotLength(self, length: Optional[int]) -> None:
        if length is not None and length > self._limit():
            self._too_large = True
        super().gotLength(None if self._too_large else length)

    def handleContentChunk(self, data: bytes) -> None:
        self._body_size += len(data)
        if self._body_size > self._limit():
            self._too_large = True
        if not self._too_large:
            super().handleContentChunk(data)

    def process(self) -> None:
        if not self._too_large:
            return super().process()
        self.setHeader(b"connection", b"close")
        self.write(
            error_reply(self, 413, f"request body larger than {self._limit()} bytes")
        )
        self.finish()


class DevpiSite(server.Site):
    """
    A site serving C{resource} with a request body size limit; each finished
    request is one event on C{access_log} and counted in C{metrics}.
    """

    requestFactory = LimitedRequest

    def __init__(
        self,
        resource: IResource,
        max_body_size: int,
        metrics: Optional[Metrics] = None,
        access_log: Optional[Logger] = None,
        reactor: Any = None,
    ) -> None:
        super().__init__(resource, reactor=reactor)
        self.max_body_size = max_body_size
        metrics = Metrics() if metrics is None else metrics
        if access_log is None:
            access_log = Logger(namespace="devpi_twisted.access")
        self._access_log = access_log
        self._requests = metrics.counter(
            "devpi_requests_total",
            "HTTP requests answered, by route, method and status.",
            ("route", "method", "status"),
        )
        self._durations = metrics.histogram(
            "devpi_request_duration_seconds",
            "Seconds from the request line to the last byte of the reply, by route.",
            DURATION_BUCKETS,
            ("route",),
        )

    def log(self, request: LimitedRequest) -> None:  # type: ignore[override]  # requestFactory makes only these
        """Log and count a finished request (instead of twisted's combined log line)."""
        duration = max(0.0, self.reactor.seconds() - request.started)
        route = request.route
        self._requests.inc(route, method_label(request.method), request.code)
        self._durations.observe(duration, route)
        fields = access_fields(request, duration)
        # the line is made with str.format: twisted's formatting of log_format costs more
        self._access_log.info("{log_text}", log_text=ACCESS_LINE.format_map(fields), **fields)
