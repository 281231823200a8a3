"""
A mirror's cache over real sockets: freshness, serials, ETags, the negative
cache, the project list, upstream outages and --offline-mode.
"""

from __future__ import annotations

from typing import Any

from twisted.logger import LogLevel

from devpi_twisted.mirror import pages
from tests.integration.mirror_support import HTML, JSON, MirrorCase, message, sha256, sleep
from tests.mirror.fake_upstream import FakeFile

API_JSON = {"Accept": "application/json"}


class OutageTests(MirrorCase):
    """Upstream unreachable: what is cached is served at once; the outage is logged once."""

    def warnings(self) -> list[str]:
        return [
            e["log_format"]
            for e in self.events
            if e.get("log_namespace") == "devpi_twisted" and e["log_level"] >= LogLevel.warn
        ]

    async def cache_then_go_down(self, mirror_cache_expiry: int = 0) -> tuple[Any, list[str], str]:
        """A server whose mirror cached four pages and the wheel; then upstream goes down."""
        server = await self.serve(mirror={"mirror_cache_expiry": mirror_cache_expiry})
        projects = ["hello-pkg"] + self.upstream.add_many(3, prefix="cached")
        for project in projects:
            reply = await self.get(server, f"/root/up/+simple/{project}/")
            self.assertEqual(reply.code, 200, reply)
        url = await self.file_url(server, "hello-pkg", self.wheel.filename)
        self.assertEqual((await self.get(server, url)).code, 200)
        await self.upstream.down()
        return server, projects, url

    async def test_down_cached_pages_served_without_asking_again_outage_logged_once(self) -> None:
        server, projects, url = await self.cache_then_go_down()
        first = await self.get(server, "/root/up/+simple/hello-pkg/", JSON)
        self.assertEqual(first.code, 200, first)
        self.assertEqual([f["filename"] for f in first.json["files"]], [self.wheel.filename])
        self.assertIn("no-cache", first.header("Cache-Control"))
        await self.settle(server)  # the refresh gave up in the background
        failed = await self.failed_upstream_attempts(server)
        self.assertGreater(failed, 0)  # hello-pkg's refresh
        for project in projects * 3:
            reply = await self.get(server, f"/root/up/+simple/{project}/")
            self.assertEqual(reply.code, 200, reply)
            self.assertIn("no-cache", reply.header("Cache-Control"))
        reply = await self.get(server, url)
        self.assertEqual(sha256(reply.body), self.wheel.sha256)
        await self.settle(server)
        # a known outage (RETRY_AFTER_FAILURE, 30 s): hello-pkg's page is not tried
        # again, each other page at most once (with its one retry)
        self.assertLessEqual(
            await self.failed_upstream_attempts(server) - failed, 2 * (len(projects) - 1)
        )
        self.assertEqual(self.warnings(), ["upstream {host} is failing: {problem}"])
        (event,) = self.logged("is failing")
        self.assertEqual(event["host"], f"127.0.0.1:{self.upstream.port}")
        self.assertIn("Connection refused", event["problem"])

    async def test_refreshes_resume_after_the_retry_pause_once_upstream_is_back(self) -> None:
        self.patch(pages, "RETRY_AFTER_FAILURE", 0.5)
        server, projects, url = await self.cache_then_go_down()
        reply = await self.get(server, "/root/up/+simple/hello-pkg/", JSON)
        self.assertIn("no-cache", reply.header("Cache-Control"))
        await self.settle(server)
        # back up: the next refreshes (after the retry pause) get the new page
        self.upstream.add_file("hello-pkg", FakeFile("hello_pkg-1.1.tar.gz"))
        await self.upstream.up()
        await sleep(0.6)
        await self.get(server, "/root/up/+simple/hello-pkg/", JSON)
        await self.settle(server)
        reply = await self.get(server, "/root/up/+simple/hello-pkg/", JSON)
        self.assertEqual(reply.code, 200, reply)
        self.assertNotIn("no-cache", reply.header("Cache-Control") or "")
        self.assertIn("hello_pkg-1.1.tar.gz", [f["filename"] for f in reply.json["files"]])
        self.assertEqual(len(self.logged("is failing")), 1)
        (back,) = self.logged("works again")
        self.assertEqual(back["host"], f"127.0.0.1:{self.upstream.port}")

    async def test_a_blackholed_upstream_holds_a_cached_page_only_the_timeout(self) -> None:
        # each attempt waits the full second: the retry cycle takes over 3 s
        server = await self.serve("--upstream-max-retries", "2", mirror={"mirror_cache_expiry": 0})
        first = await self.get(server, "/root/up/+simple/hello-pkg/", JSON)
        self.upstream.stall("/")
        reply = await self.get(server, "/root/up/+simple/hello-pkg/", JSON)
        self.assertEqual(reply.code, 200, reply)
        self.assertEqual(reply.json["files"], first.json["files"])
        self.assertIn("no-cache", reply.header("Cache-Control"))
        # answered after the first attempt timed out, not after the whole retry cycle
        self.assertLessEqual(self.upstream.hits("/simple/hello-pkg/"), 2)

    async def test_the_cached_project_list_is_served_during_the_outage(self) -> None:
        self.upstream.add_many(2, prefix="listed")
        server = await self.serve(mirror={"mirror_cache_expiry": 0})
        before = await self.get(server, "/root/up/+simple/", JSON)
        names = sorted(p["name"] for p in before.json["projects"])
        self.assertEqual(names, ["hello-pkg", "listed-0", "listed-1"])
        await self.upstream.down()
        # as HTML: not the rendered JSON page the server keeps for a while
        reply = await self.get(server, "/root/up/+simple/", HTML)
        self.assertEqual(reply.code, 200, reply)
        for name in names:
            self.assertIn(f'href="{name}/"'.encode(), reply.body)
        self.assertEqual(self.upstream.hits("/simple/"), 1)  # the second try was refused

    async def test_a_blackholed_upstream_holds_a_cached_project_list_only_the_timeout(
        self,
    ) -> None:
        server = await self.serve("--upstream-max-retries", "2", mirror={"mirror_cache_expiry": 0})
        await self.get(server, "/root/up/+simple/", JSON)
        self.upstream.stall("/")
        # as HTML: not the rendered JSON page the server keeps for a while
        reply = await self.get(server, "/root/up/+simple/", HTML)
        self.assertEqual(reply.code, 200, reply)
        self.assertIn(b'href="hello-pkg/"', reply.body)
        # answered after the first attempt timed out, not after the whole retry cycle
        self.assertLessEqual(self.upstream.hits("/simple/"), 2)


class FreshnessTests(MirrorCase):
    """mirror_cache_expiry, ETags, X-PyPI-Last-Serial, the negative cache."""

    async def test_a_fresh_page_is_not_refetched_an_expired_one_revalidated_by_etag(self) -> None:
        server = await self.serve(mirror={"mirror_cache_expiry": 1})
        first = await self.get(server, "/root/up/+simple/hello-pkg/", JSON)
        second = await self.get(server, "/root/up/+simple/hello-pkg/", JSON)
        self.assertEqual(second.body, first.body)
        (fetch,) = self.upstream.requests_to("/simple/hello-pkg/")
        self.assertIsNone(fetch.header("If-None-Match"))
        self.assertTrue(fetch.header("Accept").startswith("application/vnd.pypi.simple.v1+json"))
        await sleep(1.1)
        third = await self.get(server, "/root/up/+simple/hello-pkg/", JSON)
        self.assertEqual(third.code, 200, third)
        self.assertEqual(third.body, first.body)
        self.assertNotIn("no-cache", third.header("Cache-Control") or "")
        self.assertEqual(third.header("X-PyPI-Last-Serial"), "100")
        _, revalidation = self.upstream.requests_to("/simple/hello-pkg/")
        self.assertIsNotNone(revalidation.header("If-None-Match"))
        self.assertEqual(revalidation.status, 304)

    async def test_no_revalidation_before_expiry_for_many_clients_or_after_a_restart(self) -> None:
        serverdir = self.mktemp()
        server = await self.serve(serverdir=serverdir, mirror={"mirror_cache_expiry": 3600})
        replies = await self.many(server, "/root/up/+simple/hello-pkg/", 30, JSON)
        self.assertEqual({reply.code for reply in replies}, {200})
        await self.stop_server(server)
        again = await self.serve(serverdir=serverdir)
        replies = await self.many(again, "/root/up/+simple/hello-pkg/", 30, HTML)
        self.assertEqual({reply.code for reply in replies}, {200})
        self.assertNotIn("no-cache", replies[0].header("Cache-Control") or "")
        # one fetch in all: the restarted server knows the page was confirmed a moment ago
        self.assertEqual(self.upstream.hits("/simple/hello-pkg/"), 1, self.upstream.requests)

    async def test_without_etags_an_expired_page_is_fetched_whole(self) -> None:
        self.upstream.send_etags = False
        server = await self.serve(mirror={"mirror_cache_expiry": 0})
        first = await self.get(server, "/root/up/+simple/hello-pkg/", JSON)
        second = await self.get(server, "/root/up/+simple/hello-pkg/", JSON)
        self.assertEqual(second.body, first.body)
        fetches = self.upstream.requests_to("/simple/hello-pkg/")
        sent = [(r.header("If-None-Match"), r.status) for r in fetches]
        self.assertEqual(sent, [(None, 200), (None, 200)])

    async def test_an_expired_page_that_changed_upstream_is_replaced(self) -> None:
        server = await self.serve(mirror={"mirror_cache_expiry": 1})
        await self.get(server, "/root/up/+simple/hello-pkg/")
        self.upstream.add_file("hello-pkg", FakeFile("hello_pkg-1.1.tar.gz", yanked="broken"))
        await sleep(1.1)
        reply = await self.get(server, "/root/up/+simple/hello-pkg/", JSON)
        self.assertEqual(
            sorted(f["filename"] for f in reply.json["files"]),
            sorted([self.wheel.filename, "hello_pkg-1.1.tar.gz"]),
        )
        new = [f for f in reply.json["files"] if f["filename"] == "hello_pkg-1.1.tar.gz"][0]
        self.assertEqual(new["yanked"], "broken")
        serial = self.upstream.project("hello-pkg").serial
        self.assertEqual(reply.header("X-PyPI-Last-Serial"), str(serial))

    async def test_a_page_with_an_older_serial_is_ignored(self) -> None:
        server = await self.serve(mirror={})
        first = await self.get(server, "/root/up/+simple/hello-pkg/", JSON)
        self.upstream.add_file("hello-pkg", FakeFile("hello_pkg-1.1.tar.gz"))
        self.upstream.set_serial("hello-pkg", 50)  # a stale CDN node
        await server.request("POST", "/root/up/+simple/hello-pkg/refresh")
        reply = await self.get(server, "/root/up/+simple/hello-pkg/", JSON)
        self.assertEqual(self.upstream.hits("/simple/hello-pkg/"), 2)
        self.assertEqual(reply.json["files"], first.json["files"])
        self.assertEqual(reply.header("X-PyPI-Last-Serial"), "100")
        self.assertIn("no-cache", reply.header("Cache-Control"))
        # a newer serial is taken
        self.upstream.set_serial("hello-pkg", 101)
        await server.request("POST", "/root/up/+simple/hello-pkg/refresh")
        reply = await self.get(server, "/root/up/+simple/hello-pkg/", JSON)
        self.assertEqual(len(reply.json["files"]), 2)
        self.assertEqual(reply.header("X-PyPI-Last-Serial"), "101")

    async def test_mirror_ignore_serial_header_takes_an_older_serial(self) -> None:
        server = await self.serve(mirror={"mirror_ignore_serial_header": True})
        await self.get(server, "/root/up/+simple/hello-pkg/")
        self.upstream.add_file("hello-pkg", FakeFile("hello_pkg-1.1.tar.gz"))
        self.upstream.set_serial("hello-pkg", 50)
        await server.request("POST", "/root/up/+simple/hello-pkg/refresh")
        reply = await self.get(server, "/root/up/+simple/hello-pkg/", JSON)
        self.assertEqual(len(reply.json["files"]), 2)
        self.assertEqual(reply.header("X-PyPI-Last-Serial"), "50")
        self.assertNotIn("no-cache", reply.header("Cache-Control") or "")

    async def test_a_missing_project_is_remembered_briefly(self) -> None:
        self.patch(pages, "NOT_FOUND_EXPIRY", 1.0)
        server = await self.serve(mirror={"mirror_cache_expiry": 0})
        for _ in range(3):
            reply = await self.get(server, "/root/up/+simple/later/", API_JSON)
            self.assertEqual(reply.code, 404, reply)
            self.assertEqual(reply.json["message"], "The project later does not exist.")
        self.assertEqual(self.upstream.hits("/simple/later/"), 1)
        self.upstream.add_project("later", [FakeFile("later-1.0.tar.gz")])
        await sleep(1.1)
        reply = await self.get(server, "/root/up/+simple/later/")
        self.assertEqual(reply.code, 200, reply)
        self.assertEqual(self.upstream.hits("/simple/later/"), 2)

    async def test_the_refresh_post_forgets_a_missing_project(self) -> None:
        server = await self.serve(mirror={})
        self.assertEqual((await self.get(server, "/root/up/+simple/later/")).code, 404)
        self.upstream.add_project("later", [FakeFile("later-1.0.tar.gz")])
        self.assertEqual((await self.get(server, "/root/up/+simple/later/")).code, 404)
        await server.request("POST", "/root/up/+simple/later/refresh")
        self.assertEqual((await self.get(server, "/root/up/+simple/later/")).code, 200)


class ProjectListTests(MirrorCase):
    async def test_the_project_list_is_cached_and_revalidated(self) -> None:
        self.upstream.add_project("Other_Thing", [])
        server = await self.serve(mirror={"mirror_cache_expiry": 1})
        for _ in range(3):
            reply = await self.get(server, "/root/up/+simple/", JSON)
            self.assertEqual(
                sorted(p["name"] for p in reply.json["projects"]), ["hello-pkg", "other-thing"]
            )
        self.assertEqual(self.upstream.hits("/simple/"), 1)
        await sleep(1.1)
        reply = await self.get(server, "/root/up/+simple/", HTML)
        self.assertIn(b'href="other-thing/"', reply.body)
        first, second = self.upstream.requests_to("/simple/")
        self.assertIsNone(first.header("If-None-Match"))
        self.assertTrue(second.header("If-None-Match").startswith('"'))
        self.assertEqual(second.status, 304)

    async def test_mirror_no_project_list_lists_what_was_fetched_and_asks_on_demand(self) -> None:
        self.upstream.add_project("other", [FakeFile("other-1.0.tar.gz")])
        server = await self.serve(mirror={"mirror_no_project_list": True})
        empty = await self.get(server, "/root/up/+simple/", JSON)
        self.assertEqual(empty.json["projects"], [])
        reply = await self.get(server, "/root/up/+simple/other/")
        self.assertEqual(reply.code, 200, reply)
        listed = await self.get(server, "/root/up/+simple/", JSON)
        self.assertEqual([p["name"] for p in listed.json["projects"]], ["other"])
        self.assertEqual(self.upstream.hits("/simple/"), 0)


class OfflineTests(MirrorCase):
    """--offline-mode: what is cached is served; nothing else; upstream is never asked."""

    async def test_offline_serves_the_cache_and_never_asks_upstream(self) -> None:
        serverdir = self.mktemp()
        online = await self.serve(serverdir=serverdir, mirror={})
        cached, uncached = FakeFile("two-1.0.tar.gz"), FakeFile("two-2.0.tar.gz")
        self.upstream.add_project("two", [cached, uncached])
        wheel_url = await self.file_url(online, "hello-pkg", self.wheel.filename)
        self.assertEqual((await self.get(online, wheel_url)).code, 200)
        cached_url = await self.file_url(online, "two", cached.filename)
        uncached_url = await self.file_url(online, "two", uncached.filename)
        self.assertEqual((await self.get(online, cached_url)).code, 200)
        await self.get(online, "/root/up/+simple/")
        await self.stop_server(online)

        offline = await self.serve("--offline-mode", serverdir=serverdir)
        self.upstream.requests.clear()
        page = await self.get(offline, "/root/up/+simple/hello-pkg/", JSON)
        self.assertEqual(page.code, 200, page)
        self.assertEqual([f["filename"] for f in page.json["files"]], [self.wheel.filename])
        reply = await self.get(offline, wheel_url)
        self.assertEqual(sha256(reply.body), self.wheel.sha256)
        metadata = await self.get(offline, wheel_url + ".metadata")
        self.assertEqual(metadata.code, 200, metadata)
        # only files that are here are listed: an installer never picks one it cannot get
        page = await self.get(offline, "/root/up/+simple/two/", JSON)
        self.assertEqual([f["filename"] for f in page.json["files"]], [cached.filename])
        self.assertEqual(sha256((await self.get(offline, cached_url)).body), cached.sha256)
        missing = await self.get(offline, uncached_url)
        self.assertEqual(missing.code, 404, missing)
        unknown = await self.get(offline, "/root/up/+simple/never-seen/")
        self.assertEqual(unknown.code, 404, unknown)
        self.assertIn("never-seen", message(unknown))
        names = await self.get(offline, "/root/up/+simple/", JSON)
        self.assertEqual(sorted(p["name"] for p in names.json["projects"]), ["hello-pkg", "two"])
        self.assertEqual(self.upstream.requests, [])
