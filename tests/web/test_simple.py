"""Simple pages (PEP 503/592/629/658/691/700/714): +simple/, the index root, caching, bases."""

from __future__ import annotations

import hashlib
import re
import uuid
from html.parser import HTMLParser
from typing import Any, Optional
from urllib.parse import urldefrag, urljoin, urlsplit

from twisted.internet.testing import StringTransport
from twisted.logger import capturedLogs
from twisted.trial.unittest import TestCase
from twisted.web.server import Site

from devpi_twisted.model import releases
from devpi_twisted.model.releases import StoredBlob
from devpi_twisted.web.app import make_resource
from tests.dists.archives import core_metadata, make_sdist, make_wheel
from tests.support import MemoryServer, Reply

HOST = "http://devpi.test"
SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
SIMPLE_HTML = "application/vnd.pypi.simple.v1+html"
TEXT_HTML = "text/html; charset=utf-8"
PIP_ACCEPT = f"{SIMPLE_JSON}, {SIMPLE_HTML}; q=0.1, text/html; q=0.01"
UV_ACCEPT = f"{SIMPLE_JSON}, {SIMPLE_HTML};q=0.2, text/html;q=0.01"
PIP_UA = 'pip/24.0 {"ci":null,"installer":{"name":"pip","version":"24.0"}}'
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
SDIST = "hello_pkg-1.0.tar.gz"
WHEEL = "hello_pkg-1.0-py3-none-any.whl"


class Anchor:
    """One C{<a>} of a page: its attributes and its text."""

    def __init__(self, attrs: dict[str, Optional[str]]) -> None:
        self.attrs = attrs
        self.text = ""

    @property
    def href(self) -> str:
        return self.attrs["href"] or ""


class AnchorParser(HTMLParser):
    """Collects the anchors and C{<meta>} tags of an HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.anchors: list[Anchor] = []
        self.meta: dict[str, str] = {}
        self._open: Optional[Anchor] = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, Optional[str]]]) -> None:
        if tag == "a":
            self._open = Anchor(dict(attrs))
            self.anchors.append(self._open)
        elif tag == "meta":
            values = dict(attrs)
            self.meta[values.get("name") or ""] = values.get("content") or ""

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._open.text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._open = None


def parse_html(body: bytes) -> AnchorParser:
    parser = AnchorParser()
    parser.feed(body.decode("utf-8"))
    parser.close()
    return parser


def anchors(body: bytes) -> list[Anchor]:
    return parse_html(body).anchors


def multipart(fields: dict[str, str], filename: str, content: bytes) -> tuple[bytes, str]:
    """A C{multipart/form-data} body with C{content} as the C{content} file part."""
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="content"; filename="{filename}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n".encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


class ReleaseServerTestCase(TestCase):
    """A server with user alice and her volatile index alice/dev; helpers to fill it."""

    def setUp(self) -> None:
        self.server = MemoryServer(self.mktemp())
        self.addCleanup(self.server.close)
        self.alice = self.server.create_user("alice")
        self.make_index("alice/dev")

    def make_index(self, name: str, **config: Any) -> None:
        """Create one of alice's indexes."""
        reply = self.server.request("PUT", f"/{name}", config, headers=self.alice)
        self.assertEqual(reply.code, 200, reply)

    def write_blob(self, data: bytes) -> str:
        writer = self.server.blobs.writer()
        writer.write(data)
        return writer.commit()

    def add(
        self,
        filename: str = SDIST,
        data: Optional[bytes] = None,
        index: str = "alice/dev",
        version: str = "1.0",
        name: str = "hello-pkg",
        requires_python: Optional[str] = None,
        core: Optional[bytes] = None,
    ) -> str:
        """Store a release file straight through the model; returns its relpath."""
        data = (filename + index).encode() if data is None else data
        sha256 = self.write_blob(data)
        core_sha256 = None if core is None else self.write_blob(core)
        metadata: dict[str, Any] = {"name": name, "version": version}
        if requires_python is not None:
            metadata["requires_python"] = requires_python
        username, indexname = index.split("/")
        blob = StoredBlob(filename, sha256, len(data), core_sha256)
        now = self.server.clock.seconds()
        return self.server.store.transact_now(
            lambda txn: releases.add_release_file(
                txn, username, indexname, metadata, blob, "alice", now
            )
        ).result.relpath

    def upload(self, path: str, name: str, version: str, index: str = "alice/dev") -> Reply:
        """Upload a file the way twine does."""
        with open(path, "rb") as f:
            content = f.read()
        fields = {
            ":action": "file_upload", "protocol_version": "1", "name": name, "version": version
        }
        body, content_type = multipart(fields, path.rsplit("/", 1)[-1], content)
        reply = self.server.request(
            "POST", f"/{index}/", data=body, headers={**self.alice, "Content-Type": content_type},
            accept_json=False,
        )
        self.assertEqual(reply.code, 200, reply)
        return reply

    def upload_doc(self, zip_bytes: bytes, name: str = "hello-pkg", version: str = "1.0") -> None:
        fields = {":action": "doc_upload", "name": name, "version": version}
        body, content_type = multipart(fields, f"{name}-{version}.doc.zip", zip_bytes)
        reply = self.server.request(
            "POST", "/alice/dev/", data=body, headers={**self.alice, "Content-Type": content_type},
            accept_json=False,
        )
        self.assertEqual(reply.code, 200, reply)

    def yank(self, yanked: Any, version: str = "1.0", project: str = "hello-pkg") -> None:
        self.server.store.transact_now(
            lambda txn: releases.set_yanked(txn, "alice", "dev", project, version, yanked)
        )

    def get(
        self,
        path: str,
        accept: Optional[str] = None,
        user_agent: Optional[str] = None,
        **headers: str,
    ) -> Reply:
        """A GET as an installer or browser sends it: no JSON unless asked."""
        sent = {name.replace("_", "-"): value for name, value in headers.items()}
        if accept is not None:
            sent["Accept"] = accept
        if user_agent is not None:
            sent["User-Agent"] = user_agent
        return self.server.request("GET", path, headers=sent, accept_json=False)

    def follow(self, page_url: str, href: str, **headers: str) -> Reply:
        """GET what C{href} on the page at C{page_url} points to (fragment dropped)."""
        target = urljoin(HOST + page_url, href)
        self.assertTrue(target.startswith(HOST + "/"), target)
        return self.get(urlsplit(urldefrag(target)[0]).path, **headers)

    def sha256(self, relpath: str) -> str:
        return str(releases.get_file(self.server.store, relpath)["sha256"])


class ProjectPageHTMLTests(ReleaseServerTestCase):
    PAGE = "/alice/dev/+simple/hello-pkg/"

    def test_anchor_per_file_with_sha256_fragment(self) -> None:
        sdist = self.add(SDIST, b"sdist")
        wheel = self.add(WHEEL, b"wheel")
        reply = self.get(self.PAGE)
        self.assertEqual(reply.code, 200, reply)
        found = {a.text: a.href for a in anchors(reply.body)}
        self.assertEqual(set(found), {SDIST, WHEEL})
        self.assertTrue(found[SDIST].endswith(f"{SDIST}#sha256={self.sha256(sdist)}"))
        self.assertTrue(found[WHEEL].endswith(f"{WHEEL}#sha256={self.sha256(wheel)}"))

    def test_relative_links_resolve_to_the_files(self) -> None:
        self.add(SDIST, b"sdist bytes")
        self.add(WHEEL, b"wheel bytes")
        page = self.get(self.PAGE)
        for anchor in anchors(page.body):
            self.assertFalse(anchor.href.startswith("http"), anchor.href)
            reply = self.follow(self.PAGE, anchor.href)
            self.assertEqual(reply.code, 200, (anchor.href, reply))
            expected = {SDIST: b"sdist bytes", WHEEL: b"wheel bytes"}[anchor.text]
            self.assertEqual(reply.body, expected)
            fragment = urldefrag(anchor.href)[1]
            self.assertEqual(fragment, "sha256=" + hashlib.sha256(reply.body).hexdigest())

    def test_title_and_repository_version(self) -> None:
        self.add()
        parsed = parse_html(self.get(self.PAGE).body)
        self.assertEqual(parsed.meta["pypi:repository-version"], "1.1")
        self.assertIn(b"<title>alice/dev: links for hello-pkg</title>", self.get(self.PAGE).body)

    def test_requires_python_is_escaped(self) -> None:
        self.add(requires_python='>=3.8,<4"><script>')
        body = self.get(self.PAGE).body
        self.assertIn(b'data-requires-python="&gt;=3.8,&lt;4&quot;&gt;&lt;script&gt;"', body)
        self.assertNotIn(b"<script>", body)
        [anchor] = anchors(body)
        self.assertEqual(anchor.attrs["data-requires-python"], '>=3.8,<4"><script>')

    def test_no_requires_python_attribute_without_a_value(self) -> None:
        self.add()
        [anchor] = anchors(self.get(self.PAGE).body)
        self.assertNotIn("data-requires-python", anchor.attrs)

    def test_yanked_without_reason(self) -> None:
        self.add()
        self.yank(True)
        [anchor] = anchors(self.get(self.PAGE).body)
        self.assertEqual(anchor.attrs["data-yanked"], "")

    def test_yanked_with_escaped_reason(self) -> None:
        self.add()
        self.yank('broken <"badly">')
        body = self.get(self.PAGE).body
        self.assertIn(b'data-yanked="broken &lt;&quot;badly&quot;&gt;"', body)
        [anchor] = anchors(body)
        self.assertEqual(anchor.attrs["data-yanked"], 'broken <"badly">')

    def test_not_yanked_has_no_attribute(self) -> None:
        self.add()
        [anchor] = anchors(self.get(self.PAGE).body)
        self.assertNotIn("data-yanked", anchor.attrs)

    def test_yank_shows_only_on_that_version(self) -> None:
        self.add(SDIST)
        self.add("hello_pkg-2.0.tar.gz", version="2.0")
        self.yank(True, "1.0")
        found = {a.text: a.attrs for a in anchors(self.get(self.PAGE).body)}
        self.assertIn("data-yanked", found[SDIST])
        self.assertNotIn("data-yanked", found["hello_pkg-2.0.tar.gz"])

    def test_newest_version_first(self) -> None:
        self.add("hello_pkg-1.9.tar.gz", version="1.9")
        self.add("hello_pkg-1.10.tar.gz", version="1.10")
        self.add("hello_pkg-1.0.tar.gz", version="1.0")
        texts = [a.text for a in anchors(self.get(self.PAGE).body)]
        self.assertEqual(
            texts, ["hello_pkg-1.10.tar.gz", "hello_pkg-1.9.tar.gz", "hello_pkg-1.0.tar.gz"]
        )

    def test_index_name_before_each_anchor(self) -> None:
        self.add()
        self.assertIn(b"alice/dev <a href=", self.get(self.PAGE).body)


class CoreMetadataTests(ReleaseServerTestCase):
    """PEP 658/714 through a real upload: only wheels carry METADATA of their own."""

    PAGE = "/alice/dev/+simple/hello-pkg/"

    def setUp(self) -> None:
        super().setUp()
        folder = self.mktemp()
        self.metadata = core_metadata("hello-pkg", "1.0", requires_python=">=3.8").encode()
        for make in (make_wheel, make_sdist):
            path = make(folder, "hello-pkg", "1.0", requires_python=">=3.8")
            self.upload(path, "hello-pkg", "1.0")
        self.digest = hashlib.sha256(self.metadata).hexdigest()

    def test_html_attributes_for_the_wheel_only(self) -> None:
        found = {a.text: a.attrs for a in anchors(self.get(self.PAGE).body)}
        self.assertEqual(found[WHEEL]["data-core-metadata"], f"sha256={self.digest}")
        self.assertEqual(found[WHEEL]["data-dist-info-metadata"], f"sha256={self.digest}")
        self.assertNotIn("data-core-metadata", found[SDIST])
        self.assertNotIn("data-dist-info-metadata", found[SDIST])

    def test_requires_python_from_the_file(self) -> None:
        found = {a.text: a.attrs for a in anchors(self.get(self.PAGE).body)}
        self.assertEqual(found[WHEEL]["data-requires-python"], ">=3.8")

    def test_metadata_file_next_to_the_wheel(self) -> None:
        [wheel] = [a for a in anchors(self.get(self.PAGE).body) if a.text == WHEEL]
        reply = self.follow(self.PAGE, urldefrag(wheel.href)[0] + ".metadata")
        self.assertEqual(reply.code, 200, reply)
        self.assertEqual(reply.body, self.metadata)
        self.assertEqual(hashlib.sha256(reply.body).hexdigest(), self.digest)

    def test_json_core_metadata_for_the_wheel_only(self) -> None:
        files = {f["filename"]: f for f in self.get(self.PAGE, SIMPLE_JSON).json["files"]}
        self.assertEqual(files[WHEEL]["core-metadata"], {"sha256": self.digest})
        self.assertNotIn("core-metadata", files[SDIST])
        self.assertNotIn("dist-info-metadata", files[SDIST])


class ProjectPageJSONTests(ReleaseServerTestCase):
    PAGE = "/alice/dev/+simple/hello-pkg/"

    def page(self) -> Any:
        reply = self.get(self.PAGE, PIP_ACCEPT)
        self.assertEqual(reply.code, 200, reply)
        self.assertEqual(reply.header("content-type"), SIMPLE_JSON)
        return reply.json

    def test_pep_691_and_700_shape(self) -> None:
        relpath = self.add(SDIST, b"sdist bytes", requires_python=">=3.8")
        self.add("hello_pkg-2.0.tar.gz", version="2.0")
        data = self.page()
        self.assertEqual(data["meta"], {"api-version": "1.1"})
        self.assertEqual(data["name"], "hello-pkg")
        self.assertEqual(data["versions"], ["1.0", "2.0"])
        sdist = {f["filename"]: f for f in data["files"]}[SDIST]
        self.assertEqual(
            sdist,
            {
                "filename": SDIST,
                "url": f"../../../../{relpath}",
                "hashes": {"sha256": self.sha256(relpath)},
                "requires-python": ">=3.8",
                "size": len(b"sdist bytes"),
                "upload-time": "2027-01-15T08:00:00.000000Z",
            },
        )

    def test_upload_time_is_pep_700_format(self) -> None:
        self.add()
        [entry] = self.page()["files"]
        self.assertRegex(entry["upload-time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")

    def test_urls_resolve_to_the_files(self) -> None:
        self.add(SDIST, b"sdist bytes")
        [entry] = self.page()["files"]
        self.assertNotIn("#", entry["url"])
        reply = self.follow(self.PAGE, entry["url"])
        self.assertEqual(reply.body, b"sdist bytes")

    def test_yanked(self) -> None:
        self.add(SDIST)
        self.add("hello_pkg-2.0.tar.gz", version="2.0")
        self.add("hello_pkg-3.0.tar.gz", version="3.0")
        self.yank(True, "1.0")
        self.yank("bad build", "2.0")
        files = {f["filename"]: f for f in self.page()["files"]}
        self.assertIs(files[SDIST]["yanked"], True)
        self.assertEqual(files["hello_pkg-2.0.tar.gz"]["yanked"], "bad build")
        self.assertNotIn("yanked", files["hello_pkg-3.0.tar.gz"])

    def test_compact_json(self) -> None:
        self.add()
        body = self.get(self.PAGE, SIMPLE_JSON).body
        self.assertNotIn(b"\n", body.strip())
        self.assertTrue(body.startswith(b'{"meta":'), body)


class NegotiationTests(ReleaseServerTestCase):
    """Content types, Vary and 406 on project pages and project lists."""

    PAGES = ("/alice/dev/+simple/hello-pkg/", "/alice/dev/+simple/")

    def setUp(self) -> None:
        super().setUp()
        self.add()

    def test_no_accept_gets_text_html(self) -> None:
        for page in self.PAGES:
            reply = self.get(page)
            self.assertEqual(reply.code, 200, reply)
            self.assertEqual(reply.header("content-type"), TEXT_HTML)

    def test_browser_gets_text_html(self) -> None:
        for page in self.PAGES:
            self.assertEqual(self.get(page, BROWSER_ACCEPT).header("content-type"), TEXT_HTML)

    def test_pip_and_uv_get_json(self) -> None:
        for page in self.PAGES:
            for accept in (PIP_ACCEPT, UV_ACCEPT, "application/vnd.pypi.simple.latest+json"):
                reply = self.get(page, accept)
                self.assertEqual(reply.header("content-type"), SIMPLE_JSON, (page, accept))
                self.assertEqual(reply.json["meta"]["api-version"], "1.1")

    def test_v1_html_content_type(self) -> None:
        for page in self.PAGES:
            reply = self.get(page, SIMPLE_HTML)
            self.assertEqual(reply.code, 200, reply)
            self.assertEqual(reply.header("content-type"), SIMPLE_HTML)
            self.assertEqual(reply.body, self.get(page).body)

    def test_vary(self) -> None:
        for page in self.PAGES:
            for accept in (None, PIP_ACCEPT):
                # the second request is answered from the page cache
                for _ in range(2):
                    vary = self.get(page, accept).header("vary") or ""
                    self.assertEqual(
                        {part.strip().lower() for part in vary.split(",")},
                        {"accept", "user-agent"},
                    )

    def test_nothing_acceptable_gets_html_as_devpi_answers(self) -> None:
        for page in self.PAGES:
            for accept in ("application/json", "image/png", "text/html;q=0"):
                reply = self.get(page, accept)
                self.assertEqual(reply.code, 200, (page, accept, reply))
                self.assertEqual(reply.header("content-type"), "text/html; charset=utf-8")

    def test_html_default_also_when_the_page_is_cached(self) -> None:
        page = self.PAGES[0]
        self.assertEqual(self.get(page).code, 200)
        reply = self.get(page, "image/png")
        self.assertEqual((reply.code, reply.header("content-type")), (200, "text/html; charset=utf-8"))


class ConditionalGetTests(ReleaseServerTestCase):
    PAGE = "/alice/dev/+simple/hello-pkg/"

    def setUp(self) -> None:
        super().setUp()
        self.add()

    def test_etag_then_304_with_empty_body(self) -> None:
        first = self.get(self.PAGE)
        etag = first.header("etag")
        assert etag is not None
        self.assertRegex(etag, r'^"[^"]+"$')
        reply = self.get(self.PAGE, If_None_Match=etag)
        self.assertEqual(reply.code, 304)
        self.assertEqual(reply.body, b"")
        self.assertEqual(reply.header("etag"), etag)

    def test_one_of_several_tags(self) -> None:
        etag = self.get(self.PAGE).header("etag")
        reply = self.get(self.PAGE, If_None_Match=f'"other", {etag}')
        self.assertEqual(reply.code, 304)

    def test_other_tag_gets_the_page(self) -> None:
        first = self.get(self.PAGE)
        reply = self.get(self.PAGE, If_None_Match='"not-the-page"')
        self.assertEqual(reply.code, 200)
        self.assertEqual(reply.body, first.body)

    def test_json_and_html_have_different_tags(self) -> None:
        html = self.get(self.PAGE).header("etag")
        json = self.get(self.PAGE, SIMPLE_JSON).header("etag")
        self.assertNotEqual(html, json)
        self.assertEqual(self.get(self.PAGE, SIMPLE_JSON, If_None_Match=str(html)).code, 200)

    def test_cached_reply_is_the_rendered_reply(self) -> None:
        for page in (self.PAGE, "/alice/dev/+simple/"):
            first, second = self.get(page, PIP_ACCEPT), self.get(page, PIP_ACCEPT)
            self.assertEqual(second.body, first.body)
            for name in ("etag", "content-type", "vary"):
                self.assertEqual(second.header(name), first.header(name), name)

    def test_304_has_no_content_length(self) -> None:
        # RFC 9110 8.6: a 304 may only carry the length the 200 would have had
        site = Site(make_resource(self.server.ctx), timeout=None)

        def raw_get(extra: bytes = b"") -> bytes:
            channel = site.buildProtocol(None)
            transport = StringTransport()
            channel.makeConnection(transport)
            request = b"GET " + self.PAGE.encode() + b" HTTP/1.1\r\nHost: x\r\n"
            channel.dataReceived(request + extra + b"\r\n")
            return bytes(transport.value())

        head = raw_get().split(b"\r\n\r\n")[0]
        etag = re.search(rb"(?im)^etag: ([^\r\n]*)", head).group(1)  # type: ignore[union-attr]
        # the first conditional GET is rendered, the next ones come from the page cache
        for _ in range(3):
            reply = raw_get(b"If-None-Match: " + etag + b"\r\n")
            self.assertTrue(reply.startswith(b"HTTP/1.1 304 "), reply)
            self.assertNotIn(b"content-length", reply.lower())
            self.assertTrue(reply.endswith(b"\r\n\r\n"), reply)

    def test_list_page_304(self) -> None:
        etag = self.get("/alice/dev/+simple/").header("etag")
        self.assertEqual(self.get("/alice/dev/+simple/", If_None_Match=str(etag)).code, 304)


class CacheInvalidationTests(ReleaseServerTestCase):
    """Render once, serve many: commits to any index of the chain drop the pages."""

    PAGE = "/alice/child/+simple/hello-pkg/"

    def setUp(self) -> None:
        super().setUp()
        self.make_index("alice/child", bases=["alice/dev"])
        self.add(SDIST, index="alice/dev")

    def files(self, page: str = PAGE) -> list[str]:
        return [a.text for a in anchors(self.get(page).body)]

    def test_upload_on_the_base_changes_the_child_page(self) -> None:
        before = self.get(self.PAGE)
        self.get(self.PAGE)  # now served from the cache
        self.add("hello_pkg-2.0.tar.gz", version="2.0", index="alice/dev")
        after = self.get(self.PAGE)
        self.assertEqual(after.code, 200)
        self.assertEqual([a.text for a in anchors(after.body)], ["hello_pkg-2.0.tar.gz", SDIST])
        self.assertNotEqual(after.header("etag"), before.header("etag"))
        self.assertEqual(self.get(self.PAGE, If_None_Match=str(before.header("etag"))).code, 200)

    def test_upload_on_the_base_changes_the_child_json(self) -> None:
        self.get(self.PAGE, PIP_ACCEPT)
        self.get(self.PAGE, PIP_ACCEPT)
        self.add("hello_pkg-2.0.tar.gz", version="2.0", index="alice/dev")
        self.assertEqual(self.get(self.PAGE, PIP_ACCEPT).json["versions"], ["1.0", "2.0"])

    def test_new_project_on_the_base_changes_the_child_list(self) -> None:
        self.get("/alice/child/+simple/")
        self.add("other-1.0.tar.gz", name="other", index="alice/dev")
        texts = [a.text for a in anchors(self.get("/alice/child/+simple/").body)]
        self.assertEqual(texts, ["hello-pkg", "other"])

    def test_yank_changes_the_page(self) -> None:
        self.get(self.PAGE)
        self.yank(True)
        [anchor] = anchors(self.get(self.PAGE).body)
        self.assertIn("data-yanked", anchor.attrs)

    def test_deleted_file_leaves_the_page(self) -> None:
        self.add("hello_pkg-2.0.tar.gz", version="2.0", index="alice/dev")
        self.get(self.PAGE)
        [sdist] = [a for a in anchors(self.get(self.PAGE).body) if a.text == SDIST]
        path = urlsplit(urljoin(HOST + self.PAGE, urldefrag(sdist.href)[0])).path
        reply = self.server.request("DELETE", path, headers=self.alice)
        self.assertEqual(reply.code, 200, reply)
        self.assertEqual(self.files(), ["hello_pkg-2.0.tar.gz"])

    def test_changed_bases_change_the_pages(self) -> None:
        self.make_index("alice/other")
        self.add("hello_pkg-3.0.tar.gz", version="3.0", index="alice/other")
        self.assertEqual(self.files(), [SDIST])
        reply = self.server.request(
            "PATCH", "/alice/child", ["bases+=alice/other"], headers=self.alice
        )
        self.assertEqual(reply.code, 200, reply)
        self.assertEqual(self.files(), ["hello_pkg-3.0.tar.gz", SDIST])

    def test_unrelated_commit_keeps_the_etag(self) -> None:
        etag = self.get(self.PAGE).header("etag")
        self.add("other-1.0.tar.gz", name="other", index="alice/dev")
        self.assertEqual(self.get(self.PAGE, If_None_Match=str(etag)).code, 304)


class ProjectNameTests(ReleaseServerTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.add()

    def test_non_normalized_name_redirects(self) -> None:
        for spelling in ("Hello_Pkg", "hello.pkg", "HELLO-PKG"):
            reply = self.get(f"/alice/dev/+simple/{spelling}/")
            self.assertEqual(reply.code, 302, reply)
            self.assertEqual(reply.header("location"), f"{HOST}/alice/dev/+simple/hello-pkg/")

    def test_unknown_project(self) -> None:
        reply = self.get("/alice/dev/+simple/nope/")
        self.assertEqual(reply.code, 404)
        self.assertIn(b"The project nope does not exist.", reply.body)

    def test_unknown_project_as_json(self) -> None:
        reply = self.server.request(
            "GET",
            "/alice/dev/+simple/nope/",
            headers={"Accept": f"application/json, {SIMPLE_JSON}"},
            accept_json=False,
        )
        self.assertEqual(reply.code, 404)
        self.assertEqual(reply.json, {"message": "The project nope does not exist."})

    def test_non_ascii_name(self) -> None:
        reply = self.get("/alice/dev/+simple/h%C3%A9llo/")
        self.assertEqual(reply.code, 400)
        self.assertIn(b"unicode project names not allowed", reply.body)

    def test_unknown_index(self) -> None:
        self.assertEqual(self.get("/alice/nope/+simple/hello-pkg/").code, 404)
        self.assertEqual(self.get("/alice/nope/+simple/").code, 404)

    def test_project_becomes_visible_after_a_404(self) -> None:
        self.assertEqual(self.get("/alice/dev/+simple/late/").code, 404)
        self.add("late-1.0.tar.gz", name="late")
        self.assertEqual(self.get("/alice/dev/+simple/late/").code, 200)


class ProjectListTests(ReleaseServerTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.make_index("alice/child", bases=["alice/dev"])
        self.add("hello_pkg-1.0.tar.gz", index="alice/dev")
        self.add("zed-1.0.tar.gz", name="zed", index="alice/dev")
        self.add("own-1.0.tar.gz", name="own", index="alice/child")
        self.add("zed-2.0.tar.gz", name="zed", version="2.0", index="alice/child")

    def test_merges_bases_own_first_each_name_once(self) -> None:
        texts = [a.text for a in anchors(self.get("/alice/child/+simple/").body)]
        self.assertEqual(texts, ["own", "zed", "hello-pkg"])

    def test_links_resolve_to_the_project_pages(self) -> None:
        page = "/alice/child/+simple/"
        for anchor in anchors(self.get(page).body):
            self.assertEqual(anchor.href, f"{anchor.text}/")
            reply = self.follow(page, anchor.href)
            self.assertEqual(reply.code, 200, reply)
            self.assertIn(f"links for {anchor.text}".encode(), reply.body)

    def test_json(self) -> None:
        reply = self.get("/alice/child/+simple/", SIMPLE_JSON)
        self.assertEqual(reply.header("content-type"), SIMPLE_JSON)
        self.assertEqual(
            reply.json,
            {
                "meta": {"api-version": "1.1"},
                "projects": [{"name": "own"}, {"name": "zed"}, {"name": "hello-pkg"}],
            },
        )

    def test_repository_version_meta(self) -> None:
        parsed = parse_html(self.get("/alice/child/+simple/").body)
        self.assertEqual(parsed.meta["pypi:repository-version"], "1.1")

    def test_empty_index(self) -> None:
        self.make_index("alice/empty")
        reply = self.get("/alice/empty/+simple/")
        self.assertEqual(reply.code, 200)
        self.assertEqual(anchors(reply.body), [])
        self.assertEqual(self.get("/alice/empty/+simple/", SIMPLE_JSON).json["projects"], [])

    def test_without_slash_redirects_browsers(self) -> None:
        reply = self.get("/alice/dev/+simple", BROWSER_ACCEPT)
        self.assertEqual(reply.code, 302)
        self.assertEqual(reply.header("location"), f"{HOST}/alice/dev/+simple/")
        self.assertIn("user-agent", (reply.header("vary") or "").lower())

    def test_without_slash_serves_pip(self) -> None:
        page = "/alice/child/+simple"
        reply = self.get(page, user_agent=PIP_UA)
        self.assertEqual(reply.code, 200, reply)
        found = anchors(reply.body)
        self.assertEqual([a.text for a in found], ["own", "zed", "hello-pkg"])
        for anchor in found:
            project = self.follow(page, anchor.href, User_Agent=PIP_UA)
            self.assertEqual(project.code, 200, (anchor.href, project))
            self.assertIn(f"links for {anchor.text}".encode(), project.body)

    def test_project_without_slash_redirects_browsers_and_serves_pip(self) -> None:
        reply = self.get("/alice/dev/+simple/hello-pkg", BROWSER_ACCEPT)
        self.assertEqual(reply.code, 302)
        self.assertEqual(reply.header("location"), f"{HOST}/alice/dev/+simple/hello-pkg/")
        page = "/alice/dev/+simple/hello-pkg"
        reply = self.get(page, user_agent=PIP_UA)
        self.assertEqual(reply.code, 200)
        [anchor] = anchors(reply.body)
        self.assertEqual(self.follow(page, anchor.href).code, 200)


class IndexRootTests(ReleaseServerTestCase):
    """The simple API at C{/{user}/{index}/} for installers (C{pip install -i .../alice/dev/})."""

    def setUp(self) -> None:
        super().setUp()
        self.relpath = self.add(SDIST, b"sdist bytes")

    def test_pip_user_agent_gets_the_project_list(self) -> None:
        reply = self.get("/alice/dev/", user_agent=PIP_UA)
        self.assertEqual(reply.code, 200, reply)
        [anchor] = anchors(reply.body)
        self.assertEqual(urljoin(HOST + "/alice/dev/", anchor.href), f"{HOST}/alice/dev/hello-pkg/")

    def test_simple_html_accept_gets_the_project_list(self) -> None:
        reply = self.get("/alice/dev/", SIMPLE_HTML)
        self.assertEqual(reply.header("content-type"), SIMPLE_HTML)
        [anchor] = anchors(reply.body)
        self.assertEqual(urljoin(HOST + "/alice/dev/", anchor.href), f"{HOST}/alice/dev/hello-pkg/")

    def test_simple_accept_gets_the_project_list(self) -> None:
        reply = self.get("/alice/dev/", UV_ACCEPT)
        self.assertEqual(reply.header("content-type"), SIMPLE_JSON)
        self.assertEqual(reply.json["projects"], [{"name": "hello-pkg"}])

    def test_without_slash_links_still_reach_the_projects(self) -> None:
        reply = self.get("/alice/dev", user_agent=PIP_UA)
        self.assertEqual(reply.code, 200, reply)
        [anchor] = anchors(reply.body)
        self.assertEqual(urljoin(HOST + "/alice/dev", anchor.href), f"{HOST}/alice/dev/hello-pkg/")

    def test_others_get_the_index_config(self) -> None:
        reply = self.server.request("GET", "/alice/dev/")
        self.assertEqual(reply.json["type"], "indexconfig")
        self.assertEqual(reply.json["result"]["projects"], ["hello-pkg"])

    def test_project_page_for_uv(self) -> None:
        page = "/alice/dev/hello-pkg/"
        reply = self.get(page, UV_ACCEPT)
        self.assertEqual(reply.code, 200, reply)
        self.assertEqual(reply.header("content-type"), SIMPLE_JSON)
        [entry] = reply.json["files"]
        self.assertEqual(entry["url"], f"../../../{self.relpath}")
        self.assertEqual(self.follow(page, entry["url"]).body, b"sdist bytes")

    def test_project_page_for_pip(self) -> None:
        page = "/alice/dev/hello-pkg/"
        reply = self.get(page, user_agent=PIP_UA)
        self.assertEqual(reply.header("content-type"), TEXT_HTML)
        [anchor] = anchors(reply.body)
        self.assertEqual(self.follow(page, anchor.href).body, b"sdist bytes")

    def test_project_page_without_slash_has_absolute_links(self) -> None:
        reply = self.get("/alice/dev/hello-pkg", user_agent=PIP_UA)
        self.assertEqual(reply.code, 200, reply)
        [anchor] = anchors(reply.body)
        self.assertEqual(urldefrag(anchor.href)[0], f"{HOST}/{self.relpath}")

    def test_followed_list_link_gives_the_project_page(self) -> None:
        [anchor] = anchors(self.get("/alice/dev/", user_agent=PIP_UA).body)
        reply = self.follow("/alice/dev/", anchor.href, User_Agent=PIP_UA)
        self.assertEqual(reply.code, 200, reply)
        [link] = anchors(reply.body)
        self.assertEqual(link.text, SDIST)


class AbsoluteUrlTests(ReleaseServerTestCase):
    """C{X-Devpi-Absolute-Urls}: the same targets, as absolute URLs."""

    def setUp(self) -> None:
        super().setUp()
        self.relpath = self.add(SDIST, b"sdist bytes")

    def test_project_page_html(self) -> None:
        reply = self.get("/alice/dev/+simple/hello-pkg/", X_Devpi_Absolute_Urls="1")
        [anchor] = anchors(reply.body)
        self.assertEqual(
            anchor.href, f"{HOST}/{self.relpath}#sha256={self.sha256(self.relpath)}"
        )

    def test_project_page_json(self) -> None:
        reply = self.get("/alice/dev/+simple/hello-pkg/", SIMPLE_JSON, X_Devpi_Absolute_Urls="")
        self.assertEqual(reply.json["files"][0]["url"], f"{HOST}/{self.relpath}")

    def test_outside_url_is_used(self) -> None:
        reply = self.get(
            "/alice/dev/+simple/hello-pkg/",
            X_Devpi_Absolute_Urls="1",
            X_Outside_Url="https://pypi.example/devpi",
        )
        [anchor] = anchors(reply.body)
        self.assertTrue(anchor.href.startswith(f"https://pypi.example/devpi/{self.relpath}#"))

    def test_relative_page_unaffected(self) -> None:
        self.get("/alice/dev/+simple/hello-pkg/", X_Devpi_Absolute_Urls="1")
        [anchor] = anchors(self.get("/alice/dev/+simple/hello-pkg/").body)
        self.assertTrue(anchor.href.startswith("../"), anchor.href)

    def test_project_list_links_point_where_relative_ones_do(self) -> None:
        for page in ("/alice/dev/+simple/", "/alice/dev/"):
            headers = {"User_Agent": PIP_UA}
            [relative] = anchors(self.get(page, **headers).body)
            [absolute] = anchors(self.get(page, X_Devpi_Absolute_Urls="1", **headers).body)
            self.assertTrue(absolute.href.startswith(HOST + "/"), absolute.href)
            self.assertEqual(absolute.href, urljoin(HOST + page, relative.href), page)

    def test_browser_follows_an_absolute_list_link_to_the_links_page(self) -> None:
        page = "/alice/dev/+simple/"
        [anchor] = anchors(self.get(page, BROWSER_ACCEPT, X_Devpi_Absolute_Urls="1").body)
        reply = self.follow(page, anchor.href, accept=BROWSER_ACCEPT)
        self.assertEqual(reply.code, 200, reply)
        self.assertIn(b"links for hello-pkg", reply.body)


class InheritanceTests(ReleaseServerTestCase):
    """alice/child -> alice/parent -> alice/dev (the grandparent)."""

    PAGE = "/alice/child/+simple/hello-pkg/"

    def setUp(self) -> None:
        super().setUp()
        self.make_index("alice/parent", bases=["alice/dev"])
        self.make_index("alice/child", bases=["alice/parent"])
        self.grandparent = self.add("hello_pkg-1.0.tar.gz", version="1.0", index="alice/dev")
        self.parent = self.add("hello_pkg-2.0.tar.gz", version="2.0", index="alice/parent")
        self.child = self.add("hello_pkg-3.0.tar.gz", version="3.0", index="alice/child")

    def test_child_sees_every_level_own_first(self) -> None:
        body = self.get(self.PAGE).body
        found = [(a.text, urljoin(HOST + self.PAGE, urldefrag(a.href)[0])) for a in anchors(body)]
        self.assertEqual(
            found,
            [
                ("hello_pkg-3.0.tar.gz", f"{HOST}/{self.child}"),
                ("hello_pkg-2.0.tar.gz", f"{HOST}/{self.parent}"),
                ("hello_pkg-1.0.tar.gz", f"{HOST}/{self.grandparent}"),
            ],
        )
        self.assertIn(b"alice/child <a", body)
        self.assertIn(b"alice/dev <a", body)

    def test_inherited_links_download(self) -> None:
        for anchor in anchors(self.get(self.PAGE).body):
            self.assertEqual(self.follow(self.PAGE, anchor.href).code, 200, anchor.href)

    def test_same_file_name_listed_once_the_childs(self) -> None:
        mine = self.add("hello_pkg-1.0.tar.gz", b"child's own bytes", index="alice/child")
        found = [a for a in anchors(self.get(self.PAGE).body) if a.text == "hello_pkg-1.0.tar.gz"]
        self.assertEqual(len(found), 1)
        self.assertEqual(urljoin(HOST + self.PAGE, urldefrag(found[0].href)[0]), f"{HOST}/{mine}")
        self.assertEqual(self.follow(self.PAGE, found[0].href).body, b"child's own bytes")

    def test_json_versions_from_every_level(self) -> None:
        data = self.get(self.PAGE, SIMPLE_JSON).json
        self.assertEqual(data["versions"], ["1.0", "2.0", "3.0"])
        self.assertEqual(len(data["files"]), 3)

    def test_project_only_on_the_grandparent(self) -> None:
        self.add("deep-1.0.tar.gz", name="deep", index="alice/dev")
        reply = self.get("/alice/child/+simple/deep/")
        self.assertEqual(reply.code, 200)
        self.assertEqual([a.text for a in anchors(reply.body)], ["deep-1.0.tar.gz"])

    def test_parent_does_not_see_the_child(self) -> None:
        texts = [a.text for a in anchors(self.get("/alice/parent/+simple/hello-pkg/").body)]
        self.assertEqual(texts, ["hello_pkg-2.0.tar.gz", "hello_pkg-1.0.tar.gz"])

    def test_deleted_base_is_skipped(self) -> None:
        self.get(self.PAGE)
        self.add("only_parent-1.0.tar.gz", name="only-parent", index="alice/parent")
        reply = self.server.request("DELETE", "/alice/parent", headers=self.alice)
        self.assertEqual(reply.code, 201, reply)
        with capturedLogs() as events:
            reply = self.get(self.PAGE)
        self.assertEqual(reply.code, 200, reply)
        # the grandparent was reached through the deleted parent only
        self.assertEqual([a.text for a in anchors(reply.body)], ["hello_pkg-3.0.tar.gz"])
        self.assertTrue(
            any("alice/parent" in str(event.get("base")) for event in events), events
        )
        self.assertEqual(self.get("/alice/child/+simple/").code, 200)
        self.assertEqual(self.get("/alice/child/+simple/only-parent/").code, 404)

    def test_hidden_mirror_is_told(self) -> None:
        reply = self.server.request("PATCH", "/alice/dev", ["bases+=root/pypi"], headers=self.alice)
        self.assertEqual(reply.code, 200, reply)
        body = self.get(self.PAGE).body
        self.assertIn(
            b"<p><strong>INFO:</strong> Because this project isn't in the "
            b"<code>mirror_whitelist</code>, no releases from <strong>root/pypi</strong> "
            b"are included.</p>",
            body,
        )
        self.assertEqual(len(anchors(body)), 3)

    def test_whitelisted_project_has_no_note(self) -> None:
        self.server.request("PATCH", "/alice/dev", ["bases+=root/pypi"], headers=self.alice)
        reply = self.server.request(
            "PATCH", "/alice/child", ["mirror_whitelist+=hello-pkg"], headers=self.alice
        )
        self.assertEqual(reply.code, 200, reply)
        self.assertNotIn(b"INFO", self.get(self.PAGE).body)
        self.assertIn(b"INFO", self.get("/alice/parent/+simple/hello-pkg/").body)

    def test_deleted_base_json(self) -> None:
        self.server.request("DELETE", "/alice/parent", headers=self.alice)
        reply = self.get(self.PAGE, SIMPLE_JSON)
        self.assertEqual(reply.code, 200, reply)
        self.assertEqual(reply.json["versions"], ["3.0"])
