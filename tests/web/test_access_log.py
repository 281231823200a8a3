"""The access log and request metrics of DevpiSite: one event and one count per request."""

from __future__ import annotations

import base64
from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransport
from twisted.logger import Logger, formatEvent
from twisted.trial.unittest import TestCase

from devpi_twisted.web.access_log import Seconds, loggable_path, method_label
from devpi_twisted.web.app import make_resource
from devpi_twisted.web.site import DURATION_BUCKETS, DevpiSite
from tests.support import MemoryServer


class AccessLogTests(TestCase):
    def setUp(self) -> None:
        self.server = MemoryServer(self.mktemp())
        self.addCleanup(self.server.close)
        self.events: list[dict[str, Any]] = []
        self.metrics = self.server.ctx.metrics
        self.site = DevpiSite(
            make_resource(self.server.ctx),
            1000,
            self.metrics,
            Logger(observer=self.events.append),
            reactor=self.server.clock,
        )
        self.site.timeOut = None

    def send(self, *chunks: bytes, pause: float = 0.0) -> bytes:
        """Send C{chunks} on one connection, C{pause} seconds apart; the bytes answered."""
        channel = self.site.buildProtocol(None)
        transport = StringTransport(peerAddress=IPv4Address("TCP", "192.0.2.7", 50123))
        channel.makeConnection(transport)
        for i, chunk in enumerate(chunks):
            if i:
                self.server.clock.advance(pause)
            channel.dataReceived(chunk)
        return bytes(transport.value())

    def get(self, path: str, *headers: bytes) -> bytes:
        head = b"".join(header + b"\r\n" for header in headers)
        return self.send(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n" + head + b"\r\n")

    def count(self, route: str, method: str, status: int) -> float:
        return self.metrics.counter(
            "devpi_requests_total", "", ("route", "method", "status")
        ).value(route, method, status)

    def test_one_event_per_request_with_its_fields_and_one_line_of_text(self) -> None:
        reply = self.send(
            b"GET /+api?x=1 HTTP/1.1\r\nHost: x\r\nUser-Agent: pip/24\r\n",
            b"\r\n",
            pause=0.0018,
        )
        self.assertTrue(reply.startswith(b"HTTP/1.1 200 "), reply)
        body_size = len(reply.partition(b"\r\n\r\n")[2])
        [event] = self.events
        self.assertEqual(
            {name: event[name] for name in
             ("remote", "user", "method", "path", "status", "bytes", "agent", "route")},
            {
                "remote": "192.0.2.7",
                "user": "-",
                "method": "GET",
                "path": "/+api?x=1",
                "status": 200,
                "bytes": body_size,
                "agent": "pip/24",
                "route": "root_api",
            },
        )
        self.assertAlmostEqual(event["duration"], 0.0018, places=6)
        self.assertEqual(
            formatEvent(event),
            f'192.0.2.7 - "GET /+api?x=1" 200 {body_size} 1.8ms "pip/24"',
        )

    def test_the_authenticated_user_is_logged_and_no_credentials(self) -> None:
        pair = base64.b64encode(b"root:").decode()
        self.get("/+api", b"Authorization: Basic " + pair.encode())
        self.get("/+api", b"Authorization: Basic " + base64.b64encode(b"root:wrong"))
        first, second = self.events
        self.assertEqual((first["user"], second["user"]), ("root", "-"))
        for event in self.events:
            self.assertNotIn(pair, repr(event))
            self.assertNotIn("wrong", repr(event))

    def test_secrets_in_the_query_are_not_logged(self) -> None:
        self.get("/+api?password=hunter2&token=abc&name=x")
        [event] = self.events
        self.assertEqual(event["path"], "/+api?password=***&token=***&name=x")

    def test_requests_are_counted_by_route_method_and_status_with_their_duration(self) -> None:
        self.get("/+api")
        self.get("/+api")
        self.get("/nobody")
        self.get("/no/such/+thing/here")
        self.send(b"BREW /+api HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(self.count("root_api", "GET", 200), 2)
        self.assertEqual(self.count("get_user", "GET", 404), 1)
        self.assertEqual(self.count("unrouted", "GET", 404), 1)
        self.assertEqual(self.count("unrouted", "other", 405), 1)
        durations = self.metrics.histogram(
            "devpi_request_duration_seconds", "", DURATION_BUCKETS, ("route",)
        )
        self.assertEqual(durations.count("root_api"), 2)
        text = self.metrics.render()
        self.assertIn(
            'devpi_requests_total{route="root_api",method="GET",status="200"} 2\n', text
        )
        self.assertNotIn("nobody", text)  # label values never carry the raw path

    def test_a_body_over_the_limit_is_logged_and_counted_as_unrouted_413(self) -> None:
        reply = self.send(
            b"POST /root/pypi HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n",
            b"x" * 5000,
        )
        self.assertTrue(reply.startswith(b"HTTP/1.1 413 "), reply)
        [event] = self.events
        self.assertEqual((event["status"], event["route"]), (413, "unrouted"))
        self.assertEqual(self.count("unrouted", "POST", 413), 1)

    def test_simple_pages_from_the_page_cache_have_their_own_route(self) -> None:
        self.server.create_user("alice")
        reply = self.server.request(
            "PUT", "/alice/dev", {"type": "stage"}, headers=self.server.login("alice", "secret")
        )
        self.assertEqual(reply.code, 200, reply)
        self.get("/alice/dev/+simple/")
        self.get("/alice/dev/+simple/")
        self.assertEqual([e["route"] for e in self.events], ["simple_list", "cached_simple_page"])
        self.assertEqual(self.count("cached_simple_page", "GET", 200), 1)
        hits = self.metrics.counter("devpi_page_cache_hits_total", "")
        misses = self.metrics.counter("devpi_page_cache_misses_total", "")
        self.assertEqual((hits.value(), misses.value()), (1, 1))


class FieldTests(TestCase):
    def test_loggable_path(self) -> None:
        for uri, logged in (
            (b"/root/pypi/+simple/", "/root/pypi/+simple/"),
            (b"/x?a=1&b=2", "/x?a=1&b=2"),
            (
                b"/x?Password=1&passwd=2&auth_token=3&x-auth=4&q=5",
                "/x?Password=***&passwd=***&auth_token=***&x-auth=***&q=5",
            ),
            (b"http://alice:s3cret@host/x?q=1", "http://***@host/x?q=1"),
            (b"/caf\xc3\xa9/\xff", "/caf\xe9/\\xff"),
        ):
            self.assertEqual(loggable_path(uri), logged)

    def test_query_parameters_named_as_secret_log_fields_are_masked(self) -> None:
        """The query masks what the JSON log leaves out, e.g. a cookie."""
        self.assertEqual(loggable_path(b"/x?Session-Cookie=c&q=1"), "/x?Session-Cookie=***&q=1")

    def test_durations_read_as_milliseconds_below_a_second(self) -> None:
        self.assertEqual(
            [f"{Seconds(s)}" for s in (0.00004, 0.0018, 0.25, 1.0, 12.345)],
            ["0.0ms", "1.8ms", "250.0ms", "1.00s", "12.35s"],
        )
        self.assertEqual(f"{Seconds(0.25):.3f}", "0.250")
        self.assertEqual(Seconds(0.25), 0.25)

    def test_method_labels_are_few(self) -> None:
        self.assertEqual(
            [method_label(m) for m in (b"GET", b"PUSH", b"get", b"BREW")],
            ["GET", "PUSH", "other", "other"],
        )
