"""Many clients at once asking a mirror for uncached pages, over loopback: each page is fetched once."""

from __future__ import annotations

from collections import Counter

import treq
from twisted.internet import reactor
from twisted.internet.defer import ensureDeferred, gatherResults
from twisted.trial.unittest import TestCase
from twisted.web.client import HTTPConnectionPool

from tests.mirror.fake_upstream import FakeUpstream
from tests.support import RunningServer, basic_auth, server_options

#: projects upstream offers, pages asked for, and clients asking for each page at once
UPSTREAM_PROJECTS = 2000
PAGES = 50
CLIENTS_PER_PAGE = 4
CLIENTS = PAGES * CLIENTS_PER_PAGE
SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"


class MirrorScaleTests(TestCase):
    """A mirror of an upstream with 2000 projects, nothing cached yet."""

    timeout = 60

    async def setUp(self) -> None:
        self.upstream = FakeUpstream()
        self.names = self.upstream.add_many(UPSTREAM_PROJECTS, 1)
        await self.upstream.start()
        self.addCleanup(self.upstream.stop)
        self.server = RunningServer(server_options(self.mktemp()))
        await self.server.start()
        self.addCleanup(self.server.stop)
        reply = await self.server.request(
            "PUT",
            "/root/up",
            {"type": "mirror", "mirror_url": self.upstream.simple_url},
            headers=basic_auth("root", ""),
        )
        self.assertEqual(reply.code, 200, reply)
        self.pool = HTTPConnectionPool(reactor, persistent=True)
        self.pool.maxPersistentPerHost = CLIENTS
        self.addCleanup(self.pool.closeCachedConnections)

    async def get(self, path: str) -> tuple[int, dict[str, object]]:
        """One client's GET of a JSON simple page: the status and the decoded page."""
        response = await treq.get(
            self.server.url + path, headers={"Accept": SIMPLE_JSON}, pool=self.pool
        )
        return response.code, await response.json()

    async def test_concurrent_clients_get_every_page_and_upstream_serves_each_once(self) -> None:
        projects = self.names[:: UPSTREAM_PROJECTS // PAGES]
        self.assertEqual(len(projects), PAGES)
        # interleaved: every page is asked for once before any is asked for again
        asked = [name for _ in range(CLIENTS_PER_PAGE) for name in projects]
        replies = await gatherResults(
            [ensureDeferred(self.get(f"/root/up/+simple/{name}/")) for name in asked]
        )

        self.assertEqual([code for code, _ in replies], [200] * CLIENTS)
        self.assertEqual([page["name"] for _, page in replies], asked)
        for name, (_, page) in zip(asked, replies):
            self.assertEqual(
                [file["filename"] for file in page["files"]],  # type: ignore[attr-defined]
                [self.upstream.project(name).files[0].filename],
            )
        self.assertEqual(
            Counter(request.path for request in self.upstream.requests),
            Counter({f"/simple/{name}/": 1 for name in projects}),
        )
