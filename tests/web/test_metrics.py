"""GET /+metrics, and what the page cache and the upstream client count."""

from __future__ import annotations

import random
import re
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionRefusedError
from twisted.internet.task import Clock
from twisted.logger import Logger
from twisted.trial.unittest import TestCase

from devpi_twisted.metrics import Metrics
from devpi_twisted.mirror.upstream import UpstreamClient, UpstreamError, UpstreamNotFound
from tests.mirror.test_upstream import FakeHTTP
from tests.support import MemoryServer

SAMPLE = re.compile(r"^([a-z_]+(?:\{[^}]*\})?) (\S+)$", re.M)


def samples(text: str) -> dict[str, str]:
    """The sample lines of an exposition: series -> value."""
    return dict(SAMPLE.findall(text))


class MetricsPageTests(TestCase):
    def setUp(self) -> None:
        self.server = MemoryServer(self.mktemp())
        self.addCleanup(self.server.close)

    def scrape(self) -> dict[str, str]:
        reply = self.server.request("GET", "/+metrics", accept_json=False)
        self.assertEqual(reply.code, 200, reply)
        self.assertEqual(reply.header("content-type"), "text/plain; version=0.0.4; charset=utf-8")
        text = reply.body.decode("utf-8")
        for line in text.splitlines():
            self.assertTrue(line.startswith("# ") or SAMPLE.match(line), line)
        return samples(text)

    def test_serves_the_store_serial_read_at_scrape_time(self) -> None:
        before = self.scrape()
        self.assertEqual(before["devpi_store_serial"], str(self.server.store.serial))
        self.server.create_user("alice")
        after = self.scrape()
        self.assertEqual(after["devpi_store_serial"], str(self.server.store.serial))
        self.assertGreater(int(after["devpi_store_serial"]), int(before["devpi_store_serial"]))

    def test_counts_page_cache_hits_and_misses(self) -> None:
        alice = self.server.create_user("alice")
        reply = self.server.request("PUT", "/alice/dev", {}, headers=alice)
        self.assertEqual(reply.code, 200, reply)
        for accept in ("text/html", "text/html", "text/html", "application/vnd.pypi.simple.v1+json"):
            reply = self.server.request("GET", "/alice/dev/+simple/", headers={"Accept": accept})
            self.assertEqual(reply.code, 200, reply)
        values = self.scrape()
        # each page rendered once, then answered from the cache (before routing)
        self.assertEqual(
            (values["devpi_page_cache_hits_total"], values["devpi_page_cache_misses_total"]),
            ("2", "2"),
        )
        # a commit that changes an index drops the cached pages: rendered again
        self.assertEqual(self.server.request("PUT", "/alice/other", {}, headers=alice).code, 200)
        self.server.request("GET", "/alice/dev/+simple/", accept_json=False)
        self.assertEqual(self.scrape()["devpi_page_cache_misses_total"], "3")

    def test_is_not_cached_and_takes_no_post(self) -> None:
        reply = self.server.request("GET", "/+metrics", accept_json=False)
        self.assertEqual(reply.header("cache-control"), "no-store")
        self.assertEqual(self.server.request("POST", "/+metrics", data=b"").code, 405)


class UpstreamCountTests(TestCase):
    def setUp(self) -> None:
        self.metrics = Metrics()
        self.http = FakeHTTP()
        self.clock = Clock()
        self.client = UpstreamClient(
            self.clock, self.http, max_retries=1, rng=random.Random(0),
            log=Logger(observer=lambda event: None), user_agent="test", metrics=self.metrics,
        )

    def fetch(self, etag: Any = None) -> Deferred[Any]:
        url = "https://up.example/simple/x/"
        return Deferred.fromCoroutine(self.client.fetch(url, b"text/html", etag))

    def counts(self) -> dict[str, str]:
        return {
            series: value for series, value in samples(self.metrics.render()).items()
            if series.startswith("devpi_upstream")
        }

    def test_fetches_by_outcome_and_failed_attempts_by_kind(self) -> None:
        d = self.fetch()
        self.http.sent[-1].answer(200, b"page")
        self.successResultOf(d)
        d = self.fetch('"e"')
        self.http.sent[-1].answer(304)
        self.successResultOf(d)
        d = self.fetch()
        self.http.sent[-1].answer(404)
        self.failureResultOf(d, UpstreamNotFound)
        d = self.fetch()
        self.http.sent[-1].answer(502)
        self.clock.advance(30)
        self.http.sent[-1].fail(ConnectionRefusedError())
        self.failureResultOf(d, UpstreamError)
        d = self.fetch()
        self.clock.advance(5)  # the attempt times out, the retry is answered
        self.clock.advance(30)
        self.http.sent[-1].answer(200, b"page")
        self.successResultOf(d)
        d = self.fetch()
        self.http.sent[-1].answer(403)
        self.failureResultOf(d, UpstreamError)
        self.assertEqual(
            self.counts(),
            {
                'devpi_upstream_requests_total{outcome="ok"}': "2",
                'devpi_upstream_requests_total{outcome="not_modified"}': "1",
                'devpi_upstream_requests_total{outcome="not_found"}': "1",
                'devpi_upstream_requests_total{outcome="error"}': "2",
                'devpi_upstream_errors_total{kind="http"}': "2",
                'devpi_upstream_errors_total{kind="connection"}': "1",
                'devpi_upstream_errors_total{kind="timeout"}': "1",
            },
        )

    def test_concurrent_equal_fetches_count_once(self) -> None:
        first, second = self.fetch(), self.fetch()
        [sent] = self.http.sent
        sent.answer(200, b"page")
        self.successResultOf(first), self.successResultOf(second)
        self.assertEqual(self.counts(), {'devpi_upstream_requests_total{outcome="ok"}': "1"})
