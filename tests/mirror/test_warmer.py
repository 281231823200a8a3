"""The warmer, driven by a Clock: recently used pages revalidated before they expire, politely."""

from __future__ import annotations

import json
import os
import random
from typing import Any, Optional

from treq.testing import StubTreq
from twisted.internet.defer import Deferred, ensureDeferred
from twisted.internet.task import Clock
from twisted.logger import Logger
from twisted.trial.unittest import TestCase
from twisted.web.resource import Resource
from twisted.web.server import Request

from devpi_twisted.mirror.pages import MirrorPages
from devpi_twisted.mirror.upstream import UpstreamClient
from devpi_twisted.mirror.warmer import DAY, INTERVAL, Warmer
from devpi_twisted.model import keys
from devpi_twisted.store.changelog import Store
from devpi_twisted.store.sqlite import SQLiteBackend
from tests.support import run_inline

EXPIRY = 600.0
UPSTREAM = "https://up.example/simple/"


class Upstream(Resource):
    """Project pages (PEP 691 JSON) with ETags; answers C{status} (with C{retry_after}) when set."""

    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[str] = []
        self.status: Optional[int] = None
        self.retry_after: Optional[str] = None

    def render_GET(self, request: Request) -> bytes:
        path = request.path.decode()
        self.asked.append(path)
        if self.status is not None:
            request.setResponseCode(self.status)
            if self.retry_after is not None:
                request.setHeader(b"retry-after", self.retry_after.encode())
            return b"busy"
        if request.getHeader(b"if-none-match") == b'"v1"':
            request.setResponseCode(304)
            return b""
        request.setHeader(b"content-type", b"application/vnd.pypi.simple.v1+json")
        request.setHeader(b"etag", b'"v1"')
        name = path.strip("/").rsplit("/", 1)[-1]
        page = {"meta": {"api-version": "1.1"}, "name": name, "files": []}
        return json.dumps(page).encode()


class WarmerTests(TestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(1_800_000_000)
        path = self.mktemp()
        os.makedirs(path)
        self.store = Store(SQLiteBackend(os.path.join(path, "s.sqlite")), run_inline, self.clock)
        self.config = {"type": "mirror", "mirror_url": UPSTREAM, "mirror_cache_expiry": EXPIRY}
        self.store.transact_now(lambda txn: txn.set(keys.index("root", "up"), self.config))
        self.upstream = Upstream()
        self.stub = StubTreq(self.upstream)
        self.client = UpstreamClient(
            self.clock, self.stub, rng=random.Random(0), log=Logger(),
            user_agent="test", max_retries=0,
        )
        self.pages = MirrorPages(self.store, self.client, self.clock, run_inline, EXPIRY, False, Logger())
        self.warmer = Warmer(
            self.store, self.pages, self.client, self.clock, Logger(), days=7, concurrency=2
        )

    def use(self, *projects: str) -> None:
        for project in projects:
            done = ensureDeferred(self.pages.refresh("root/up", self.config, project))
            self.stub.flush()
            self.successResultOf(done)

    def asked(self) -> list[str]:
        asked, self.upstream.asked[:] = list(self.upstream.asked), []
        return asked

    def look(self) -> None:
        done = self.warmer.look()
        self.stub.flush()
        self.successResultOf(done)

    def test_pages_are_revalidated_just_before_they_expire_never_earlier(self) -> None:
        self.use("a", "b")
        self.asked()
        self.clock.advance(EXPIRY - INTERVAL * 3)
        self.look()
        self.assertEqual(self.asked(), [])
        self.clock.advance(INTERVAL * 2)
        self.look()
        self.assertEqual(sorted(self.asked()), ["/simple/a/", "/simple/b/"])
        # renewed: a client after the old expiry finds them fresh, upstream is not asked
        self.clock.advance(INTERVAL * 2)
        self.use("a", "b")
        self.assertEqual(self.asked(), [])

    def test_pages_not_used_within_the_window_are_left_to_expire(self) -> None:
        self.use("old")
        self.clock.advance(8 * DAY)
        self.use("new")
        self.asked()
        self.clock.advance(EXPIRY)
        self.look()
        self.assertEqual(self.asked(), ["/simple/new/"])

    def test_at_most_concurrency_revalidations_run_at_once(self) -> None:
        self.use("a", "b", "c", "d", "e")
        gates: list[Deferred[None]] = []

        def held(*args: Any) -> Deferred[None]:
            gates.append(Deferred())
            return gates[-1]

        self.pages.revalidate = held  # type: ignore[method-assign,assignment]
        self.clock.advance(EXPIRY)
        done = self.warmer.look()
        self.assertEqual(len(gates), 2)
        # a look meanwhile starts nothing that is already under way
        self.clock.advance(INTERVAL)
        self.warmer.look()
        self.assertEqual(len(gates), 2)
        while len(gates) < 5:
            gates[len(gates) - 2].callback(None)
        self.assertEqual(len(gates), 5)
        for gate in gates[3:]:
            gate.callback(None)
        self.successResultOf(done)

    def test_retry_after_is_respected_and_a_down_upstream_is_only_probed(self) -> None:
        self.use("a", "b", "c")
        self.asked()
        self.upstream.status, self.upstream.retry_after = 503, "300"
        self.clock.advance(EXPIRY)
        self.look()
        first = self.asked()
        self.assertEqual(len(first), 1)  # one failed with Retry-After: the others wait
        self.clock.advance(INTERVAL)
        self.look()
        self.assertEqual(self.asked(), [])
        self.clock.advance(300)
        self.upstream.retry_after = None  # now simply down: one probe per look
        self.look()
        self.assertEqual(len(self.asked()), 1)
        self.clock.advance(INTERVAL)
        self.upstream.status = None  # back: the next look revalidates all
        self.look()
        self.assertEqual(len(self.asked()), 1)
        self.clock.advance(INTERVAL)
        self.look()
        self.assertEqual(len(self.asked()), 2)

    def test_the_loop_runs_on_the_clock_and_stops_with_the_service(self) -> None:
        self.use("a")
        self.asked()
        used = self.clock.seconds()
        self.warmer.startService()
        while not self.upstream.asked:
            self.clock.advance(INTERVAL)
            self.stub.flush()
        # at the last look before expiry, not sooner
        self.assertLess(self.clock.seconds(), used + EXPIRY)
        self.assertGreaterEqual(self.clock.seconds() + INTERVAL + 2 * self.client.timeout, used + EXPIRY)
        self.asked()
        self.warmer.stopService()
        self.clock.advance(EXPIRY * 3)
        self.assertEqual(self.asked(), [])
