"""
A mirror against a misbehaving upstream, over real sockets: each bad answer
gets a clear reply, nothing corrupt is kept, other requests go on meanwhile.
"""

from __future__ import annotations

import os
from typing import Any

from twisted.internet.defer import ensureDeferred
from twisted.python.failure import Failure

from tests.dists.archives import make_sdist
from tests.integration.mirror_support import ANY, HTML, JSON, MirrorCase, message, sha256, sleep
from tests.mirror.fake_upstream import FakeFile, FakeUpstream
from tests.support import RunningServer, basic_auth
from tests.web.forms import form_body, twine_fields

JSON_TYPE = "application/vnd.pypi.simple.v1+json"


class PageFormatTests(MirrorCase):
    """PEP 691 JSON is asked for first, PEP 503 HTML accepted; what each page says is kept."""

    def files(self) -> list[FakeFile]:
        return [
            FakeFile(
                "fmt_pkg-1.0-py3-none-any.whl",
                data=b"wheel bytes",
                requires_python=">=3.9,<4",
                core_metadata=b"Metadata-Version: 2.1\nName: fmt-pkg\nVersion: 1.0\n",
                upload_time="2024-01-02T03:04:05.000000Z",
            ),
            FakeFile("fmt_pkg-0.9.tar.gz", data=b"sdist bytes", yanked="broken", hash_in_url=False),
        ]

    async def test_a_json_upstream_page_is_carried_through_whole(self) -> None:
        wheel, sdist = self.files()
        self.upstream.add_project("fmt-pkg", [wheel, sdist])
        server = await self.serve(mirror={})
        page = await self.get(server, "/root/up/+simple/fmt-pkg/", JSON)
        (fetch,) = self.upstream.requests_to("/simple/fmt-pkg/")
        self.assertTrue(fetch.header("Accept").startswith("application/vnd.pypi.simple.v1+json"))
        self.assertEqual(fetch.status, 200)
        entries = {f["filename"]: f for f in page.json["files"]}
        whl, tar = entries[wheel.filename], entries[sdist.filename]
        self.assertEqual(whl["hashes"], {"sha256": wheel.sha256})
        self.assertEqual(whl["requires-python"], ">=3.9,<4")
        self.assertEqual(whl["core-metadata"], {"sha256": wheel.metadata_sha256})
        self.assertEqual(whl["size"], len(b"wheel bytes"))
        self.assertEqual(whl["upload-time"], "2024-01-02T03:04:05.000000Z")
        self.assertNotIn("yanked", whl)
        self.assertEqual(tar["yanked"], "broken")
        self.assertEqual(tar["hashes"], {})
        self.assertIn("/+e/", tar["url"])
        self.assertEqual(page.json["versions"], ["0.9", "1.0"])
        html = await self.get(server, "/root/up/+simple/fmt-pkg/", HTML)
        self.assertIn(b'data-requires-python="&gt;=3.9,&lt;4"', html.body)
        self.assertIn(b'data-yanked="broken"', html.body)
        # the file without hash is fetched from its +e/ path all the same
        reply = await self.get(server, "/" + tar["url"].split("../../../../", 1)[1])
        self.assertEqual(reply.body, b"sdist bytes")

    async def test_an_html_only_upstream_page_is_read_too(self) -> None:
        html_only = FakeUpstream(serve_json=False)
        await html_only.start()
        self.addCleanup(html_only.stop)
        wheel, sdist = self.files()
        html_only.add_project("fmt-pkg", [wheel, sdist], serial=9)
        server = await self.serve()
        config = {"type": "mirror", "mirror_url": html_only.simple_url}
        await self.make_index(server, "root/up", config)
        page = await self.get(server, "/root/up/+simple/fmt-pkg/", JSON)
        (fetch,) = html_only.requests_to("/simple/fmt-pkg/")
        self.assertTrue(fetch.header("Accept").startswith("application/vnd.pypi.simple.v1+json"))
        entries = {f["filename"]: f for f in page.json["files"]}
        whl, tar = entries[wheel.filename], entries[sdist.filename]
        self.assertEqual(whl["hashes"], {"sha256": wheel.sha256})
        self.assertEqual(whl["requires-python"], ">=3.9,<4")
        self.assertEqual(whl["core-metadata"], {"sha256": wheel.metadata_sha256})
        self.assertEqual(tar["yanked"], "broken")
        self.assertEqual(page.header("X-PyPI-Last-Serial"), "9")
        reply = await self.get(server, "/" + whl["url"].split("../../../../", 1)[1])
        self.assertEqual(reply.body, b"wheel bytes")


class BadPageTests(MirrorCase):
    """Bad upstream project pages."""

    async def server_refresh(self, server: RunningServer, project: str) -> None:
        """The refresh button: the next request asks upstream again."""
        reply = await server.request("POST", f"/root/up/+simple/{project}/refresh")
        self.assertEqual(reply.code, 302, reply)

    async def test_garbage_json_is_502_and_nothing_is_cached(self) -> None:
        server = await self.serve(mirror={})
        self.upstream.add_project("junk", [FakeFile("junk-1.0.tar.gz")])
        body = b'{"meta": {"api-vers'
        rule = self.upstream.garbage("/simple/junk/", body=body, content_type=JSON_TYPE)
        reply = await self.get(server, "/root/up/+simple/junk/", JSON)
        self.assertEqual(reply.code, 502, reply)
        self.assertIn("not valid JSON", message(reply))
        self.assertEqual(rule.hits, 1)  # a page that cannot be read is not retried
        self.upstream.heal()
        reply = await self.get(server, "/root/up/+simple/junk/", JSON)
        self.assertEqual(reply.code, 200, reply)
        self.assertEqual([f["filename"] for f in reply.json["files"]], ["junk-1.0.tar.gz"])
        self.assertEqual(self.upstream.hits("/simple/junk/"), 2)

    async def test_binary_junk_as_html_is_502_and_nothing_is_cached(self) -> None:
        server = await self.serve(mirror={})
        self.upstream.add_project("junk", [FakeFile("junk-1.0.tar.gz")])
        self.upstream.garbage("/simple/junk/", body=b"\x00\x01PK\x03\x04\xff" * 50)
        reply = await self.get(server, "/root/up/+simple/junk/")
        self.assertEqual(reply.code, 502, reply)
        self.assertIn("not text", message(reply))
        self.upstream.heal()
        reply = await self.get(server, "/root/up/+simple/junk/")
        self.assertEqual(reply.code, 200, reply)
        self.assertIn(b"junk-1.0.tar.gz", reply.body)

    async def test_unsupported_api_version_is_502(self) -> None:
        server = await self.serve(mirror={})
        self.upstream.add_project("future", [])
        body = b'{"meta": {"api-version": "2.0"}, "name": "future", "files": []}'
        self.upstream.garbage("/simple/future/", body=body, content_type=JSON_TYPE)
        reply = await self.get(server, "/root/up/+simple/future/", JSON)
        self.assertEqual(reply.code, 502, reply)
        self.assertIn("unsupported api-version '2.0'", message(reply))

    async def test_garbage_for_a_cached_page_keeps_the_cached_page(self) -> None:
        server = await self.serve(mirror={"mirror_cache_expiry": 0})
        first = await self.get(server, "/root/up/+simple/hello-pkg/", JSON)
        self.assertEqual(first.code, 200, first)
        for body, content_type in [
            (b"{not json", JSON_TYPE),
            # an empty page, and without a serial: older than the cached one
            (b"<html><body><p>maintenance, back soon", "text/html"),
        ]:
            self.upstream.garbage("/simple/hello-pkg/", body=body, content_type=content_type)
            await self.server_refresh(server, "hello-pkg")
            reply = await self.get(server, "/root/up/+simple/hello-pkg/", JSON)
            self.assertEqual(reply.code, 200, reply)
            self.assertEqual(reply.json["files"], first.json["files"])
            self.assertIn("no-cache", reply.header("Cache-Control"))
        self.upstream.heal()
        await self.server_refresh(server, "hello-pkg")
        reply = await self.get(server, "/root/up/+simple/hello-pkg/", JSON)
        self.assertNotIn("no-cache", reply.header("Cache-Control") or "")

    async def test_500_without_a_cached_page_is_502_naming_upstream_after_the_retries(self) -> None:
        server = await self.serve(mirror={})
        self.upstream.add_project("broken", [])
        self.upstream.fail("/simple/broken/", 500)
        reply = await self.get(server, "/root/up/+simple/broken/", {"Accept": "application/json"})
        self.assertEqual(reply.code, 502, reply)
        url = self.upstream.project_url("broken")
        self.assertEqual(
            reply.json["message"],
            f"upstream {url} answered 500 Internal Server Error (after 2 attempts)",
        )
        self.assertEqual(self.upstream.hits("/simple/broken/"), 2)
        # a failure is not cached: the next request asks again
        self.upstream.heal()
        reply = await self.get(server, "/root/up/+simple/broken/")
        self.assertEqual(reply.code, 200, reply)
        self.assertEqual(self.upstream.hits("/simple/broken/"), 3)

    async def test_500_with_a_cached_page_serves_it_stale(self) -> None:
        server = await self.serve(mirror={})
        first = await self.get(server, "/root/up/+simple/hello-pkg/", JSON)
        self.upstream.fail("/simple/hello-pkg/", 500)
        await self.server_refresh(server, "hello-pkg")
        reply = await self.get(server, "/root/up/+simple/hello-pkg/", JSON)
        self.assertEqual(reply.code, 200, reply)
        self.assertEqual(reply.body, first.body)
        self.assertIn("no-cache", reply.header("Cache-Control"))
        self.assertEqual(reply.header("X-PyPI-Last-Serial"), "100")

    async def test_429_waits_as_retry_after_says_then_succeeds(self) -> None:
        server = await self.serve(mirror={})
        self.upstream.add_project("busy", [FakeFile("busy-1.0.tar.gz")])
        self.upstream.fail("/simple/busy/", 429, times=1, retry_after=1)
        reply = await self.get(server, "/root/up/+simple/busy/")
        self.assertEqual(reply.code, 200, reply)
        self.assertIn(b"busy-1.0.tar.gz", reply.body)
        # how long it waits: tests.mirror.test_upstream, on a clock
        self.assertEqual(
            [r.status for r in self.upstream.requests_to("/simple/busy/")], [429, 200]
        )

    async def test_429_that_persists_is_502(self) -> None:
        server = await self.serve(mirror={})
        self.upstream.add_project("busy", [])
        self.upstream.fail("/simple/busy/", 429, retry_after=0)
        reply = await self.get(server, "/root/up/+simple/busy/")
        self.assertEqual(reply.code, 502, reply)
        self.assertIn("busy/ answered 429", message(reply))

    async def test_redirect_loop_is_502_after_a_bounded_number_of_requests(self) -> None:
        server = await self.serve(mirror={})
        self.upstream.add_project("loop", [])
        self.upstream.redirect_loop("/simple/loop/")
        reply = await self.get(server, "/root/up/+simple/loop/")
        self.assertEqual(reply.code, 502, reply)
        self.assertIn("redirected too often", message(reply))
        self.assertLessEqual(self.upstream.hits("/simple/loop/"), 6)
        self.upstream.heal()
        reply = await self.get(server, "/root/up/+simple/loop/")
        self.assertEqual(reply.code, 200, reply)

    async def test_relative_and_absolute_links_mixed_both_work(self) -> None:
        server = await self.serve(mirror={})
        old, new = FakeFile("mixed-1.0.tar.gz", size=3000), FakeFile("mixed-1.1.tar.gz", size=2000)
        self.upstream.add_project("mixed", [old, new], serial=7)
        absolute = self.upstream.file_url(new.filename)
        body = (
            "<!DOCTYPE html><html><body>\n"
            f'<a href="../../files/{old.filename}#sha256={old.sha256}">{old.filename}</a><br/>\n'
            f'<a href="{absolute}#sha256={new.sha256}">{new.filename}</a><br/>\n'
            '<a href="mailto:someone@example.org">not a file</a>\n'
            '<a href="javascript:alert(1)">evil.tar.gz</a>\n'
            "</body></html>\n"
        ).encode()
        self.upstream.garbage("/simple/mixed/", body=body)
        page = await self.get(server, "/root/up/+simple/mixed/", JSON)
        self.assertEqual(page.code, 200, page)
        self.assertEqual(
            sorted(f["filename"] for f in page.json["files"]), [old.filename, new.filename]
        )
        for file in (old, new):
            url = await self.file_url(server, "mixed", file.filename)
            reply = await self.get(server, url)
            self.assertEqual(reply.code, 200, reply)
            self.assertEqual(sha256(reply.body), file.sha256)
            self.assertEqual(self.upstream.hits("/files/" + file.filename), 1)

    async def test_odd_characters_in_a_name_never_reach_another_project(self) -> None:
        server = await self.serve(mirror={})
        self.upstream.add_project("foo", [FakeFile("foo-1.0.tar.gz")])
        odd = ["foo%23bar", "foo%3Fbar", "foo%20bar", "foo%3Cb%3E", "a%00b", "-foo-", "x" * 300]
        for name in odd:
            reply = await self.get(server, f"/root/up/+simple/{name}/")
            self.assertEqual(reply.code, 404, (name, reply))
            self.assertNotIn(b"foo-1.0.tar.gz", reply.body)
        self.assertEqual(self.upstream.hits("/simple/foo/"), 0)
        unicode = await self.get(server, "/root/up/+simple/h%C3%A9llo/")
        self.assertEqual(unicode.code, 400, unicode)
        self.assertIn("unicode project names not allowed", message(unicode))
        redirect = await self.get(server, "/root/up/+simple/Foo_/")
        self.assertEqual(redirect.code, 302)
        self.assertTrue(redirect.header("Location").endswith("/root/up/+simple/foo-/"))
        # the server is fine afterwards
        reply = await self.get(server, "/root/up/+simple/foo/")
        self.assertEqual(reply.code, 200, reply)
        self.assertIn(b"foo-1.0.tar.gz", reply.body)
        # every upstream request had a well-formed path
        for request in self.upstream.requests:
            self.assertRegex(request.path, r"^/simple/[A-Za-z0-9%._~-]+/$")


class BadFileTests(MirrorCase):
    """Bad upstream file downloads: nothing corrupt is stored or served."""

    async def big(self, server: RunningServer, **options: Any) -> tuple[FakeFile, str]:
        """A 300 KB sdist on upstream and its path on the server."""
        file = FakeFile("big-1.0.tar.gz", size=300_000, **options)
        self.upstream.add_project("big", [file])
        return file, await self.file_url(server, "big", file.filename)

    async def assert_not_stored(self, server: RunningServer, url: str) -> None:
        """The file has no entry: its metadata request goes upstream again (and fails there)."""
        hits = len(self.upstream.requests)
        reply = await self.get(server, url, {"Accept": "application/json"})
        self.assertNotEqual(reply.code, 200, reply)
        self.assertGreater(len(self.upstream.requests), hits)

    async def test_a_file_url_whose_page_is_not_cached_fetches_the_page_first(self) -> None:
        first = await self.serve(mirror={})
        url = await self.file_url(first, "hello-pkg", self.wheel.filename)
        server = await self.serve(mirror={})  # a new server knows nothing yet
        reply = await self.get(server, url)
        self.assertEqual(reply.code, 200, reply)
        self.assertEqual(sha256(reply.body), self.wheel.sha256)
        self.assertEqual(self.upstream.hits("/simple/hello-pkg/"), 2)

    async def test_truncated_file_is_cut_off_not_stored_and_fetched_again(self) -> None:
        server = await self.serve(mirror={})
        file, url = await self.big(server)
        self.upstream.truncate("/files/" + file.filename, at_bytes=100_000)
        first = await self.attempt(server, url)
        self.assertIsInstance(first, Failure)  # the client sees a cut connection, not a short 200
        meta = await self.get(server, url, {"Accept": "application/json"})
        self.assertEqual(meta.code, 502, meta)
        self.assertIn(file.filename, message(meta))
        self.upstream.heal()
        reply = await self.get(server, url)
        self.assertEqual(reply.code, 200, reply)
        self.assertEqual(sha256(reply.body), file.sha256)
        self.assertEqual(self.upstream.hits("/files/" + file.filename), 3)
        again = await self.get(server, url)
        self.assertEqual(again.body, reply.body)
        self.assertEqual(self.upstream.hits("/files/" + file.filename), 3)

    async def test_hash_mismatch_is_never_stored_nor_served(self) -> None:
        server = await self.serve(mirror={})
        file, url = await self.big(server, wrong_hash=True)
        for _ in range(2):
            reply = await self.attempt(server, url)
            if not isinstance(reply, Failure):
                self.assertNotEqual(reply.code, 200, reply)
                self.assertNotEqual(sha256(reply.body), file.sha256)
        self.assertEqual(self.upstream.hits("/files/" + file.filename), 2)
        meta = await self.get(server, url, {"Accept": "application/json"})
        self.assertEqual(meta.code, 502, meta)
        self.assertIn(f"the upstream page says {file.advertised_sha256}", message(meta))
        self.assertEqual(self.upstream.hits("/files/" + file.filename), 3)
        self.assertTrue(self.logged("download of {url} failed"))

    async def test_small_file_with_hash_mismatch_sends_no_byte(self) -> None:
        server = await self.serve(mirror={})
        file = FakeFile("small-1.0.tar.gz", data=b"tiny but wrong", wrong_hash=True)
        self.upstream.add_project("small", [file])
        url = await self.file_url(server, "small", file.filename)
        reply = await self.attempt(server, url)
        if not isinstance(reply, Failure):
            self.assertNotEqual(reply.code, 200, reply)
            self.assertNotIn(b"tiny but wrong", reply.body)

    async def test_500_for_a_file_is_502_and_the_next_request_retries(self) -> None:
        server = await self.serve(mirror={})
        file, url = await self.big(server)
        self.upstream.fail("/files/", 500)
        reply = await self.get(server, url)
        self.assertEqual(reply.code, 502, reply)
        self.assertIn(f"{file.filename} answered 500", message(reply))
        self.upstream.heal()
        reply = await self.get(server, url)
        self.assertEqual(reply.code, 200, reply)
        self.assertEqual(sha256(reply.body), file.sha256)

    async def test_404_for_a_listed_file_is_404(self) -> None:
        server = await self.serve(mirror={})
        file, url = await self.big(server)
        del self.upstream.files[file.filename]
        reply = await self.get(server, url)
        self.assertEqual(reply.code, 404, reply)
        self.assertIn("upstream has no", message(reply))

    async def test_redirect_loop_for_a_file_is_502(self) -> None:
        server = await self.serve(mirror={})
        file, url = await self.big(server)
        self.upstream.redirect_loop("/files/")
        reply = await self.get(server, url)
        self.assertEqual(reply.code, 502, reply)
        self.assertIn("redirected too often", message(reply))
        await self.assert_not_stored(server, url)

    async def test_stalled_file_headers_are_504(self) -> None:
        server = await self.serve(mirror={})
        file, url = await self.big(server)
        self.upstream.stall("/files/")
        reply = await self.get(server, url)
        self.assertEqual(reply.code, 504, reply)
        self.assertIn("timed out after 1s", message(reply))
        # the one attempt and its one retry, no more
        self.assertLessEqual(sum(r.path.startswith("/files/") for r in self.upstream.requests), 2)

    async def test_a_body_that_stops_midway_ends_the_download(self) -> None:
        server = await self.serve(mirror={})
        file, url = await self.big(server)
        # 10 KB, then nothing more for an hour
        self.upstream.slow("/files/", bytes_per_tick=10_000, tick=3600)
        # given up after the request timeout (1 s) without data, not after the hour
        reply = await self.attempt(server, url)
        self.assertIsInstance(reply, Failure)
        self.upstream.heal()
        reply = await self.get(server, url)
        self.assertEqual(reply.code, 200, reply)
        self.assertEqual(sha256(reply.body), file.sha256)


class StallTests(MirrorCase):
    """A stalled upstream holds up only the requests that need it."""

    async def test_other_requests_are_answered_while_an_upstream_fetch_stalls(self) -> None:
        # one attempt of 2 s: the stall clearly outlasts the other requests
        server = await self.serve(
            "--request-timeout", "2", "--upstream-max-retries", "0", mirror={}
        )
        url = await self.file_url(server, "hello-pkg", self.wheel.filename)
        self.assertEqual((await self.get(server, url)).code, 200)
        self.upstream.add_project("slow", [FakeFile("slow-1.0.tar.gz")])
        self.upstream.add_project("quick", [FakeFile("quick-1.0.tar.gz")])
        self.upstream.stall("/simple/slow/")
        stalled = ensureDeferred(self.get(server, "/root/up/+simple/slow/"))
        await self.upstream.wait_for_stalled(1)
        others = [
            ("/+api", {"Accept": "application/json"}),
            ("/root/up/+simple/hello-pkg/", JSON),  # cached page
            (url, ANY),  # cached file
            ("/root/up/+simple/quick/", HTML),  # another upstream fetch
            ("/root/up/+simple/", HTML),  # the project list, from upstream
        ]
        for path, headers in others:
            reply = await self.get(server, path, headers)
            self.assertEqual(reply.code, 200, (path, reply))
        self.assertEqual(self.upstream.stalled, ["/simple/slow/"])  # still stalled meanwhile
        self.assertFalse(stalled.called)
        reply = await stalled
        self.assertEqual(reply.code, 504, reply)
        url = self.upstream.project_url("slow")
        self.assertIn(f"upstream {url} timed out after 2s", message(reply))
        # the stall is not cached: released, the next request gets the page
        self.upstream.release()
        reply = await self.get(server, "/root/up/+simple/slow/")
        self.assertEqual(reply.code, 200, reply)


class SingleFlightTests(MirrorCase):
    """Concurrent requests for one page or file share one upstream fetch."""

    async def test_twenty_requests_for_an_uncached_page_fetch_it_once(self) -> None:
        server = await self.serve(mirror={})
        self.upstream.stall("/simple/hello-pkg/")
        replies = self.many(server, "/root/up/+simple/hello-pkg/", 20, JSON)
        await self.upstream.wait_for_stalled(1)
        await sleep(0.3)  # let all twenty reach the server
        self.upstream.release()
        replies = await replies
        self.assertEqual({r.code for r in replies}, {200})
        self.assertEqual(len({r.body for r in replies}), 1)
        self.assertEqual(self.upstream.hits("/simple/hello-pkg/"), 1)

    async def test_twenty_requests_for_an_uncached_file_download_it_once(self) -> None:
        server = await self.serve(mirror={})
        file = FakeFile("big-1.0.tar.gz", size=500_000)
        self.upstream.add_project("big", [file])
        url = await self.file_url(server, "big", file.filename)
        self.upstream.stall("/files/")
        replies = self.many(server, url, 20)
        await self.upstream.wait_for_stalled(1)
        await sleep(0.3)
        self.upstream.release()
        replies = await replies
        self.assertEqual({r.code for r in replies}, {200})
        self.assertEqual({sha256(r.body) for r in replies}, {file.sha256})
        self.assertEqual(self.upstream.hits("/files/" + file.filename), 1)

    async def test_twenty_requests_for_an_expired_page_refresh_it_once(self) -> None:
        server = await self.serve(mirror={"mirror_cache_expiry": 0})
        await self.get(server, "/root/up/+simple/hello-pkg/")
        self.upstream.requests.clear()
        self.upstream.stall("/simple/hello-pkg/")
        replies = self.many(server, "/root/up/+simple/hello-pkg/", 20)
        await self.upstream.wait_for_stalled(1)
        await sleep(0.3)
        self.upstream.release()
        replies = await replies
        self.assertEqual({r.code for r in replies}, {200})
        self.assertEqual(self.upstream.hits("/simple/hello-pkg/"), 1)


class ExternalUrlTests(MirrorCase):
    async def test_mirror_use_external_urls_redirects_to_upstream(self) -> None:
        server = await self.serve(mirror={"mirror_use_external_urls": True})
        url = await self.file_url(server, "hello-pkg", self.wheel.filename)
        reply = await self.get(server, url)
        self.assertEqual(reply.code, 302, reply)
        self.assertEqual(reply.header("Location"), self.upstream.file_url(self.wheel.filename))
        self.assertEqual(self.upstream.hits("/files/" + self.wheel.filename), 0)


class CoreMetadataTests(MirrorCase):
    """PEP 658 metadata through the mirror."""

    async def test_metadata_upstream_offers_is_proxied_and_cached(self) -> None:
        metadata = b"Metadata-Version: 2.1\nName: meta-pkg\nVersion: 1.0\n"
        file = FakeFile("meta_pkg-1.0-py3-none-any.whl", data=b"not a zip", core_metadata=metadata)
        self.upstream.add_project("meta-pkg", [file])
        server = await self.serve(mirror={})
        page = await self.get(server, "/root/up/+simple/meta-pkg/", JSON)
        (entry,) = page.json["files"]
        self.assertEqual(entry["core-metadata"], {"sha256": sha256(metadata)})
        url = await self.file_url(server, "meta-pkg", file.filename)
        for _ in range(2):
            reply = await self.get(server, url + ".metadata")
            self.assertEqual(reply.code, 200, reply)
            self.assertEqual(reply.body, metadata)
        self.assertEqual(self.upstream.hits(f"/files/{file.filename}.metadata"), 1)
        self.assertEqual(self.upstream.hits(f"/files/{file.filename}"), 0)
        html = await self.get(server, "/root/up/+simple/meta-pkg/", HTML)
        self.assertIn(f'data-core-metadata="sha256={sha256(metadata)}"'.encode(), html.body)

    async def test_metadata_with_a_wrong_hash_is_not_stored(self) -> None:
        metadata = b"Metadata-Version: 2.1\nName: meta-pkg\nVersion: 1.0\n"
        file = FakeFile("meta_pkg-1.0-py3-none-any.whl", data=b"zip", core_metadata=metadata)
        self.upstream.add_project("meta-pkg", [file])
        body = (
            f'<a href="{self.upstream.file_url(file.filename)}#sha256={file.sha256}"'
            f' data-core-metadata="sha256={sha256(b"other")}">{file.filename}</a>'
        ).encode()
        self.upstream.garbage("/simple/meta-pkg/", body=body)
        server = await self.serve(mirror={})
        url = await self.file_url(server, "meta-pkg", file.filename)
        for hits in (1, 2):
            reply = await self.get(server, url + ".metadata")
            self.assertEqual(reply.code, 502, reply)
            self.assertIn(f"{file.filename}.metadata", message(reply))
            self.assertEqual(self.upstream.hits(f"/files/{file.filename}.metadata"), hits)

    async def test_metadata_upstream_offers_none_of_is_served_all_the_same(self) -> None:
        server = await self.serve(mirror={})
        url = await self.file_url(server, "hello-pkg", self.wheel.filename)
        page = await self.get(server, "/root/up/+simple/hello-pkg/", JSON)
        self.assertIs(page.json["files"][0]["core-metadata"], True)
        reply = await self.get(server, url + ".metadata")
        self.assertEqual(reply.code, 200, reply)
        self.assertIn(b"Name: hello-pkg\n", reply.body)
        self.assertIn(b"Requires-Python: >=3.8", reply.body)
        # asked for once, in case it has one unadvertised: it has none
        probes = self.upstream.requests_to(f"/files/{self.wheel.filename}.metadata")
        self.assertEqual([probe.status for probe in probes], [404])
        page = await self.get(server, "/root/up/+simple/hello-pkg/", JSON)
        self.assertEqual(page.json["files"][0]["core-metadata"], {"sha256": sha256(reply.body)})
        # a small wheel came whole with the first Range request and is served from the store
        self.assertEqual((await self.get(server, url)).code, 200)
        self.assertEqual(self.upstream.hits(f"/files/{self.wheel.filename}"), 1)


class SecondMirrorTests(MirrorCase):
    """Two mirror indexes following different upstreams, side by side."""

    async def test_a_second_mirror_follows_its_own_upstream_and_fails_alone(self) -> None:
        other = FakeUpstream()
        await other.start()
        self.addCleanup(other.stop)
        theirs = FakeFile("their_pkg-2.0.tar.gz", size=2000)
        other.add_project("their-pkg", [theirs], serial=5)
        server = await self.serve(mirror={"mirror_cache_expiry": 0})
        config = {"type": "mirror", "mirror_url": other.simple_url, "mirror_cache_expiry": 0}
        await self.make_index(server, "root/other", config)
        self.assertEqual((await self.get(server, "/root/other/+simple/hello-pkg/")).code, 404)
        url = await self.file_url(server, "their-pkg", theirs.filename, index="root/other")
        self.assertTrue(url.startswith("/root/other/+f/"))
        reply = await self.get(server, url)
        self.assertEqual(sha256(reply.body), theirs.sha256)
        self.assertEqual(other.hits("/files/" + theirs.filename), 1)
        self.assertEqual(self.upstream.hits("/simple/their-pkg/"), 0)
        # the second upstream goes down: its cached page is served, the first mirror is unaffected
        await other.down()
        stale = await self.get(server, "/root/other/+simple/their-pkg/", JSON)
        self.assertEqual(stale.code, 200, stale)
        self.assertIn("no-cache", stale.header("Cache-Control"))
        fresh = await self.get(server, "/root/up/+simple/hello-pkg/", JSON)
        self.assertEqual(fresh.code, 200, fresh)
        self.assertNotIn("no-cache", fresh.header("Cache-Control") or "")
        await self.settle(server)  # the refresh gives up after the reply
        failing = self.logged("is failing")
        self.assertEqual([e["host"] for e in failing], [f"127.0.0.1:{other.port}"])
        # a stage reading through both mirrors gets each project from its mirror
        await self.make_index(server, "root/both", {"bases": ["root/up", "root/other"]})
        names = await self.get(server, "/root/both/+simple/", JSON)
        self.assertEqual({p["name"] for p in names.json["projects"]}, {"hello-pkg", "their-pkg"})
        both = await self.get(server, "/root/both/+simple/their-pkg/", JSON)
        self.assertEqual([f["filename"] for f in both.json["files"]], [theirs.filename])


class StageTests(MirrorCase):
    """A stage index with the mirror as its base: merged pages, and devpi's whitelist rule."""

    async def upload(
        self, server: RunningServer, index: str, path: str, auth: dict[str, str]
    ) -> None:
        """Upload a release file with the legacy form, as twine does."""
        with open(path, "rb") as f:
            part = (os.path.basename(path), f.read())
        body, content_type = form_body(twine_fields(path), {"content": part})
        headers = {**auth, "Content-Type": content_type, "Accept": "*/*"}
        reply = await server.request("POST", f"/{index}/", data=body, headers=headers)
        self.assertEqual(reply.code, 200, reply)

    async def test_uploads_and_mirror_releases_merge_by_the_whitelist_rules(self) -> None:
        self.upstream.add_project("mirror-only", [FakeFile("mirror_only-3.0.tar.gz")])
        server = await self.serve(mirror={})
        alice = basic_auth("alice", "secret")
        reply = await server.request("PUT", "/alice", {"password": "secret"})
        self.assertEqual(reply.code, 201, reply)
        reply = await server.request("PUT", "/alice/dev", {"bases": ["root/up"]}, headers=alice)
        self.assertEqual(reply.code, 200, reply)
        sdist = make_sdist(self.mktemp(), "hello-pkg", "2.0")
        await self.upload(server, "alice/dev", sdist, alice)
        own = make_sdist(self.mktemp(), "own-pkg", "0.1")
        await self.upload(server, "alice/dev", own, alice)

        # hello-pkg is on the stage: the mirror's releases are hidden
        page = await self.get(server, "/alice/dev/+simple/hello-pkg/", JSON)
        self.assertEqual([f["filename"] for f in page.json["files"]], ["hello_pkg-2.0.tar.gz"])
        html = await self.get(server, "/alice/dev/+simple/hello-pkg/", HTML)
        self.assertIn(b"no releases from <strong>root/up</strong> are included", html.body)
        self.assertNotIn(self.wheel.filename.encode(), html.body)
        # a project only the mirror has comes from the mirror, one only the stage has from the stage
        page = await self.get(server, "/alice/dev/+simple/mirror-only/", JSON)
        self.assertEqual([f["filename"] for f in page.json["files"]], ["mirror_only-3.0.tar.gz"])
        self.assertTrue(page.json["files"][0]["url"].startswith("../../../../root/up/+f/"))
        page = await self.get(server, "/alice/dev/+simple/own-pkg/", JSON)
        self.assertEqual([f["filename"] for f in page.json["files"]], ["own_pkg-0.1.tar.gz"])
        self.assertEqual(self.upstream.hits("/simple/own-pkg/"), 0)  # shadowed: upstream not asked
        names = await self.get(server, "/alice/dev/+simple/", JSON)
        self.assertEqual(
            {p["name"] for p in names.json["projects"]}, {"hello-pkg", "own-pkg", "mirror-only"}
        )

        # whitelisted, the stage's and the mirror's releases are merged
        whitelist = ["mirror_whitelist+=hello-pkg"]
        reply = await server.request("PATCH", "/alice/dev", whitelist, headers=alice)
        self.assertEqual(reply.code, 200, reply)
        page = await self.get(server, "/alice/dev/+simple/hello-pkg/", JSON)
        self.assertEqual(
            sorted(f["filename"] for f in page.json["files"]),
            sorted(["hello_pkg-2.0.tar.gz", self.wheel.filename]),
        )
        url = await self.file_url(server, "hello-pkg", self.wheel.filename, index="alice/dev")
        reply = await self.get(server, url)
        self.assertEqual(sha256(reply.body), self.wheel.sha256)
