"""The fake upstream PyPI, exercised over loopback sockets the way a mirror would use it."""

from __future__ import annotations

import hashlib
import json
from html.parser import HTMLParser
from typing import Any, Optional
from urllib.parse import urljoin

import treq
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.error import ConnectionRefusedError
from twisted.internet.protocol import Protocol
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase
from twisted.web.client import ResponseFailed, ResponseNeverReceived
from twisted.web.error import InfiniteRedirection

from tests.dists.archives import core_metadata, make_wheel
from tests.mirror.fake_upstream import (
    HTML_V1,
    JSON_V1,
    FakeFile,
    FakeUpstream,
    negotiate,
)
from tests.support import Reply

#: what devpi-server sends for simple pages (protocol 5.1)
DEVPI_ACCEPT = (
    "application/vnd.pypi.simple.v1+html;q=0.2, application/vnd.pypi.simple.v1+json, "
    "text/html;q=0.01"
)
METADATA = core_metadata("hello-pkg", "1.1", requires_python=">=3.7").encode()


class Links(HTMLParser):
    """The anchors of a simple page: (attributes, text)."""

    def __init__(self) -> None:
        super().__init__()
        self.anchors: list[tuple[dict[str, Optional[str]], str]] = []
        self._current: Optional[dict[str, Optional[str]]] = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, Optional[str]]]) -> None:
        if tag == "a":
            self._current = dict(attrs)

    def handle_data(self, data: str) -> None:
        if self._current is not None:
            self.anchors.append((self._current, data))
            self._current = None


def anchors(body: bytes) -> dict[str, dict[str, Optional[str]]]:
    """Anchor text -> attributes."""
    parser = Links()
    parser.feed(body.decode())
    return {text: attrs for attrs, text in parser.anchors}


def watch(d: Deferred[Any]) -> list[Any]:
    """A list that gets C{d}'s result once it fires (C{d.called} is true as soon as it is chained)."""
    results: list[Any] = []

    def keep(result: Any) -> Any:
        results.append(result)
        return result

    d.addBoth(keep)
    return results


class RawExchange(Protocol):
    """Sends one request and keeps the raw bytes until the server closes."""

    def __init__(self, request: bytes) -> None:
        self._request = request
        self._data: list[bytes] = []
        self.done: Deferred[bytes] = Deferred()

    def connectionMade(self) -> None:
        self.transport.write(self._request)  # type: ignore[union-attr]

    def dataReceived(self, data: bytes) -> None:
        self._data.append(data)

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
        self.done.callback(b"".join(self._data))


class UpstreamTestCase(TestCase):
    """A started fake upstream with hello-pkg (a wheel and a yanked sdist) and Other_Thing."""

    timeout = 30

    async def asyncSetUp(self) -> None:
        self.upstream = FakeUpstream()
        wheel_path = make_wheel(self.mktemp(), "hello-pkg", "1.1", requires_python=">=3.7")
        self.wheel = FakeFile.from_path(
            wheel_path,
            requires_python=">=3.7",
            core_metadata=METADATA,
            upload_time="2024-01-01T00:00:00.000000Z",
        )
        self.sdist = FakeFile("hello_pkg-0.9.tar.gz", size=3 * 1024 * 1024 + 7, hash_in_url=False, yanked="broken")
        self.upstream.add_project("hello-pkg", [self.wheel, self.sdist], serial=100)
        self.upstream.add_project("Other_Thing", [FakeFile("other_thing-2.0.tar.gz", b"other")])
        self.base = await self.upstream.start()
        self.addCleanup(self.upstream.stop)

    def setUp(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self.asyncSetUp())

    def request(
        self,
        method: str,
        path: str,
        headers: Optional[dict[str, str]] = None,
        allow_redirects: bool = False,
    ) -> Deferred[Any]:
        """The response (body unread) of one request on a fresh connection."""
        url = path if path.startswith("http") else self.base + path
        return treq.request(  # type: ignore[no-any-return]
            method, url, headers=headers or {}, allow_redirects=allow_redirects, persistent=False
        )

    async def get(
        self, path: str, headers: Optional[dict[str, str]] = None, method: str = "GET"
    ) -> Reply:
        response = await self.request(method, path, headers)
        return Reply(response, await response.content())

    async def raw(self, request: bytes) -> bytes:
        """Whatever the server sends back for C{request}, until it closes."""
        exchange = RawExchange(request)
        endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", self.upstream.port)
        await connectProtocol(endpoint, exchange)
        return await exchange.done


class PageTests(UpstreamTestCase):
    async def test_devpi_accept_gets_pep_691_json(self) -> None:
        reply = await self.get("/simple/hello-pkg/", {"Accept": DEVPI_ACCEPT})
        self.assertEqual(reply.code, 200, reply)
        self.assertEqual(reply.header("content-type"), JSON_V1)
        self.assertEqual(reply.header("vary"), "Accept")
        page = reply.json
        self.assertEqual(page["meta"], {"api-version": "1.1", "_last-serial": 100})
        self.assertEqual(page["name"], "hello-pkg")
        self.assertEqual(page["versions"], ["0.9", "1.1"])
        wheel, sdist = page["files"]
        self.assertEqual(wheel["filename"], "hello_pkg-1.1-py3-none-any.whl")
        self.assertEqual(wheel["url"], f"{self.base}/files/hello_pkg-1.1-py3-none-any.whl")
        self.assertEqual(wheel["hashes"], {"sha256": hashlib.sha256(self.wheel.content()).hexdigest()})
        self.assertEqual(wheel["requires-python"], ">=3.7")
        self.assertIs(wheel["yanked"], False)
        self.assertEqual(wheel["core-metadata"], {"sha256": hashlib.sha256(METADATA).hexdigest()})
        self.assertEqual(wheel["upload-time"], "2024-01-01T00:00:00.000000Z")
        self.assertEqual(wheel["size"], len(self.wheel.content()))
        self.assertEqual(sdist["hashes"], {})
        self.assertEqual(sdist["yanked"], "broken")
        self.assertIs(sdist["core-metadata"], False)
        self.assertIsNone(sdist["requires-python"])

    async def test_text_html_gets_pep_503_html(self) -> None:
        reply = await self.get("/simple/hello-pkg/", {"Accept": "text/html"})
        self.assertEqual(reply.code, 200, reply)
        self.assertEqual(reply.header("content-type"), "text/html")
        links = anchors(reply.body)
        self.assertEqual(sorted(links), ["hello_pkg-0.9.tar.gz", "hello_pkg-1.1-py3-none-any.whl"])
        wheel = links["hello_pkg-1.1-py3-none-any.whl"]
        self.assertEqual(
            wheel["href"],
            f"{self.base}/files/hello_pkg-1.1-py3-none-any.whl#sha256={self.wheel.sha256}",
        )
        self.assertEqual(wheel["data-requires-python"], ">=3.7")
        self.assertNotIn("data-yanked", wheel)
        metadata_hash = "sha256=" + hashlib.sha256(METADATA).hexdigest()
        self.assertEqual(wheel["data-core-metadata"], metadata_hash)
        self.assertEqual(wheel["data-dist-info-metadata"], metadata_hash)
        sdist = links["hello_pkg-0.9.tar.gz"]
        self.assertEqual(sdist["href"], f"{self.base}/files/hello_pkg-0.9.tar.gz")
        self.assertEqual(sdist["data-yanked"], "broken")
        self.assertIn(b"<!--SERIAL 100-->", reply.body)

    async def test_yanked_without_reason_is_an_empty_attribute_and_true(self) -> None:
        self.upstream.add_project("yanky", [FakeFile("yanky-1.0.tar.gz", b"y", yanked=True)])
        html = await self.get("/simple/yanky/", {"Accept": "text/html"})
        self.assertEqual(anchors(html.body)["yanky-1.0.tar.gz"]["data-yanked"], "")
        page = await self.get("/simple/yanky/", {"Accept": JSON_V1})
        self.assertIs(page.json["files"][0]["yanked"], True)

    async def test_no_accept_header_gets_html(self) -> None:
        response = await self.request("GET", "/simple/hello-pkg/")
        await response.content()
        self.assertEqual(response.headers.getRawHeaders("content-type"), ["text/html"])

    async def test_q_values_decide(self) -> None:
        cases = {
            f"{JSON_V1};q=0.5, text/html": "text/html",
            f"{JSON_V1};q=0.5, {HTML_V1};q=0.9": HTML_V1,
            f"{HTML_V1}, {JSON_V1}": JSON_V1,
            f"{JSON_V1};q=0, */*": "text/html",
            "application/vnd.pypi.simple.latest+json": JSON_V1,
        }
        for accept, expected in cases.items():
            reply = await self.get("/simple/hello-pkg/", {"Accept": accept})
            self.assertEqual((accept, reply.header("content-type")), (accept, expected))

    async def test_nothing_acceptable_is_406(self) -> None:
        reply = await self.get("/simple/hello-pkg/", {"Accept": "application/xml"})
        self.assertEqual(reply.code, 406, reply)

    async def test_an_html_only_upstream_ignores_accept(self) -> None:
        self.upstream.serve_json = False
        reply = await self.get("/simple/hello-pkg/", {"Accept": DEVPI_ACCEPT})
        self.assertEqual(reply.header("content-type"), "text/html")
        self.assertIn("hello_pkg-0.9.tar.gz", anchors(reply.body))

    async def test_project_list_in_both_formats_keeps_names_as_added(self) -> None:
        listing = await self.get("/simple/", {"Accept": DEVPI_ACCEPT})
        self.assertEqual(listing.code, 200, listing)
        self.assertEqual(listing.json["meta"], {"api-version": "1.1", "_last-serial": 101})
        self.assertEqual(
            listing.json["projects"],
            [{"name": "hello-pkg", "_last-serial": 100}, {"name": "Other_Thing", "_last-serial": 101}],
        )
        self.assertEqual(listing.header("x-pypi-last-serial"), "101")
        html = await self.get("/simple/", {"Accept": "text/html"})
        links = anchors(html.body)
        self.assertEqual(links["Other_Thing"]["href"], "/simple/other-thing/")
        self.assertEqual(links["hello-pkg"]["href"], "/simple/hello-pkg/")

    async def test_relative_links_resolve_to_the_files(self) -> None:
        self.upstream.relative_links = True
        page_url = self.upstream.project_url("hello-pkg")
        self.assertEqual(page_url, f"{self.base}/simple/hello-pkg/")
        for accept in ("text/html", JSON_V1):
            reply = await self.get("/simple/hello-pkg/", {"Accept": accept})
            if accept == JSON_V1:
                href = reply.json["files"][0]["url"]
            else:
                href = anchors(reply.body)["hello_pkg-1.1-py3-none-any.whl"]["href"] or ""
            self.assertTrue(href.startswith("../../files/"), href)
            download = await self.get(urljoin(page_url, href.split("#")[0]))
            self.assertEqual(download.code, 200)
            self.assertTrue(download.body == self.wheel.content())

    async def test_a_project_can_choose_relative_links_alone(self) -> None:
        self.upstream.add_project("rel", [FakeFile("rel-1.0.tar.gz", b"r")], relative_links=True)
        page = await self.get("/simple/rel/", {"Accept": JSON_V1})
        self.assertEqual(page.json["files"][0]["url"], "../../files/rel-1.0.tar.gz")
        other = await self.get("/simple/other-thing/", {"Accept": JSON_V1})
        self.assertEqual(other.json["files"][0]["url"], f"{self.base}/files/other_thing-2.0.tar.gz")

    async def test_unknown_project_is_404(self) -> None:
        reply = await self.get("/simple/nope/")
        self.assertEqual(reply.code, 404)

    async def test_other_methods_are_405(self) -> None:
        reply = await self.get("/simple/hello-pkg/", method="POST")
        self.assertEqual(reply.code, 405)
        self.assertEqual(reply.header("allow"), "GET, HEAD")


class SerialAndETagTests(UpstreamTestCase):
    async def test_serial_header_follows_what_the_test_sets_even_backwards(self) -> None:
        first = await self.get("/simple/hello-pkg/", {"Accept": DEVPI_ACCEPT})
        self.assertEqual(first.header("x-pypi-last-serial"), "100")
        self.upstream.set_serial("Hello_Pkg", 50)
        second = await self.get("/simple/hello-pkg/", {"Accept": DEVPI_ACCEPT})
        self.assertEqual(second.header("x-pypi-last-serial"), "50")
        self.assertEqual(second.json["meta"]["_last-serial"], 50)

    async def test_no_serial_sends_no_header(self) -> None:
        self.upstream.set_serial("hello-pkg", None)
        reply = await self.get("/simple/hello-pkg/", {"Accept": DEVPI_ACCEPT})
        self.assertEqual(reply.code, 200)
        self.assertIsNone(reply.header("x-pypi-last-serial"))

    async def test_adding_a_file_bumps_the_serial(self) -> None:
        self.upstream.add_file("hello-pkg", FakeFile("hello_pkg-1.2.tar.gz", b"new"))
        reply = await self.get("/simple/hello-pkg/", {"Accept": DEVPI_ACCEPT})
        self.assertEqual(reply.header("x-pypi-last-serial"), "102")
        self.assertEqual(reply.json["versions"], ["0.9", "1.1", "1.2"])

    async def test_matching_if_none_match_gets_304_until_the_page_changes(self) -> None:
        first = await self.get("/simple/hello-pkg/", {"Accept": DEVPI_ACCEPT})
        etag = first.header("etag")
        assert etag is not None
        self.assertTrue(etag.startswith('"') and etag.endswith('"'), etag)
        again = await self.get("/simple/hello-pkg/", {"Accept": DEVPI_ACCEPT, "If-None-Match": etag})
        self.assertEqual(again.code, 304)
        self.assertEqual(again.body, b"")
        self.assertEqual(again.header("etag"), etag)
        self.assertEqual(again.header("x-pypi-last-serial"), "100")
        self.upstream.add_file("hello-pkg", FakeFile("hello_pkg-1.2.tar.gz", b"new"))
        changed = await self.get("/simple/hello-pkg/", {"Accept": DEVPI_ACCEPT, "If-None-Match": etag})
        self.assertEqual(changed.code, 200)
        self.assertNotEqual(changed.header("etag"), etag)

    async def test_html_and_json_have_different_etags(self) -> None:
        as_json = await self.get("/simple/hello-pkg/", {"Accept": JSON_V1})
        as_html = await self.get("/simple/hello-pkg/", {"Accept": "text/html"})
        self.assertNotEqual(as_json.header("etag"), as_html.header("etag"))
        cross = await self.get(
            "/simple/hello-pkg/", {"Accept": "text/html", "If-None-Match": as_json.header("etag") or ""}
        )
        self.assertEqual(cross.code, 200)

    async def test_project_list_has_an_etag_too(self) -> None:
        first = await self.get("/simple/", {"Accept": DEVPI_ACCEPT})
        again = await self.get("/simple/", {"Accept": DEVPI_ACCEPT, "If-None-Match": first.header("etag") or ""})
        self.assertEqual(again.code, 304)

    async def test_etags_can_be_switched_off(self) -> None:
        self.upstream.send_etags = False
        reply = await self.get("/simple/hello-pkg/", {"If-None-Match": "*"})
        self.assertEqual(reply.code, 200)
        self.assertIsNone(reply.header("etag"))


class RedirectTests(UpstreamTestCase):
    async def test_non_normalized_name_is_moved_permanently(self) -> None:
        reply = await self.get("/simple/Other_Thing/")
        self.assertEqual(reply.code, 301)
        self.assertEqual(reply.header("location"), f"{self.base}/simple/other-thing/")

    async def test_missing_slash_is_moved_permanently(self) -> None:
        reply = await self.get("/simple/hello-pkg")
        self.assertEqual(reply.code, 301)
        self.assertEqual(reply.header("location"), f"{self.base}/simple/hello-pkg/")
        listing = await self.get("/simple")
        self.assertEqual(listing.header("location"), f"{self.base}/simple/")

    async def test_following_the_redirect_reaches_the_page(self) -> None:
        response = await self.request("GET", "/simple/Other.Thing/", {"Accept": JSON_V1}, allow_redirects=True)
        page = json.loads(await response.content())
        self.assertEqual(page["name"], "other-thing")
        self.assertEqual(
            [r.path for r in self.upstream.requests], ["/simple/Other.Thing/", "/simple/other-thing/"]
        )


class FileTests(UpstreamTestCase):
    async def test_a_wheel_is_served_as_made(self) -> None:
        reply = await self.get("/files/hello_pkg-1.1-py3-none-any.whl")
        self.assertEqual(reply.code, 200)
        self.assertTrue(reply.body == self.wheel.content())
        self.assertEqual(reply.length, len(reply.body))
        self.assertEqual(reply.header("content-type"), "application/zip")
        self.assertEqual(reply.header("last-modified"), "Mon, 01 Jan 2024 00:00:00 GMT")

    async def test_a_large_generated_file_arrives_whole_and_matches_its_hash(self) -> None:
        reply = await self.get("/files/hello_pkg-0.9.tar.gz")
        self.assertEqual(reply.code, 200)
        self.assertEqual(reply.length, 3 * 1024 * 1024 + 7)
        self.assertEqual(len(reply.body), 3 * 1024 * 1024 + 7)
        self.assertEqual(hashlib.sha256(reply.body).hexdigest(), self.sdist.sha256)
        self.assertTrue(reply.body == self.sdist.content())
        self.assertEqual(reply.header("content-type"), "application/x-tar")

    def test_generated_bytes_are_deterministic_and_differ_by_name(self) -> None:
        self.assertEqual(FakeFile("a-1.tar.gz", size=100_000).sha256, FakeFile("a-1.tar.gz", size=100_000).sha256)
        self.assertNotEqual(FakeFile("a-1.tar.gz", size=100).content(), FakeFile("b-1.tar.gz", size=100).content())
        self.assertEqual(len(FakeFile("c-1.tar.gz").content()), 1024)
        self.assertRaises(ValueError, FakeFile, "d-1.tar.gz", b"abc", 4)

    async def test_head_gives_the_length_and_no_body(self) -> None:
        raw = await self.raw(
            b"HEAD /files/hello_pkg-0.9.tar.gz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Connection: close\r\n\r\n"
        )
        head, _, body = raw.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 200 "), head)
        self.assertIn(b"content-length: %d" % (3 * 1024 * 1024 + 7), head.lower())
        self.assertEqual(body, b"")

    async def test_core_metadata_is_served_next_to_the_file(self) -> None:
        reply = await self.get("/files/hello_pkg-1.1-py3-none-any.whl.metadata")
        self.assertEqual(reply.code, 200)
        self.assertEqual(reply.body, METADATA)
        missing = await self.get("/files/hello_pkg-0.9.tar.gz.metadata")
        self.assertEqual(missing.code, 404)

    async def test_unknown_file_is_404(self) -> None:
        reply = await self.get("/files/nothing-1.0.tar.gz")
        self.assertEqual(reply.code, 404)

    async def test_wrong_hash_is_advertised_but_the_bytes_are_right(self) -> None:
        liar = FakeFile("liar-1.0.tar.gz", b"honest bytes", wrong_hash=True)
        self.upstream.add_project("liar", [liar])
        real = hashlib.sha256(b"honest bytes").hexdigest()
        page = await self.get("/simple/liar/", {"Accept": JSON_V1})
        advertised = page.json["files"][0]["hashes"]["sha256"]
        self.assertNotEqual(advertised, real)
        self.assertEqual(advertised, liar.advertised_sha256)
        html = await self.get("/simple/liar/", {"Accept": "text/html"})
        self.assertEqual(
            anchors(html.body)["liar-1.0.tar.gz"]["href"],
            f"{self.base}/files/liar-1.0.tar.gz#sha256={advertised}",
        )
        download = await self.get("/files/liar-1.0.tar.gz")
        self.assertEqual(hashlib.sha256(download.body).hexdigest(), real)

    async def test_odd_file_names_are_quoted_in_links_and_found(self) -> None:
        odd = FakeFile("odd-1.0+local.tar.gz", b"odd")
        self.upstream.add_project("odd", [odd])
        page = await self.get("/simple/odd/", {"Accept": JSON_V1})
        url = page.json["files"][0]["url"]
        self.assertEqual(url, f"{self.base}/files/odd-1.0%2Blocal.tar.gz")
        self.assertEqual((await self.get(url)).body, b"odd")


class FailureTests(UpstreamTestCase):
    async def test_fail_a_number_of_times_then_recover(self) -> None:
        rule = self.upstream.fail("/simple/", 503, times=2)
        codes = [(await self.get("/simple/hello-pkg/")).code for _ in range(3)]
        self.assertEqual(codes, [503, 503, 200])
        self.assertEqual(rule.hits, 2)
        self.assertEqual(self.upstream.rules, [])
        self.assertEqual(
            [r.misbehaviour for r in self.upstream.requests], ["fail", "fail", None]
        )

    async def test_fail_only_under_its_prefix(self) -> None:
        self.upstream.fail("/files/", 500)
        self.assertEqual((await self.get("/files/other_thing-2.0.tar.gz")).code, 500)
        self.assertEqual((await self.get("/simple/hello-pkg/")).code, 200)

    async def test_retry_after_is_sent_with_429(self) -> None:
        self.upstream.fail("/", 429, retry_after=7)
        reply = await self.get("/simple/")
        self.assertEqual(reply.code, 429)
        self.assertEqual(reply.header("retry-after"), "7")
        self.upstream.fail("/", 503)
        self.assertIsNone((await self.get("/simple/")).header("retry-after"))

    async def test_the_newest_rule_wins_and_heal_removes_it(self) -> None:
        self.upstream.fail("/", 500)
        self.upstream.fail("/simple/", 503)
        self.assertEqual((await self.get("/simple/")).code, 503)
        self.assertEqual((await self.get("/files/x")).code, 500)
        self.upstream.heal("/simple/")
        self.assertEqual((await self.get("/simple/")).code, 500)
        self.upstream.heal()
        self.assertEqual((await self.get("/simple/")).code, 200)

    async def test_garbage_answers_anything_with_the_given_body(self) -> None:
        self.upstream.garbage("/simple/", b"\x00\xffnot json", "application/vnd.pypi.simple.v1+json")
        reply = await self.get("/simple/hello-pkg/", {"Accept": DEVPI_ACCEPT})
        self.assertEqual(reply.code, 200)
        self.assertEqual(reply.body, b"\x00\xffnot json")
        self.assertEqual(reply.header("content-type"), JSON_V1)

    async def test_redirect_loop_points_at_itself(self) -> None:
        self.upstream.redirect_loop("/simple/")
        reply = await self.get("/simple/hello-pkg/?x=1")
        self.assertEqual(reply.code, 302)
        self.assertEqual(reply.header("location"), f"{self.base}/simple/hello-pkg/?x=1")
        following = self.request("GET", "/simple/hello-pkg/", allow_redirects=True)
        failure = await self.assertFailure(following, ResponseFailed)
        self.assertTrue(failure.reasons[0].check(InfiniteRedirection), failure.reasons)
        self.assertGreater(self.upstream.hits("/simple/hello-pkg/"), 5)

    async def test_reset_behaves_again_and_forgets_the_log(self) -> None:
        self.upstream.fail("/", 500)
        self.upstream.garbage("/files/")
        await self.get("/simple/")
        self.upstream.reset()
        self.assertEqual(self.upstream.requests, [])
        self.assertEqual((await self.get("/simple/")).code, 200)
        self.assertEqual(self.upstream.hits("/simple/"), 1)

    def test_prefixes_must_be_paths(self) -> None:
        self.assertRaises(ValueError, self.upstream.fail, "simple/")


class TruncateTests(UpstreamTestCase):
    async def test_truncate_sends_the_full_length_but_a_short_body(self) -> None:
        self.upstream.truncate("/files/", at_bytes=1000)
        raw = await self.raw(
            b"GET /files/hello_pkg-0.9.tar.gz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        )
        head, _, body = raw.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 200 "), head)
        self.assertIn(b"content-length: %d" % (3 * 1024 * 1024 + 7), head.lower())
        self.assertEqual(len(body), 1000)
        self.assertTrue(body == self.sdist.content()[:1000])

    async def test_a_client_sees_the_body_fail(self) -> None:
        self.upstream.truncate("/files/", at_bytes=100, times=1)
        response = await self.request("GET", "/files/hello_pkg-0.9.tar.gz")
        received: list[bytes] = []
        await self.assertFailure(treq.collect(response, received.append), ResponseFailed)
        self.assertEqual(len(b"".join(received)), 100)
        again = await self.get("/files/hello_pkg-0.9.tar.gz")
        self.assertEqual(len(again.body), 3 * 1024 * 1024 + 7)

    async def test_truncate_longer_than_the_body_sends_it_all(self) -> None:
        self.upstream.truncate("/files/", at_bytes=10_000)
        reply = await self.get("/files/other_thing-2.0.tar.gz")
        self.assertEqual(reply.body, b"other")


class StallTests(UpstreamTestCase):
    async def test_stalled_request_is_answered_after_release(self) -> None:
        self.upstream.stall("/simple/")
        pending = self.request("GET", "/simple/hello-pkg/", {"Accept": JSON_V1})
        answered = watch(pending)
        await self.upstream.wait_for_stalled()
        self.assertEqual(self.upstream.stalled, ["/simple/hello-pkg/"])
        self.assertEqual(answered, [])
        self.assertIsNone(self.upstream.requests[0].status)
        # other paths are not held
        self.assertEqual((await self.get("/files/other_thing-2.0.tar.gz")).body, b"other")
        self.assertEqual(self.upstream.release(), 1)
        response = await pending
        self.assertEqual(response.code, 200)
        self.assertEqual(json.loads(await response.content())["name"], "hello-pkg")
        self.assertEqual(self.upstream.stalled, [])
        # released for good: the next one is answered at once
        self.assertEqual((await self.get("/simple/hello-pkg/")).code, 200)

    async def test_several_stalled_requests(self) -> None:
        self.upstream.stall("/", times=2)
        first = self.request("GET", "/simple/")
        first_answered = watch(first)
        second = self.request("GET", "/files/other_thing-2.0.tar.gz")
        await self.upstream.wait_for_stalled(2)
        # the rule was used up: a third request goes through
        self.assertEqual((await self.get("/simple/hello-pkg/")).code, 200)
        self.assertEqual(self.upstream.release("/files/"), 1)
        self.assertEqual(await (await second).content(), b"other")
        self.assertEqual(first_answered, [])
        self.upstream.reset()
        self.assertEqual((await first).code, 200)

    async def test_stop_closes_stalled_connections(self) -> None:
        self.upstream.stall()
        pending = self.request("GET", "/simple/")
        await self.upstream.wait_for_stalled()
        await self.upstream.stop()
        await self.assertFailure(pending, ResponseNeverReceived)
        self.assertEqual(self.upstream.stalled, [])


class SlowTests(UpstreamTestCase):
    async def test_slow_body_arrives_whole_piece_by_piece(self) -> None:
        self.upstream.slow("/files/", bytes_per_tick=1000, tick=0.01)
        big = FakeFile("big-1.0.tar.gz", size=10_000)
        self.upstream.add_project("big", [big])
        response = await self.request("GET", "/files/big-1.0.tar.gz")
        pieces: list[bytes] = []
        await treq.collect(response, pieces.append)
        # ten sends a tick apart: the client reads them as more than one piece
        self.assertGreater(len(pieces), 1)
        self.assertTrue(b"".join(pieces) == big.content())

    async def test_stop_in_the_middle_of_a_slow_body_leaves_nothing_behind(self) -> None:
        self.upstream.slow("/files/", bytes_per_tick=100, tick=0.05)
        response = await self.request("GET", "/files/hello_pkg-0.9.tar.gz")
        received: list[bytes] = []
        reading = treq.collect(response, received.append)
        await self.upstream.stop()
        await self.assertFailure(reading, ResponseFailed)
        self.assertLess(len(b"".join(received)), 3 * 1024 * 1024)


class DownTests(UpstreamTestCase):
    async def test_down_refuses_connections_and_up_serves_again_on_the_same_port(self) -> None:
        port = self.upstream.port
        await self.upstream.down()
        self.assertFalse(self.upstream.is_up)
        await self.assertFailure(self.request("GET", "/simple/"), ConnectionRefusedError)
        await self.upstream.up()
        self.assertEqual(self.upstream.port, port)
        self.assertEqual((await self.get("/simple/")).code, 200)

    async def test_stop_twice_is_harmless(self) -> None:
        await self.upstream.stop()
        await self.upstream.stop()


class RequestLogTests(UpstreamTestCase):
    async def test_every_request_is_recorded_with_its_headers_and_status(self) -> None:
        await self.get("/simple/hello-pkg/?format=x", {"Accept": DEVPI_ACCEPT, "User-Agent": "devpi-server/test"})
        await self.get("/files/nothing", method="HEAD")
        first, second = self.upstream.requests
        self.assertEqual((first.method, first.path, first.query), ("GET", "/simple/hello-pkg/", "format=x"))
        self.assertEqual(first.header("accept"), DEVPI_ACCEPT)
        self.assertEqual(first.header("User-Agent"), "devpi-server/test")
        self.assertEqual(first.headers["user-agent"], ["devpi-server/test"])
        self.assertEqual(first.status, 200)
        self.assertEqual((second.method, second.path, second.status), ("HEAD", "/files/nothing", 404))

    async def test_hits_count_requests_per_path_and_method(self) -> None:
        for _ in range(2):
            await self.get("/simple/hello-pkg/")
        await self.get("/simple/hello-pkg/", method="HEAD")
        self.assertEqual(self.upstream.hits("/simple/hello-pkg/"), 3)
        self.assertEqual(self.upstream.hits("/simple/hello-pkg/", "GET"), 2)
        self.assertEqual(len(self.upstream.requests_to("/simple/hello-pkg/", "head")), 1)
        self.assertEqual(self.upstream.hits("/simple/other-thing/"), 0)


class ScaleTests(TestCase):
    timeout = 60

    async def test_many_projects_are_listed_and_served(self) -> None:
        upstream = FakeUpstream()
        names = upstream.add_many(2000, files_per_project=3)
        self.assertEqual(len(names), 2000)
        await upstream.start()
        self.addCleanup(upstream.stop)
        response = await treq.get(upstream.simple_url, headers={"Accept": JSON_V1}, persistent=False)
        listing = json.loads(await response.content())
        self.assertEqual(len(listing["projects"]), 2000)
        self.assertEqual(listing["meta"]["_last-serial"], 2000)
        response = await treq.get(upstream.project_url(names[1234]), headers={"Accept": JSON_V1}, persistent=False)
        page = json.loads(await response.content())
        self.assertEqual([f["filename"] for f in page["files"]], [f"proj_1234-1.{j}.tar.gz" for j in range(3)])
        response = await treq.get(upstream.file_url("proj_1234-1.2.tar.gz"), persistent=False)
        body = await response.content()
        self.assertEqual(hashlib.sha256(body).hexdigest(), page["files"][2]["hashes"]["sha256"])


class NegotiateTests(TestCase):
    def test_devpi_and_pip_get_json_browsers_and_curl_get_html(self) -> None:
        pip = f"{JSON_V1}, {HTML_V1}; q=0.1, text/html; q=0.01"
        browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
        self.assertEqual(negotiate(DEVPI_ACCEPT), JSON_V1)
        self.assertEqual(negotiate(pip), JSON_V1)
        self.assertEqual(negotiate(browser), "text/html")
        self.assertEqual(negotiate("*/*"), "text/html")
        self.assertEqual(negotiate(None), "text/html")
        self.assertEqual(negotiate("application/*"), JSON_V1)
        self.assertIsNone(negotiate("image/png"))
