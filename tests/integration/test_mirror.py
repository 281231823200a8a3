"""The mirror over real sockets: a fake upstream PyPI behind a mirror index and a stage."""

from __future__ import annotations

import hashlib

from twisted.trial.unittest import TestCase

from tests.dists.archives import make_wheel
from tests.mirror.fake_upstream import FakeFile, FakeUpstream
from tests.support import RunningServer, basic_auth, server_options


class MirrorTests(TestCase):
    timeout = 60

    async def setUp(self) -> None:
        self.upstream = FakeUpstream()
        await self.upstream.start()
        self.addCleanup(self.upstream.stop)
        wheel = make_wheel(self.mktemp(), "hello-pkg", "1.0", requires_python=">=3.8")
        self.file = FakeFile.from_path(wheel, requires_python=">=3.8")
        self.upstream.add_project("hello-pkg", [self.file])
        self.upstream.set_serial("hello-pkg", 100)
        self.server = RunningServer(
            server_options(self.mktemp(), "--request-timeout", "2", "--upstream-max-retries", "1")
        )
        await self.server.start()
        self.addCleanup(self.server.stop)
        root = basic_auth("root", "")
        reply = await self.server.request(
            "PUT", "/root/up", {"type": "mirror", "mirror_url": self.upstream.simple_url}, headers=root
        )
        self.assertEqual(reply.code, 200, reply)

    async def test_project_page_is_fetched_once_and_links_through_this_server(self) -> None:
        json_accept = {"Accept": "application/vnd.pypi.simple.v1+json"}
        first = await self.server.request("GET", "/root/up/+simple/hello-pkg/", headers=json_accept)
        self.assertEqual(first.code, 200, first)
        files = first.json["files"]
        self.assertEqual([f["filename"] for f in files], [self.file.filename])
        self.assertTrue(files[0]["url"].startswith("../../../../root/up/+f/"))
        self.assertEqual(files[0]["hashes"], {"sha256": self.file.sha256})
        self.assertEqual(files[0]["requires-python"], ">=3.8")
        second = await self.server.request("GET", "/root/up/+simple/hello-pkg/", headers=json_accept)
        self.assertEqual(second.body, first.body)
        self.assertEqual(second.header("X-PyPI-Last-Serial"), "100")
        self.assertEqual(self.upstream.hits("/simple/hello-pkg/"), 1)

    async def test_file_is_downloaded_once_verified_and_served_from_the_store(self) -> None:
        page = await self.server.request(
            "GET", "/root/up/+simple/hello-pkg/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
        )
        url = "/root/up/+f/" + page.json["files"][0]["url"].split("/+f/", 1)[1]
        first = await self.server.request("GET", url, headers={"Accept": "*/*"})
        self.assertEqual(first.code, 200)
        self.assertEqual(hashlib.sha256(first.body).hexdigest(), self.file.sha256)
        second = await self.server.request("GET", url, headers={"Accept": "*/*"})
        self.assertEqual(second.body, first.body)
        self.assertEqual(second.header("ETag"), f'"{self.file.sha256}"')
        self.assertEqual(self.upstream.hits("/files/" + self.file.filename), 1)
        metadata = await self.server.request("GET", url + ".metadata", headers={"Accept": "*/*"})
        self.assertEqual(metadata.code, 200)
        self.assertIn(b"Name: hello-pkg", metadata.body)

    async def test_cached_page_is_served_when_upstream_is_down(self) -> None:
        await self.server.request("GET", "/root/up/+simple/hello-pkg/")
        await self.upstream.down()
        self.addCleanup(self.upstream.up)
        await self.server.request("POST", "/root/up/+simple/hello-pkg/refresh")
        reply = await self.server.request("GET", "/root/up/+simple/hello-pkg/")
        self.assertEqual(reply.code, 200, reply)
        self.assertIn(self.file.filename.encode(), reply.body)
        self.assertIn("no-cache", reply.header("Cache-Control"))

    async def test_unknown_project_is_404_and_upstream_error_without_cache_is_502(self) -> None:
        missing = await self.server.request("GET", "/root/up/+simple/nosuch/")
        self.assertEqual(missing.code, 404)
        self.upstream.fail("/simple/other/", 500)
        self.upstream.add_project("other", [])
        failed = await self.server.request("GET", "/root/up/+simple/other/")
        self.assertEqual(failed.code, 502, failed)

    async def test_stage_with_mirror_base_merges_and_project_list_includes_upstream(self) -> None:
        alice = basic_auth("root", "")
        await self.server.request("PUT", "/root/dev", {"bases": ["root/up"]}, headers=alice)
        page = await self.server.request("GET", "/root/dev/+simple/hello-pkg/")
        self.assertEqual(page.code, 200, page)
        self.assertIn(b"root/up/+f/", page.body)
        listing = await self.server.request("GET", "/root/dev/+simple/")
        self.assertIn(b'href="hello-pkg/"', listing.body)
