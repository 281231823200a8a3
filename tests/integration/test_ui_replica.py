"""The browser UI on a replica: the same pages as on its primary, search following what it applies."""

from __future__ import annotations

from tests.dists.archives import make_doc_zip
from tests.integration.test_replication import ALICE, ReplicationCase
from tests.replication.support import wait_for, wait_in_sync
from tests.support import RunningServer
from tests.web.forms import form_body

BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8", "X-Outside-Url": "http://devpi.example"}


class ReplicaPagesTests(ReplicationCase):
    async def page(self, server: RunningServer, path: str) -> bytes:
        reply = await server.request("GET", path, headers=BROWSER)
        self.assertEqual(reply.code, 200, (path, reply))
        self.assertEqual(reply.header("content-type"), "text/html; charset=utf-8")
        return reply.body

    async def test_replica_serves_the_primarys_pages_and_searches(self) -> None:
        primary = await self.start_primary()
        await self.populate(primary)
        docs = make_doc_zip(self.mktemp(), {"index.html": b"<h1>Replicated docs</h1>"})
        with open(docs, "rb") as f:
            body, content_type = form_body(
                {":action": "doc_upload", "name": "hello-pkg", "version": "1.0"},
                {"content": ("hello-pkg-1.0.doc.zip", f.read())},
            )
        reply = await primary.request("POST", "/alice/dev/", data=body, headers={**ALICE, "Content-Type": content_type})
        self.assertEqual(reply.code, 200, reply)
        replica, replica_dir = await self.start_replica(self.primary_url)
        await wait_in_sync(primary.url, {replica.url: replica_dir})
        for path in (
            "/alice/dev",
            "/alice/dev/hello-pkg",
            "/alice/dev/hello-pkg/1.0",
            "/alice/dev/hello-pkg/1.0/+d/index.html",
        ):
            self.assertEqual(await self.page(replica, path), await self.page(primary, path), path)
        self.assertIn(b'href="http://devpi.example/alice/dev"', await self.page(replica, "/"))
        status = await self.page(replica, "/+status")
        self.assertIn(b"<dt>Role</dt><dd>replica</dd>", status)
        self.assertIn(b"Replication lag", status)

        async def found() -> bool:
            return b'href="http://devpi.example/alice/dev/hello-pkg"' in await self.page(replica, "/+search?query=hello")

        await wait_for(found, "the replica's search finds hello-pkg")
