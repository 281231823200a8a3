"""The browser UI in memory: pages at devpi-web's URLs, their content, caching, and search."""

from __future__ import annotations

import json
import os
import re
from typing import Any

from devpi_twisted.model import mirrors, releases
from devpi_twisted.web.ui.routes import STYLE_PATH
from tests.support import Reply
from tests.web.test_projects import PROJECT, doc_zip
from tests.web.test_simple import BROWSER_ACCEPT, HOST, SDIST, WHEEL, ReleaseServerTestCase

REPORT = {
    "reportversion": "1",
    "host": "ci-runner-7",
    "platform": "linux",
    "testenvs": {
        "py311": {
            "python": {"version": "3.11.4 (main) [GCC 12]"},
            "setup": [{"command": ["pip", "install", "hello-pkg"], "retcode": "0", "output": "ok"}],
            "test": [{"command": ["pytest"], "retcode": "1", "output": "1 failed <b>boom</b>"}],
        }
    },
}
DESCRIPTION = "# Hello\n\nSome *markdown* <script>alert('x')</script>\n\n[link](https://example.org/)"


class UiTestCase(ReleaseServerTestCase):
    def page(self, path: str, **headers: str) -> Reply:
        return self.server.request("GET", path, headers={"Accept": BROWSER_ACCEPT, **headers}, accept_json=False)

    def text(self, path: str) -> str:
        reply = self.page(path)
        self.assertEqual(reply.code, 200, reply)
        self.assertEqual(reply.header("content-type"), "text/html; charset=utf-8")
        return reply.body.decode()

    def register(self, version: str, **metadata: Any) -> None:
        self.server.store.transact_now(
            lambda txn: releases.register_version(
                txn, "alice", "dev", {"name": "hello-pkg", "version": version, **metadata}
            )
        )


class PageTests(UiTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.sdist = self.add(SDIST, b"sdist bytes")
        self.wheel = self.add(WHEEL, b"wheel bytes!")
        self.register(
            "1.0",
            summary="Says hello",
            description=DESCRIPTION,
            description_content_type="text/markdown; variant=GFM",
            author="Alice <script>",
            classifiers=["Programming Language :: Python :: 3"],
        )

    def test_root_links_users_and_indexes(self) -> None:
        body = self.text("/")
        self.assertIn("<!DOCTYPE html>", body)
        self.assertIn(f'<a href="{HOST}/alice/dev">alice/dev</a>', body)
        self.assertIn(f'<a href="{HOST}/root/pypi">root/pypi</a>', body)
        self.assertIn('name="query"', body)
        self.assertIn('title="server status">ok</span>', body)

    def test_index_lists_latest_packages_and_settings(self) -> None:
        self.make_index("alice/child", bases=["alice/dev"], mirror_whitelist=["hello-pkg"])
        body = self.text("/alice/child")
        self.assertIn(f'<a href="{HOST}/alice/dev">alice/dev</a>', body)
        self.assertIn("<code>hello-pkg</code>", body)  # the whitelist
        self.assertIn("<code>alice</code>", body)  # who may upload
        body = self.text("/alice/dev/")
        self.assertIn(f'<a href="{HOST}{PROJECT}/1.0">1.0</a>', body)
        self.assertIn("Says hello", body)

    def test_project_shows_versions_with_their_index(self) -> None:
        self.make_index("alice/child", bases=["alice/dev"])
        self.add("hello_pkg-2.0.tar.gz", b"child 2.0", index="alice/child", version="2.0")
        body = self.text("/alice/child/hello-pkg")
        versions = re.findall(r'href="[^"]*/alice/child/hello-pkg/([^"/]+)">', body)
        self.assertEqual(versions, ["2.0", "1.0"])
        self.assertIn(f'<a href="{HOST}/alice/dev">alice/dev</a>', body)  # where 1.0 is from
        self.assertIn(f'href="{HOST}/alice/child/+simple/hello-pkg/"', body)

    def test_version_page_metadata_and_files(self) -> None:
        body = self.text(PROJECT + "/1.0")
        self.assertIn("<dt>Summary</dt><dd>Says hello</dd>", body)
        self.assertIn("Alice &lt;script&gt;", body)
        self.assertNotIn("<dt>Home page</dt>", body)  # empty metadata is left out
        self.assertIn("Programming Language :: Python :: 3", body)
        self.assertIn(f'href="{HOST}/{self.wheel}">{WHEEL}</a>', body)
        self.assertIn("12 bytes", body)
        self.assertIn('<td class="opt">bdist_wheel</td><td class="opt">py3</td>', body)
        self.assertIn('<td class="opt">sdist</td><td class="opt">source</td>', body)
        self.assertIn("by alice", body)

    def test_description_is_rendered_and_sanitised(self) -> None:
        body = self.text(PROJECT + "/1.0")
        self.assertIn("<em>markdown</em>", body)
        self.assertIn('href="https://example.org/"', body)
        self.assertNotIn("<script>alert", body)

    def test_rst_description_is_the_default(self) -> None:
        self.register("1.0", description="Title\n=====\n\n* **bold** item\n")
        body = self.text(PROJECT + "/1.0")
        self.assertIn("<strong>bold</strong>", body)

    def test_newer_version_and_yanked_reason(self) -> None:
        self.add("hello_pkg-2.0.tar.gz", b"2.0", version="2.0")
        self.yank("broken build")
        body = self.text(PROJECT + "/1.0")
        self.assertIn(f'A newer version is available: <a href="{HOST}{PROJECT}/2.0">2.0</a>', body)
        self.assertIn("This version is yanked.</strong> Reason: broken build", body)
        self.assertIn("yanked: broken build", self.text(PROJECT))
        self.assertNotIn("newer version", self.text(PROJECT + "/2.0"))

    def test_toxresults_marked_and_shown(self) -> None:
        reply = self.server.request("POST", "/" + self.sdist, json_body=REPORT)
        self.assertEqual(reply.code, 200, reply)
        body = self.text(PROJECT + "/1.0")
        [href] = re.findall(r'href="([^"]*/\+toxresults/[^"]*)"', body)
        self.assertIn('<span class="bad">failed</span> py311', body)
        page = self.text(href[len(HOST):])
        self.assertIn("ci-runner-7", page)
        self.assertIn("(Python 3.11.4)", page)
        self.assertIn("<code>pytest</code>", page)
        self.assertIn("exit 1", page)
        self.assertIn("1 failed &lt;b&gt;boom&lt;/b&gt;", page)

    def test_docs_in_the_frame(self) -> None:
        self.upload_doc(doc_zip(self.mktemp(), {"index.html": b"<p>docs</p>", "api.html": b"api"}))
        body = self.text(PROJECT + "/1.0")
        self.assertIn(f'href="{HOST}{PROJECT}/1.0/+d/index.html">Documentation</a>', body)
        frame = self.text(PROJECT + "/1.0/+d/api.html")
        self.assertIn(f'<iframe src="{HOST}{PROJECT}/1.0/+doc/api.html"', frame)
        self.assertEqual(self.page(PROJECT + "/1.0/+doc/api.html").body, b"api")
        self.assertEqual(self.page(PROJECT + "/9.9/+d/index.html").code, 404)

    def test_docs_of_an_older_version_point_to_the_latest(self) -> None:
        self.upload_doc(doc_zip(self.mktemp(), {"index.html": b"one"}))
        self.add("hello_pkg-2.0.tar.gz", b"2.0", version="2.0")
        self.upload_doc(doc_zip(self.mktemp(), {"index.html": b"two"}), version="2.0")
        frame = self.text(PROJECT + "/1.0/+d/index.html")
        self.assertIn(f'href="{HOST}{PROJECT}/2.0/+d/index.html">latest documentation</a>', frame)

    def test_missing_pages_are_404_pages_in_the_frame(self) -> None:
        for path in ("/alice/nope", PROJECT + "/9.9", "/alice/dev/nothing"):
            reply = self.page(path)
            self.assertEqual(reply.code, 404, path)
            self.assertIn(b"404 Not Found", reply.body)
            self.assertIn(b'name="query"', reply.body)

    def test_non_normalized_project_redirects(self) -> None:
        reply = self.page("/alice/dev/Hello_Pkg/1.0")
        self.assertEqual(reply.code, 302)
        self.assertEqual(reply.header("location"), f"{HOST}{PROJECT}/1.0")

    def test_status_page(self) -> None:
        body = self.text("/+status")
        self.assertIn("<dt>Role</dt><dd>standalone</dd>", body)
        self.assertIn(f"<dt>Serial</dt><dd>{self.server.store.serial}</dd>", body)
        self.assertIn(" UTC (", body)

    def test_outside_url_header(self) -> None:
        body = self.page(PROJECT + "/1.0", **{"X-Outside-Url": "https://example.com/pkgs"}).body.decode()
        self.assertIn('href="https://example.com/pkgs/alice/dev/hello-pkg"', body)
        self.assertIn(f'href="https://example.com/pkgs/{self.wheel}"', body)
        self.assertIn(f'href="https://example.com/pkgs{STYLE_PATH}"', body)


class NegotiationTests(UiTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.add(SDIST, b"sdist bytes")

    def test_json_clients_keep_json(self) -> None:
        for path in ("/alice/dev", PROJECT, PROJECT + "/1.0", "/+status"):
            reply = self.server.request("GET", path)
            self.assertEqual(reply.header("content-type"), "application/json", path)
            json.loads(reply.body)

    def test_installers_get_the_simple_page(self) -> None:
        reply = self.server.request(
            "GET", PROJECT + "/", headers={"User-Agent": "pip/24.0", "Accept": "text/html"}, accept_json=False
        )
        self.assertEqual(reply.code, 200)
        self.assertIn(SDIST.encode(), reply.body)
        self.assertNotIn(b'name="query"', reply.body)

    def test_pages_have_etags_and_answer_304(self) -> None:
        first = self.page(PROJECT + "/1.0")
        etag = first.header("etag")
        self.assertIsNotNone(etag)
        self.assertEqual(self.page(PROJECT + "/1.0", **{"If-None-Match": etag}).code, 304)
        self.add("hello_pkg-1.0-py3-none-any.whl", b"new")
        changed = self.page(PROJECT + "/1.0", **{"If-None-Match": etag})
        self.assertEqual(changed.code, 200)
        self.assertNotEqual(changed.header("etag"), etag)

    def test_stylesheet_is_immutable(self) -> None:
        reply = self.server.request("GET", STYLE_PATH, headers={"Accept": "text/css,*/*;q=0.1"}, accept_json=False)
        self.assertEqual(reply.code, 200)
        self.assertEqual(reply.header("cache-control"), "public, max-age=31536000, immutable")
        self.assertIn(b"prefers-color-scheme:dark", reply.body)
        self.assertEqual(self.server.request("GET", "/+static/0000/style.css").code, 404)


class MirrorPageTests(UiTestCase):
    def setUp(self) -> None:
        super().setUp()
        lists = os.path.join(self.server.info.serverdir, "+mirror-lists")
        os.makedirs(lists, exist_ok=True)
        self.names = [f"project-{i:05d}" for i in range(20000)]
        with open(os.path.join(lists, "root+pypi.json"), "w") as f:
            json.dump(self.names, f)

    def test_mirror_index_is_paginated_and_small(self) -> None:
        reply = self.page("/root/pypi")
        self.assertEqual(reply.code, 200)
        self.assertLess(len(reply.body), 100_000)
        self.assertIn(b"Projects (20000)", reply.body)
        self.assertIn(b"page 1 of 40", reply.body)
        second = self.page("/root/pypi?page=2").body
        self.assertIn(b"project-00500", second)
        self.assertNotIn(b"project-00499<", second)

    def test_mirror_project_with_upstream_link_and_cached_state(self) -> None:
        link = {"filename": "six-1.0.tar.gz", "url": "https://files.example/six-1.0.tar.gz", "hashes": {"sha256": "a" * 64}}
        self.server.store.transact_now(lambda txn: mirrors.store_page(txn, "root", "pypi", "six", [link], 7))
        body = self.text("/root/pypi/six")
        self.assertIn('href="https://pypi.org/project/six/">Upstream page</a>', body)
        self.assertIn("six-1.0.tar.gz", body)
        self.assertIn("not cached", body)

    def test_mirror_names_are_searched(self) -> None:
        self.page("/root/pypi")  # reads the list, which is then indexed
        body = self.text("/+search?query=project-00042")
        self.assertIn(f'href="{HOST}/root/pypi/project-00042"', body)
        self.assertIn("<mark>project-00042</mark>", body)


class SearchTests(UiTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.add(SDIST, b"sdist bytes")
        self.register("1.0", summary="Greets the world", keywords="greeting demo", description="A friendly framework.")

    def test_release_found_by_summary_with_highlight(self) -> None:
        body = self.text("/+search?query=greets")
        self.assertIn(f'href="{HOST}{PROJECT}"', body)
        self.assertIn("<mark>Greets</mark> the world", body)

    def test_description_snippet_and_fields(self) -> None:
        self.assertIn("<mark>framework</mark>", self.text("/+search?query=friendly+framework"))
        self.assertIn("No results", self.text("/+search?query=name%3Aframework"))
        self.assertIn(f'href="{HOST}{PROJECT}"', self.text("/+search?query=keywords%3Ademo"))

    def test_deleted_project_is_no_longer_found(self) -> None:
        self.server.store.transact_now(lambda txn: releases.delete_project(txn, "alice", "dev", "hello-pkg", False))
        self.assertIn("No results", self.text("/+search?query=greets"))

    def test_docs_are_searched(self) -> None:
        self.upload_doc(doc_zip(self.mktemp(), {"index.html": b"<p>Quantum teleportation guide</p>"}))
        self.assertIn("<mark>teleportation</mark>", self.text("/+search?query=teleportation"))

    def test_results_are_paginated(self) -> None:
        for i in range(25):
            self.add(f"greet{i}-1.0.tar.gz", b"x%d" % i, name=f"greet{i}")
        body = self.text("/+search?query=greet*")
        self.assertEqual(body.count('class="result"'), 20)
        self.assertIn("page 1 of 2", body)
        self.assertEqual(self.text("/+search?query=greet*&page=2").count('class="result"'), 6)

    def test_query_without_words_is_400(self) -> None:
        reply = self.page("/+search?query=%22%22")
        self.assertEqual(reply.code, 400)
        self.assertIn(b"no words to search for", reply.body)

    def test_help_page(self) -> None:
        self.assertIn("How to search", self.text("/+searchhelp"))

    def test_index_rebuilt_when_behind(self) -> None:
        self.server.search_index.clear_releases()
        self.server.search.stop()
        self.server.search.start()
        self.assertIn("<mark>Greets</mark>", self.text("/+search?query=greets"))
