"""The upstream client: retries with backoff, timeouts, per-host bounds, single flight, outages."""

from __future__ import annotations

import base64
import random
from email.utils import formatdate
from types import SimpleNamespace
from typing import Any, Optional, Sequence

from treq.testing import StubTreq
from twisted.internet.address import IPv4Address
from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.error import ConnectionAborted, ConnectionRefusedError
from twisted.internet.interfaces import IProtocol
from twisted.internet.protocol import Protocol
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock
from twisted.logger import LogLevel, Logger, formatEvent
from twisted.python.failure import Failure
from twisted.test import iosim
from twisted.trial.unittest import TestCase
from twisted.web.client import ResponseDone, ResponseFailed, ResponseNeverReceived
from twisted.web.http_headers import Headers
from twisted.web.iweb import UNKNOWN_LENGTH, IResponse
from twisted.web.resource import Resource
from twisted.web.server import Site
from twisted.web.util import Redirect

from devpi_twisted.mirror.upstream import (
    MAX_REDIRECTS,
    Fetched,
    UpstreamClient,
    UpstreamError,
    UpstreamNotFound,
    UpstreamTimeout,
    make_http_client,
)

URL = "https://up.example/simple/hello/"
ACCEPT = b"application/vnd.pypi.simple.v1+json"
SEED = 42
TIMEOUT = 5.0


class FakeResponse:
    """An IResponse whose body is delivered in C{chunks}, or stalls when C{chunks} is None."""

    version = (b"HTTP", 1, 1)
    phrase = b""
    previousResponse = None

    def __init__(
        self,
        code: int,
        chunks: Optional[Sequence[bytes]],
        headers: Optional[dict[bytes, list[bytes]]] = None,
        length: Any = UNKNOWN_LENGTH,
        final_url: Optional[str] = None,
    ) -> None:
        self.code = code
        self.headers = Headers(headers or {})
        self.length = length
        self.request = SimpleNamespace(absoluteURI=final_url.encode()) if final_url else None
        self._chunks = chunks
        self.protocol: Optional[IProtocol] = None
        self.stopped = False

    def deliverBody(self, protocol: IProtocol) -> None:
        self.protocol = protocol
        protocol.makeConnection(self)  # type: ignore[arg-type]
        if self._chunks is not None:
            for chunk in self._chunks:
                if self.stopped:
                    return
                protocol.dataReceived(chunk)
            protocol.connectionLost(Failure(ResponseDone()))

    def stopProducing(self) -> None:
        """What the body's transport does when its reader gives up: abort."""
        self.stopped = True
        assert self.protocol is not None
        self.protocol.connectionLost(Failure(ResponseFailed([Failure(ConnectionAborted())])))


class Sent:
    """One request the client sent; the test answers it."""

    def __init__(self, url: str, headers: Headers, options: dict[str, Any]) -> None:
        self.url = url
        self.headers = headers
        self.options = options
        self.cancelled = False
        self.deferred: Deferred[IResponse] = Deferred(self._cancel)

    def _cancel(self, deferred: Deferred[IResponse]) -> None:
        """Fail as twisted.web's client does when a request is cancelled."""
        self.cancelled = True
        deferred.errback(ResponseNeverReceived([Failure(CancelledError())]))

    def header(self, name: bytes) -> Optional[bytes]:
        values = self.headers.getRawHeaders(name)
        return values[0] if values else None

    def answer(
        self,
        code: int = 200,
        body: Optional[bytes] = b"",
        headers: Optional[dict[bytes, list[bytes]]] = None,
        **kwargs: Any,
    ) -> FakeResponse:
        response = FakeResponse(code, None if body is None else [body], headers, **kwargs)
        self.deferred.callback(response)
        return response

    def fail(self, error: Exception) -> None:
        self.deferred.errback(error)


class FakeHTTP:
    """Records requests; each answers when the test says."""

    def __init__(self) -> None:
        self.sent: list[Sent] = []

    def request(
        self, method: str, url: str, *, headers: Headers, **kwargs: Any
    ) -> Deferred[IResponse]:
        assert method == "GET"
        sent = Sent(url, headers, kwargs)
        self.sent.append(sent)
        return sent.deferred

    def to(self, host: str) -> list[Sent]:
        return [sent for sent in self.sent if f"//{host}/" in sent.url]


class Collector(Protocol):
    """Collects a streamed body."""

    def __init__(self) -> None:
        self.data = b""
        self.reason: Optional[Failure] = None

    def dataReceived(self, data: bytes) -> None:
        self.data += data

    def connectionLost(self, reason: Failure) -> None:  # type: ignore[override]
        self.reason = reason


def jitter(count: int) -> list[float]:
    """The first C{count} backoff delays drawn with the test's seed (backoff 0.5, cap 30)."""
    rng = random.Random(SEED)
    return [rng.uniform(0, min(30.0, 0.5 * 2**n)) for n in range(count)]


class UpstreamTestCase(TestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.http = FakeHTTP()
        self.events: list[dict[str, Any]] = []
        self.client = self.make_client()

    def make_client(self, http: Any = None, **kwargs: Any) -> UpstreamClient:
        return UpstreamClient(
            self.clock,
            http or self.http,
            timeout=TIMEOUT,
            rng=random.Random(SEED),
            log=Logger(observer=self.events.append),
            user_agent="devpi-twisted/test",
            **kwargs,
        )

    def fetch(self, url: str = URL, etag: Optional[str] = None, **kwargs: Any) -> Deferred[Fetched]:
        return Deferred.fromCoroutine(self.client.fetch(url, ACCEPT, etag, **kwargs))

    def open(self, url: str = URL) -> Deferred[IResponse]:
        return Deferred.fromCoroutine(self.client.open(url))

    def assertNextAttemptAfter(self, delay: float) -> None:
        sent = len(self.http.sent)
        self.clock.advance(delay - 0.001)
        self.assertEqual(len(self.http.sent), sent, "retried too early")
        self.clock.advance(0.002)
        self.assertEqual(len(self.http.sent), sent + 1, "not retried")

    def logged(self, level: LogLevel) -> list[str]:
        return [formatEvent(event) for event in self.events if event["log_level"] is level]


class FetchTests(UpstreamTestCase):
    def test_returns_the_page_with_its_headers(self) -> None:
        d = self.fetch()
        [sent] = self.http.sent
        self.assertEqual(sent.url, URL)
        self.assertEqual(sent.header(b"accept"), ACCEPT)
        self.assertEqual(sent.header(b"user-agent"), b"devpi-twisted/test")
        self.assertIsNone(sent.header(b"if-none-match"))
        self.assertIsNone(sent.header(b"authorization"))
        final_url = "https://up.example/simple/hello/?x"
        sent.answer(200, b"<html>", {b"etag": [b'"e1"']}, final_url=final_url)
        fetched = self.successResultOf(d)
        self.assertEqual((fetched.code, fetched.body), (200, b"<html>"))
        self.assertEqual(fetched.headers.getRawHeaders(b"etag"), [b'"e1"'])
        self.assertEqual(fetched.url, final_url)

    def test_sends_the_etag_and_takes_304_as_unchanged(self) -> None:
        d = self.fetch(etag='"e1"')
        [sent] = self.http.sent
        self.assertEqual(sent.header(b"if-none-match"), b'"e1"')
        sent.answer(304, b"", {b"etag": [b'"e1"']})
        fetched = self.successResultOf(d)
        self.assertEqual(fetched, Fetched(304, b"", fetched.headers, URL))
        self.assertEqual(fetched.headers.getRawHeaders(b"etag"), [b'"e1"'])

    def test_credentials_in_the_url_become_basic_auth_and_appear_nowhere_else(self) -> None:
        self.client = self.make_client(max_retries=0)
        d = self.fetch("https://alice:s3cr%40t@up.example/simple/hello/")
        [sent] = self.http.sent
        self.assertEqual(sent.url, URL)
        basic = b"Basic " + base64.b64encode(b"alice:s3cr@t")
        self.assertEqual(sent.header(b"authorization"), basic)
        sent.answer(503)
        error = self.failureResultOf(d, UpstreamError).value
        self.assertIn(URL, error.message)
        logs = " ".join(formatEvent(event) for event in self.events)
        for text in (error.message, str(error), logs):
            self.assertNotIn("s3cr", text)
            self.assertNotIn("alice", text)

    def test_a_fetched_page_names_its_url_without_credentials(self) -> None:
        d = self.fetch("https://alice:pw@up.example/simple/hello/")
        self.http.sent[0].answer(200, b"page")
        self.assertEqual(self.successResultOf(d).url, URL)

    def test_404_and_410_mean_not_found_without_retry(self) -> None:
        for code in (404, 410):
            d = self.fetch()
            self.http.sent[-1].answer(code, b"no such project")
            error = self.failureResultOf(d, UpstreamNotFound).value
            self.assertEqual(error.status, code)
            self.clock.advance(60)
        self.assertEqual(len(self.http.sent), 2)

    def test_other_4xx_fail_without_retry(self) -> None:
        d = self.fetch()
        self.http.sent[0].answer(403)
        error = self.failureResultOf(d, UpstreamError).value
        self.assertNotIsInstance(error, UpstreamNotFound)
        self.assertEqual(error.status, 403)
        self.assertEqual(error.message, f"upstream {URL} answered 403 Forbidden")
        self.clock.advance(60)
        self.assertEqual(len(self.http.sent), 1)

    def test_error_bodies_are_not_read(self) -> None:
        d = self.fetch()
        response = self.http.sent[0].answer(404, None)
        self.failureResultOf(d, UpstreamNotFound)
        self.assertTrue(response.stopped)

    def test_a_body_announced_larger_than_max_size_is_not_read(self) -> None:
        d = self.fetch(max_size=10)
        response = self.http.sent[0].answer(200, None, length=11)
        self.assertIn("more than 10 bytes", self.failureResultOf(d, UpstreamError).value.message)
        self.assertTrue(response.stopped)

    def test_reading_stops_once_the_body_exceeds_max_size(self) -> None:
        d = self.fetch(max_size=10)
        sent = self.http.sent[0]
        response = FakeResponse(200, [b"123456", b"7890", b"X", b"never read"])
        received: list[bytes] = []
        original = response.deliverBody

        def spy(protocol: IProtocol) -> None:
            data_received = protocol.dataReceived

            def counting(data: bytes) -> None:
                received.append(data)
                data_received(data)

            protocol.dataReceived = counting  # type: ignore[method-assign]
            original(protocol)

        response.deliverBody = spy  # type: ignore[method-assign]
        sent.deferred.callback(response)
        self.assertIn("more than 10 bytes", self.failureResultOf(d, UpstreamError).value.message)
        self.assertTrue(response.stopped)
        self.assertEqual(received, [b"123456", b"7890", b"X"])
        self.clock.advance(60)
        self.assertEqual(len(self.http.sent), 1)


class SingleFlightTests(UpstreamTestCase):
    def test_concurrent_fetches_share_one_request(self) -> None:
        ds = [self.fetch() for _ in range(3)]
        [sent] = self.http.sent
        sent.answer(200, b"page")
        results = [self.successResultOf(d) for d in ds]
        self.assertEqual([r.body for r in results], [b"page"] * 3)

    def test_concurrent_fetches_share_the_failure(self) -> None:
        ds = [self.fetch() for _ in range(3)]
        self.http.sent[0].answer(404)
        errors = [self.failureResultOf(d, UpstreamNotFound).value for d in ds]
        self.assertEqual(len(self.http.sent), 1)
        self.assertTrue(all(error is errors[0] for error in errors))

    def test_different_etags_or_accepts_are_separate_requests(self) -> None:
        self.fetch()
        self.fetch(etag='"e1"')
        Deferred.fromCoroutine(self.client.fetch(URL, b"text/html"))
        self.assertEqual(len(self.http.sent), 3)

    def test_a_fetch_after_the_flight_landed_asks_again(self) -> None:
        self.fetch()
        self.http.sent[0].answer(200, b"one")
        d = self.fetch()
        self.assertEqual(len(self.http.sent), 2)
        self.http.sent[1].answer(200, b"two")
        self.assertEqual(self.successResultOf(d).body, b"two")

    def test_a_cancelled_caller_leaves_the_others_their_result(self) -> None:
        first, second = self.fetch(), self.fetch()
        first.cancel()
        self.http.sent[0].answer(200, b"page")
        self.assertEqual(self.successResultOf(second).body, b"page")
        self.failureResultOf(first)


class PerHostTests(UpstreamTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.client = self.make_client(per_host=2)

    def test_at_most_per_host_requests_in_flight_per_host(self) -> None:
        ds = [self.fetch(f"https://up.example/simple/p{n}/") for n in range(5)]
        self.assertEqual(len(self.http.sent), 2)
        other = self.fetch("https://other.example/simple/p/")
        self.assertEqual(len(self.http.to("other.example")), 1)
        self.http.sent[0].answer(200, b"p0")
        self.assertEqual(len(self.http.to("up.example")), 3)
        for sent in self.http.to("up.example")[1:]:
            sent.answer(200, b"p")
        self.assertEqual(len(self.http.to("up.example")), 5)
        for sent in self.http.to("up.example")[3:]:
            sent.answer(200, b"p")
        self.http.to("other.example")[0].answer(200, b"o")
        for d in ds + [other]:
            self.assertEqual(self.successResultOf(d).code, 200)

    def test_a_slot_is_freed_by_failure_and_timeout(self) -> None:
        self.client = self.make_client(per_host=1, max_retries=0)
        first, second, third = (self.fetch(f"https://up.example/simple/p{n}/") for n in range(3))
        self.http.sent[0].fail(ConnectionRefusedError())
        self.failureResultOf(first, UpstreamError)
        self.assertEqual(len(self.http.sent), 2)
        self.clock.advance(TIMEOUT)
        self.failureResultOf(second, UpstreamTimeout)
        self.assertEqual(len(self.http.sent), 3)

    def test_a_slot_is_free_while_waiting_to_retry(self) -> None:
        self.client = self.make_client(per_host=1)
        self.fetch("https://up.example/simple/a/")
        self.fetch("https://up.example/simple/b/")
        self.http.sent[0].answer(503)
        self.assertEqual(self.http.sent[1].url, "https://up.example/simple/b/")


class RetryTests(UpstreamTestCase):
    def test_retries_a_connection_error_after_a_jittered_backoff(self) -> None:
        d = self.fetch()
        self.http.sent[0].fail(ConnectionRefusedError())
        self.assertNextAttemptAfter(jitter(1)[0])
        self.http.sent[1].answer(200, b"page")
        self.assertEqual(self.successResultOf(d).body, b"page")

    def test_retries_5xx_with_exponential_backoff(self) -> None:
        d = self.fetch()
        delays = jitter(3)
        for n, code in enumerate((500, 502, 503)):
            self.http.sent[n].answer(code)
            self.assertNextAttemptAfter(delays[n])
        self.http.sent[3].answer(200, b"page")
        self.assertEqual(self.successResultOf(d).body, b"page")

    def test_backoff_is_capped_at_max_backoff(self) -> None:
        self.client = self.make_client(max_retries=8, backoff=1.0, max_backoff=4.0)
        self.fetch()
        rng = random.Random(SEED)
        for n in range(8):
            self.http.sent[n].answer(500)
            self.assertNextAttemptAfter(rng.uniform(0, min(4.0, 2.0**n)))

    def test_429_waits_as_long_as_retry_after_says(self) -> None:
        d = self.fetch()
        self.http.sent[0].answer(429, b"slow down", {b"retry-after": [b"7"]})
        self.assertNextAttemptAfter(7)
        self.http.sent[1].answer(200, b"page")
        self.assertEqual(self.successResultOf(d).body, b"page")

    def test_503_retry_after_may_be_an_http_date(self) -> None:
        self.clock.advance(1_700_000_000)
        self.fetch()
        when = formatdate(1_700_000_000 + 12, usegmt=True).encode()
        self.http.sent[0].answer(503, b"", {b"retry-after": [when]})
        self.assertNextAttemptAfter(12)

    def test_retry_after_is_capped_at_max_backoff(self) -> None:
        self.fetch()
        self.http.sent[0].answer(429, b"", {b"retry-after": [b"3600"]})
        self.assertNextAttemptAfter(30)

    def test_an_unreadable_retry_after_falls_back_to_backoff(self) -> None:
        self.fetch()
        self.http.sent[0].answer(503, b"", {b"retry-after": [b"soon"]})
        self.assertNextAttemptAfter(jitter(1)[0])

    def test_gives_up_after_max_retries_naming_the_url_and_what_happened(self) -> None:
        d = self.fetch()
        for delay in jitter(3):
            self.http.sent[-1].answer(503)
            self.clock.advance(delay + 0.001)
        self.http.sent[-1].answer(503)
        self.assertEqual(len(self.http.sent), 4)
        error = self.failureResultOf(d, UpstreamError).value
        self.assertNotIsInstance(error, (UpstreamTimeout, UpstreamNotFound))
        self.assertEqual(error.status, 503)
        self.assertEqual(
            error.message, f"upstream {URL} answered 503 Service Unavailable (after 4 attempts)"
        )
        self.clock.advance(60)
        self.assertEqual(len(self.http.sent), 4)

    def test_a_connection_failure_message_says_why(self) -> None:
        self.client = self.make_client(max_retries=0)
        d = self.fetch()
        self.http.sent[0].fail(ResponseFailed([Failure(ConnectionRefusedError("nobody home"))]))
        message = self.failureResultOf(d, UpstreamError).value.message
        expected = f"upstream {URL} failed: ConnectionRefusedError"
        self.assertTrue(message.startswith(expected), message)
        self.assertIn("nobody home", message)

    def test_a_stalled_request_is_cancelled_retried_and_times_out(self) -> None:
        d = self.fetch()
        for n, delay in enumerate(jitter(3)):
            self.clock.advance(TIMEOUT)
            self.assertTrue(self.http.sent[n].cancelled)
            self.assertNextAttemptAfter(delay)
        self.clock.advance(TIMEOUT - 0.001)
        self.assertNoResult(d)
        self.clock.advance(0.001)
        error = self.failureResultOf(d, UpstreamTimeout).value
        self.assertEqual(error.message, f"upstream {URL} timed out after 5s (after 4 attempts)")
        self.assertIsNone(error.status)

    def test_the_timeout_covers_the_body(self) -> None:
        d = self.fetch()
        self.clock.advance(3)
        response = self.http.sent[0].answer(200, None)
        self.clock.advance(TIMEOUT - 3)
        self.assertTrue(response.stopped)
        self.assertNextAttemptAfter(jitter(1)[0])
        self.http.sent[1].answer(200, b"page")
        self.assertEqual(self.successResultOf(d).body, b"page")

    def test_a_body_cut_short_is_retried(self) -> None:
        d = self.fetch()
        response = self.http.sent[0].answer(200, None)
        assert response.protocol is not None
        response.protocol.dataReceived(b"half")
        response.protocol.connectionLost(Failure(ResponseFailed([Failure(ConnectionAborted())])))
        self.assertNextAttemptAfter(jitter(1)[0])
        self.http.sent[1].answer(200, b"whole")
        self.assertEqual(self.successResultOf(d).body, b"whole")

    def test_an_unexpected_error_is_not_retried(self) -> None:
        d = self.fetch()
        self.http.sent[0].fail(ValueError("bug"))
        self.failureResultOf(d, ValueError)
        self.clock.advance(60)
        self.assertEqual(len(self.http.sent), 1)


class OutageTests(UpstreamTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.client = self.make_client(max_retries=0)

    def fail_once(self, url: str = URL) -> None:
        d = self.fetch(url)
        self.http.sent[-1].answer(502)
        self.failureResultOf(d, UpstreamError)

    def test_an_outage_is_logged_once_and_so_is_the_recovery(self) -> None:
        self.clock.advance(100)
        self.fail_once()
        self.clock.advance(10)
        self.fail_once()
        self.fail_once()
        self.assertEqual(self.client.outage(), {"up.example": 100})
        [warning] = self.logged(LogLevel.warn)
        self.assertIn("up.example", warning)
        self.assertIn("502", warning)
        d = self.fetch()
        self.http.sent[-1].answer(200, b"page")
        self.successResultOf(d)
        d = self.fetch()
        self.http.sent[-1].answer(200, b"page")
        self.assertEqual(self.client.outage(), {})
        self.assertEqual(len(self.logged(LogLevel.warn)), 1)
        [recovered] = self.logged(LogLevel.info)
        self.assertIn("up.example works again after 10s", recovered)
        self.fail_once()
        self.assertEqual(len(self.logged(LogLevel.warn)), 2)

    def test_outages_are_per_host(self) -> None:
        self.fail_once("https://down.example/simple/")
        d = self.fetch()
        self.http.sent[-1].answer(200, b"page")
        self.assertEqual(list(self.client.outage()), ["down.example"])

    def test_a_not_found_answer_means_the_host_works(self) -> None:
        self.fail_once()
        d = self.fetch()
        self.http.sent[-1].answer(404)
        self.failureResultOf(d, UpstreamNotFound)
        self.assertEqual(self.client.outage(), {})

    def test_a_retry_that_succeeds_is_no_outage(self) -> None:
        self.client = self.make_client(max_retries=1)
        d = self.fetch()
        self.http.sent[0].answer(503)
        self.clock.advance(30)
        self.http.sent[1].answer(200, b"page")
        self.successResultOf(d)
        self.assertEqual((self.client.outage(), self.events), ({}, []))


class OpenTests(UpstreamTestCase):
    FILE = "https://files.example/packages/hello-1.0.tar.gz"

    def test_returns_the_response_unread_for_streaming(self) -> None:
        d = self.open(self.FILE)
        [sent] = self.http.sent
        self.assertEqual(sent.header(b"accept"), b"*/*")
        # treq's default buffering would keep a copy of the whole file in memory
        self.assertEqual(sent.options, {"unbuffered": True})
        sent.answer(200, b"file bytes", {b"content-type": [b"application/gzip"]})
        response = self.successResultOf(d)
        self.assertEqual(response.code, 200)
        self.assertEqual(response.headers.getRawHeaders(b"content-type"), [b"application/gzip"])
        body = Collector()
        response.deliverBody(body)
        self.assertEqual(body.data, b"file bytes")
        assert body.reason is not None
        self.assertTrue(body.reason.check(ResponseDone))

    def test_holds_the_hosts_slot_until_the_body_ends(self) -> None:
        self.client = self.make_client(per_host=1)
        first = self.open(self.FILE)
        upstream_response = self.http.sent[0].answer(200, None)
        second = self.open(self.FILE)
        self.assertEqual(len(self.http.sent), 1)
        response = self.successResultOf(first)
        response.deliverBody(Collector())
        self.assertEqual(len(self.http.sent), 1)
        upstream_response.stopProducing()
        self.assertEqual(len(self.http.sent), 2)
        self.assertNoResult(second)

    def test_a_failed_open_frees_the_slot(self) -> None:
        self.client = self.make_client(per_host=1)
        first = self.open(self.FILE)
        second = self.open(self.FILE)
        self.http.sent[0].answer(404)
        self.failureResultOf(first, UpstreamNotFound)
        self.assertEqual(len(self.http.sent), 2)
        self.http.sent[1].answer(403)
        self.assertEqual(self.failureResultOf(second, UpstreamError).value.status, 403)

    def test_retries_until_the_headers_arrive(self) -> None:
        d = self.open(self.FILE)
        delays = jitter(2)
        self.http.sent[0].answer(500)
        self.assertNextAttemptAfter(delays[0])
        self.clock.advance(TIMEOUT)
        self.assertTrue(self.http.sent[1].cancelled)
        self.assertNextAttemptAfter(delays[1])
        self.http.sent[2].answer(200, None)
        response = self.successResultOf(d)
        self.clock.advance(3600)  # no timeout once streaming
        body = Collector()
        response.deliverBody(body)
        self.assertIsNone(body.reason)

    def test_a_cancelled_open_is_not_retried_and_frees_the_slot(self) -> None:
        self.client = self.make_client(per_host=1)
        first = self.open(self.FILE)
        second = self.open(self.FILE)
        first.cancel()
        self.assertTrue(self.http.sent[0].cancelled)
        self.failureResultOf(first, CancelledError)
        self.assertEqual(len(self.http.sent), 2)
        self.clock.advance(60)
        self.assertEqual(len(self.http.sent), 2)
        self.assertNoResult(second)

    def test_sends_credentials_as_basic_auth(self) -> None:
        self.open("https://bob:pw@files.example/packages/hello-1.0.tar.gz")
        [sent] = self.http.sent
        self.assertEqual(sent.url, self.FILE)
        self.assertEqual(sent.header(b"authorization"), b"Basic " + base64.b64encode(b"bob:pw"))


class Page(Resource):
    isLeaf = True

    def __init__(self, body: bytes) -> None:
        super().__init__()
        self.body = body
        self.requests: list[dict[bytes, list[bytes]]] = []

    def render_GET(self, request: Any) -> bytes:
        self.requests.append(dict(request.requestHeaders.getAllRawHeaders()))
        return self.body


class Loop(Resource):
    """Redirects to itself, forever."""

    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.hits = 0

    def render_GET(self, request: Any) -> bytes:
        self.hits += 1
        request.redirect(b"/loop/")
        return b""


class MemoryNetwork:
    """Connects every TCP connection made on a memory reactor to one Site."""

    def __init__(self, root: Resource) -> None:
        self.reactor = MemoryReactorClock()
        self._site = Site(root, reactor=self.reactor)
        self._pumps: list[iosim.IOPump] = []

    def open_connections(self) -> int:
        return sum(not pump.clientIO.disconnected for pump in self._pumps)

    def flush(self) -> None:
        """Pump until no new connection is made."""
        while True:
            for pump in self._pumps:
                pump.flush()
            if len(self._pumps) == len(self.reactor.tcpClients):
                return
            _, port, factory, _, _ = self.reactor.tcpClients[len(self._pumps)]
            server_address = IPv4Address("TCP", "127.0.0.1", port)
            client_address = IPv4Address("TCP", "127.0.0.1", 40000 + len(self._pumps))
            server = self._site.buildProtocol(client_address)
            client = factory.buildProtocol(server_address)
            self._pumps.append(
                iosim.connect(
                    server,
                    iosim.FakeTransport(server, True, server_address, client_address),
                    client,
                    iosim.FakeTransport(client, False, client_address, server_address),
                )
            )


class HTTPClientTests(UpstreamTestCase):
    def test_works_over_a_treq_client_following_redirects(self) -> None:
        root = Resource()
        page = Page(b"the page")
        root.putChild(b"simple", Redirect(b"/page/"))
        root.putChild(b"page", page)
        stub = StubTreq(root)
        self.client = self.make_client(stub)
        d = self.fetch("http://alice:pw@up.example/simple")
        stub.flush()
        fetched = self.successResultOf(d)
        self.assertEqual((fetched.code, fetched.body), (200, b"the page"))
        self.assertEqual(fetched.url, "http://up.example/page/")
        [headers] = page.requests
        self.assertEqual(headers[b"Accept"], [ACCEPT])
        self.assertEqual(headers[b"Authorization"], [b"Basic " + base64.b64encode(b"alice:pw")])

    def test_a_redirect_loop_ends_in_an_error_after_max_redirects(self) -> None:
        root = Resource()
        loop = Loop()
        root.putChild(b"loop", loop)
        network = MemoryNetwork(root)
        http = make_http_client(network.reactor, pool_size=4)
        self.client = self.make_client(http)
        d = self.fetch("http://127.0.0.1:8080/loop/")
        network.flush()
        error = self.failureResultOf(d, UpstreamError).value
        self.assertIn("redirected too often", error.message)
        self.assertEqual(loop.hits, MAX_REDIRECTS + 1)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_the_pool_reuses_connections_and_closes_them(self) -> None:
        network = MemoryNetwork(Page(b"page"))
        http = make_http_client(network.reactor, pool_size=3)
        self.client = self.make_client(http)
        for path in ("a", "b"):
            d = self.fetch(f"http://127.0.0.1:8080/{path}/")
            network.flush()
            self.assertEqual(self.successResultOf(d).body, b"page")
        self.assertEqual(network.open_connections(), 1)
        closed = http.close()
        network.flush()
        self.successResultOf(closed)
        self.assertEqual(network.open_connections(), 0)

    def test_the_pool_keeps_at_most_pool_size_idle_connections_per_host(self) -> None:
        network = MemoryNetwork(Page(b"page"))
        self.client = self.make_client(make_http_client(network.reactor, pool_size=1))
        ds = [self.fetch(f"http://127.0.0.1:8080/{n}/") for n in range(2)]
        network.flush()
        for d in ds:
            self.successResultOf(d)
        self.assertEqual(len(network.reactor.tcpClients), 2)
        self.assertEqual(network.open_connections(), 1)
