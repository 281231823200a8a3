"""Fetching from upstream indexes: one connection pool, bounded per host, timeouts, retries with backoff, single flight."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timezone
from email.utils import parsedate_to_datetime
from typing import Any, Callable, Coroutine, Optional, TypeVar
from urllib.parse import urlsplit

from treq.client import HTTPClient
from twisted.internet.defer import CancelledError, Deferred, DeferredSemaphore
from twisted.internet.error import ConnectError, ConnectingCancelledError, ConnectionClosed
from twisted.internet.interfaces import IProtocol, IReactorTCP, IReactorTime
from twisted.internet.protocol import Protocol, connectionDone
from twisted.internet.task import deferLater
from twisted.logger import Logger
from twisted.python.components import proxyForInterface
from twisted.python.failure import Failure
from twisted.web.client import (
    Agent,
    HTTPConnectionPool,
    PotentialDataLoss,
    RedirectAgent,
    RequestTransmissionFailed,
    ResponseDone,
    ResponseFailed,
)
from twisted.web.error import InfiniteRedirection, RedirectWithNoLocation
from twisted.web.http import RESPONSES
from twisted.web.http_headers import Headers
from twisted.web.iweb import IAgent, IResponse

from devpi_twisted.metrics import Metrics
from devpi_twisted.mirror.bodies import body_producer
from devpi_twisted.mirror.credentials import split_credentials

T = TypeVar("T")

#: Redirects followed per request before giving up.
MAX_REDIRECTS = 5
#: The Accept header of file downloads.
FILE_ACCEPT = b"*/*"

_CONNECTION_ERRORS = (
    ConnectError,
    ConnectionClosed,
    ResponseFailed,
    RequestTransmissionFailed,
    OSError,
)


class UpstreamError(Exception):
    """Upstream failed; C{message} is for clients and names no credentials."""

    def __init__(self, message: str, status: Optional[int] = None) -> None:
        super().__init__(message)
        self.message = message
        #: upstream's HTTP status, if it answered
        self.status = status


class UpstreamTimeout(UpstreamError):
    """Upstream did not answer in time."""


class UpstreamNotFound(UpstreamError):
    """Upstream answered 404 or 410."""


class RangeRefused(Exception):
    """Upstream answered a C{Range} request with the whole file (its body is not read)."""


@dataclass(frozen=True)
class Fetched:
    """An upstream answer: 200 with its body, or 304 with none."""

    code: int
    body: bytes
    headers: Headers
    #: the final URL after redirects, for resolving relative links
    url: str


class PooledHTTPClient(HTTPClient):
    """A treq client over one persistent connection pool."""

    def __init__(self, agent: IAgent, pool: HTTPConnectionPool) -> None:
        super().__init__(agent)
        self._pool = pool

    def close(self) -> Deferred[None]:
        """Close the pooled idle connections (when the service stops)."""
        return self._pool.closeCachedConnections()


def make_http_client(
    reactor: IReactorTCP, pool_size: int, idle_timeout: int = 60
) -> PooledHTTPClient:
    """One pool keeping up to C{pool_size} idle connections per host; redirects bounded."""
    pool = HTTPConnectionPool(reactor, persistent=True)
    pool.maxPersistentPerHost = pool_size
    pool.cachedConnectionTimeout = idle_timeout
    agent = RedirectAgent(Agent(reactor, pool=pool), redirectLimit=MAX_REDIRECTS)
    return PooledHTTPClient(agent, pool)


@dataclass(frozen=True)
class _Target:
    """An upstream URL split from the credentials embedded in it."""

    url: str
    host: str
    authorization: Optional[bytes]


def _target(url: str) -> _Target:
    bare, authorization = split_credentials(url)
    return _Target(bare, host_of(url), authorization)


def host_of(url: str) -> str:
    """The host (and port) of C{url} as the client counts hosts: lower case, no credentials."""
    return urlsplit(url).netloc.rpartition("@")[2].lower()


class _Retry(Exception):
    """An attempt failed in a way worth retrying, after C{delay} if upstream asked."""

    def __init__(self, error: UpstreamError, delay: Optional[float] = None) -> None:
        super().__init__(error.message)
        self.error = error
        self.delay = delay


def describe(error: BaseException) -> str:
    """A short text for a connection failure (the first reason of a twisted.web client error)."""
    reasons = getattr(error, "reasons", None)
    if reasons and isinstance(reasons[0], Failure):
        error = reasons[0].value
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def _wraps(error: BaseException, kinds: tuple[type[BaseException], ...]) -> bool:
    """Whether C{error} is one of C{kinds} or wraps one, as twisted.web's client errors do."""
    reasons = getattr(error, "reasons", [])
    return isinstance(error, kinds) or any(
        isinstance(reason, Failure) and reason.check(*kinds) for reason in reasons
    )


def _retry_after(headers: Headers, now: float) -> Optional[float]:
    """Seconds to wait from a Retry-After header (delta seconds or HTTP date)."""
    value = headers.getRawHeaders(b"retry-after")
    if not value:
        return None
    text = value[0].decode("latin-1").strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, when.timestamp() - now)


class _Discard(Protocol):
    """Stops an unwanted body at once (the connection is not reused)."""

    def connectionMade(self) -> None:
        body_producer(self).stopProducing()


class _BodyReader(Protocol):
    """Collects a body of at most C{limit} bytes into C{done}; stops reading beyond it."""

    def __init__(self, limit: int, too_large: UpstreamError) -> None:
        self._limit = limit
        self._too_large = too_large
        self._chunks: list[bytes] = []
        self._size = 0
        self._stopped = False
        self.done: Deferred[bytes] = Deferred(lambda _: self._stop())

    def _stop(self) -> None:
        self._stopped = True
        body_producer(self).stopProducing()

    def dataReceived(self, data: bytes) -> None:
        if self._stopped:
            return
        self._size += len(data)
        if self._size > self._limit:
            self._stop()
            self.done.errback(self._too_large)
            return
        self._chunks.append(data)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        if self._stopped:
            return
        if reason.check(ResponseDone, PotentialDataLoss):
            self.done.callback(b"".join(self._chunks))
        else:
            self.done.errback(reason)


class _Releasing(proxyForInterface(IProtocol)):  # type: ignore[misc]  # a base class made at run time
    """A body protocol that gives back a per-host slot when the body ends."""

    def __init__(self, original: IProtocol, release: Callable[[], object]) -> None:
        self.original = original
        self._release = release

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self._release()
        self.original.connectionLost(reason)


class _SlotResponse(proxyForInterface(IResponse)):  # type: ignore[misc]  # a base class made at run time
    """A response that holds its host's slot until its body has been delivered."""

    def __init__(self, original: IResponse, release: Callable[[], object]) -> None:
        self.original = original
        self._release = release

    def deliverBody(self, protocol: IProtocol) -> None:
        self.original.deliverBody(_Releasing(protocol, self._release))


class UpstreamClient:
    """
    GETs pages and files from upstream indexes through C{http} (a treq
    L{HTTPClient}, or anything with its C{request}); all waits use C{clock}.
    """

    def __init__(
        self,
        clock: IReactorTime,
        http: HTTPClient,
        *,
        max_retries: int = 3,
        timeout: float = 5.0,
        per_host: int = 8,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        rng: random.Random,
        log: Logger,
        user_agent: str,
        metrics: Optional[Metrics] = None,
    ) -> None:
        self._clock = clock
        metrics = Metrics() if metrics is None else metrics
        self._requests = metrics.counter(
            "devpi_upstream_requests_total",
            "Upstream fetches (concurrent equal ones as one, after any retries) by outcome:"
            " ok, not_modified, not_found, error, timeout.",
            ("outcome",),
        )
        self._errors = metrics.counter(
            "devpi_upstream_errors_total",
            "Failed upstream attempts (each retry counts) by kind: timeout, connection, http, invalid.",
            ("kind",),
        )
        self._http = http
        self._max_retries = max_retries
        self._timeout = timeout
        self._per_host = per_host
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._rng = rng
        self._log = log
        self._user_agent = user_agent.encode()
        self._slots: dict[str, DeferredSemaphore] = {}
        self._flights: dict[tuple[str, bytes, Optional[str]], list[Deferred[Fetched]]] = {}
        self._outages: dict[str, float] = {}
        #: hosts that answered 429/503 with Retry-After: not to be asked before then
        self._not_before: dict[str, float] = {}

    @property
    def timeout(self) -> float:
        """Seconds an upstream request may take (and a download may go without data)."""
        return self._timeout

    def busy(self) -> bool:
        """Whether a fetch is in progress."""
        return bool(self._flights)

    def outage(self) -> dict[str, float]:
        """The hosts whose last fetch failed, and since when (clock seconds)."""
        return dict(self._outages)

    def asked_to_wait(self, host: str) -> float:
        """Seconds C{host} asked (Retry-After on the last failed request) to be left alone."""
        return max(0.0, self._not_before.get(host, 0.0) - self._clock.seconds())

    async def fetch(
        self, url: str, accept: bytes, etag: Optional[str] = None, max_size: int = 64 * 1024 * 1024
    ) -> Fetched:
        """
        GET C{url} (a 200 or, given C{etag}, a 304). Concurrent calls with the
        same C{url}, C{accept} and C{etag} share one upstream request (and the
        first caller's C{max_size}). Raises L{UpstreamNotFound} on 404/410,
        L{UpstreamTimeout} or L{UpstreamError} otherwise.
        """
        key = (url, accept, etag)
        waiter: Deferred[Fetched] = Deferred()
        flight = self._flights.get(key)
        if flight is not None:
            flight.append(waiter)
        else:
            self._flights[key] = [waiter]
            work = self._fetch(_target(url), accept, etag, max_size)
            Deferred.fromCoroutine(work).addBoth(self._land, key)
        return await waiter

    def _land(self, result: Fetched | Failure, key: tuple[str, bytes, Optional[str]]) -> None:
        for waiter in self._flights.pop(key):
            if waiter.called:  # its caller cancelled
                continue
            if isinstance(result, Failure):
                waiter.errback(result)
            else:
                waiter.callback(result)

    async def open(self, url: str, authorization: Optional[bytes] = None) -> IResponse:
        """
        GET the file at C{url} and return the 200 response unread, for
        streaming. The timeout and retries cover the time until the headers
        arrive. The host's slot stays taken until the body has been delivered,
        so the caller must call C{deliverBody} (to abandon the body, with a
        protocol that calls C{transport.stopProducing()}). C{authorization}
        is sent as the C{Authorization} header.
        """
        target = _target(url)
        headers = self._headers(target, FILE_ACCEPT, None)
        if authorization is not None:
            headers.setRawHeaders(b"authorization", [authorization])
        return await self._retrying(target, lambda: self._open_once(target, headers))

    async def fetch_range(self, url: str, spec: str, max_size: int) -> Fetched:
        """
        GET the bytes C{spec} (C{"-N"} or C{"A-B"}) of the file at C{url}: a
        206 with its C{Content-Range}. Raises L{RangeRefused} when upstream
        sends the whole file instead, else as L{fetch}.
        """
        target = _target(url)
        headers = self._headers(target, FILE_ACCEPT, None)
        headers.setRawHeaders(b"range", [b"bytes=" + spec.encode("ascii")])
        return await self._retrying(target, lambda: self._ranged_once(target, headers, max_size))

    async def _ranged_once(self, target: _Target, headers: Headers, max_size: int) -> Fetched:
        async with self._slot(target.host):
            return await self._within(target, self._get(target, headers, max_size, (206,)))

    async def _fetch(
        self, target: _Target, accept: bytes, etag: Optional[str], max_size: int
    ) -> Fetched:
        headers = self._headers(target, accept, etag)
        return await self._retrying(target, lambda: self._fetch_once(target, headers, max_size))

    def _headers(self, target: _Target, accept: bytes, etag: Optional[str]) -> Headers:
        headers = Headers({b"accept": [accept], b"user-agent": [self._user_agent]})
        if etag is not None:
            headers.setRawHeaders(b"if-none-match", [etag.encode("latin-1")])
        if target.authorization is not None:
            headers.setRawHeaders(b"authorization", [target.authorization])
        return headers

    async def _retrying(
        self, target: _Target, attempt: Callable[[], Coroutine[Any, Any, T]]
    ) -> T:
        """Run C{attempt} until it succeeds, fails for good, or retries run out."""
        retries = 0
        while True:
            try:
                result = await attempt()
            except _Retry as retry:
                self._errors.inc(_error_kind(retry.error, "connection"))
                if retries == self._max_retries:
                    error = retry.error
                    if retries:
                        message = f"{error.message} (after {retries + 1} attempts)"
                        error = type(error)(message, error.status)
                    self._requests.inc("timeout" if isinstance(error, UpstreamTimeout) else "error")
                    if retry.delay is not None:
                        self._not_before[target.host] = self._clock.seconds() + retry.delay
                    self._failing(target, error, retries + 1)
                    raise error from None
                if retry.delay is None:
                    delay = self._rng.uniform(0, min(self._max_backoff, self._backoff * 2**retries))
                else:
                    delay = min(self._max_backoff, retry.delay)
                retries += 1
                await deferLater(self._clock, delay)
            except UpstreamNotFound:
                self._requests.inc("not_found")
                self._working(target.host)
                raise
            except UpstreamError as error:
                self._errors.inc(_error_kind(error, "invalid"))
                self._requests.inc("error")
                self._working(target.host)
                raise
            else:
                self._requests.inc("not_modified" if getattr(result, "code", 200) == 304 else "ok")
                self._working(target.host)
                return result

    async def _fetch_once(self, target: _Target, headers: Headers, max_size: int) -> Fetched:
        async with self._slot(target.host):
            return await self._within(target, self._get(target, headers, max_size))

    async def _get(
        self, target: _Target, headers: Headers, max_size: int, partial: tuple[int, ...] = ()
    ) -> Fetched:
        """A 200 or 304 or, when C{partial} is C{(206,)}, only a 206."""
        response = await self._send(target, headers)
        if partial and response.code == 200:
            response.deliverBody(_Discard())
            raise RangeRefused(f"upstream {target.url} ignores Range requests")
        self._check(target, response, partial or (200, 304))
        url = _final_url(response, target.url)
        if response.code == 304:
            response.deliverBody(_Discard())
            return Fetched(304, b"", response.headers, url)
        too_large = UpstreamError(f"upstream {target.url} sent more than {max_size} bytes")
        if isinstance(response.length, int) and response.length > max_size:
            response.deliverBody(_Discard())
            raise too_large
        reader = _BodyReader(max_size, too_large)
        response.deliverBody(reader)
        return Fetched(response.code, await reader.done, response.headers, url)

    async def _open_once(self, target: _Target, headers: Headers) -> IResponse:
        slot = self._slot(target.host)
        await slot.acquire()
        try:
            response = await self._within(target, self._send(target, headers))
            self._check(target, response, (200,))
        except BaseException:
            slot.release()
            raise
        return _SlotResponse(response, slot.release)

    def _slot(self, host: str) -> DeferredSemaphore:
        slot = self._slots.get(host)
        if slot is None:
            slot = self._slots[host] = DeferredSemaphore(self._per_host)
        return slot

    async def _send(self, target: _Target, headers: Headers) -> IResponse:
        return await self._http.request("GET", target.url, headers=headers, unbuffered=True)

    async def _within(self, target: _Target, work: Coroutine[Any, Any, T]) -> T:
        """Run C{work}, cancelled after the timeout; classify what went wrong."""
        running = Deferred.fromCoroutine(work)
        timer = self._clock.callLater(self._timeout, running.cancel)
        try:
            return await running
        except (UpstreamError, _Retry):
            raise
        except Exception as error:
            if not timer.active():  # it fired: nothing cancelled it yet
                message = f"upstream {target.url} timed out after {self._timeout:g}s"
                raise _Retry(UpstreamTimeout(message))
            if _wraps(error, (CancelledError, ConnectingCancelledError)):
                raise CancelledError() from error  # by our caller: no retry
            if _wraps(error, (InfiniteRedirection, RedirectWithNoLocation)):
                message = f"upstream {target.url} redirected too often or without a location"
                raise UpstreamError(message)
            if isinstance(error, _CONNECTION_ERRORS):
                raise _Retry(UpstreamError(f"upstream {target.url} failed: {describe(error)}"))
            raise
        finally:
            if timer.active():
                timer.cancel()

    def _check(self, target: _Target, response: IResponse, accepted: tuple[int, ...]) -> None:
        """Raise for an answer other than C{accepted}, discarding its body."""
        code = response.code
        if code in accepted:
            return
        response.deliverBody(_Discard())
        phrase = RESPONSES.get(code, b"").decode()
        message = f"upstream {target.url} answered {code} {phrase}".rstrip()
        if code in (404, 410):
            raise UpstreamNotFound(message, code)
        if code == 429 or 500 <= code < 600:
            delay = None
            if code in (429, 503):
                delay = _retry_after(response.headers, self._clock.seconds())
            raise _Retry(UpstreamError(message, code), delay)
        raise UpstreamError(message, code)

    def _failing(self, target: _Target, error: UpstreamError, attempts: int) -> None:
        if target.host not in self._outages:
            self._outages[target.host] = self._clock.seconds()
            self._log.warn(
                "upstream {host} is failing: {problem}",
                host=target.host,
                url=target.url,
                status=error.status,
                problem=error.message,
                attempts=attempts,
            )

    def _working(self, host: str) -> None:
        since = self._outages.pop(host, None)
        if since is not None:
            self._log.info(
                "upstream {host} works again after {seconds:.0f}s",
                host=host,
                seconds=self._clock.seconds() - since,
            )


def _error_kind(error: UpstreamError, otherwise: str) -> str:
    """How an attempt failed, as a metric label: timeout, http (a status), else C{otherwise}."""
    if isinstance(error, UpstreamTimeout):
        return "timeout"
    return "http" if error.status is not None else otherwise


def _final_url(response: IResponse, default: str) -> str:
    request = getattr(response, "request", None)
    uri = getattr(request, "absoluteURI", None)
    return uri.decode("ascii") if isinstance(uri, bytes) else default

