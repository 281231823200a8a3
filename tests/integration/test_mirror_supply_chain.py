"""Supply-chain data relayed: PEP 740 provenance, PEP 792 status, PEP 700 sizes, PEP 708 tracks, from JSON and HTML upstreams."""

from __future__ import annotations

import os
from typing import Any

from tests.dists.archives import make_wheel

from tests.integration.mirror_support import HTML, JSON, ROOT, MirrorCase
from tests.mirror.fake_upstream import FakeFile
from tests.web.forms import digests, form_body, twine_fields

PROVENANCE = "https://integrity.example/hello-pkg/1.0/provenance"


class RelayTests(MirrorCase):
    """Each test runs against a PEP 691 JSON upstream and a plain PEP 503 HTML one."""

    async def setUp(self) -> None:
        await super().setUp()
        wheel = FakeFile(self.wheel.filename, self.wheel.data, provenance=PROVENANCE)
        self.sdist = FakeFile("hello_pkg-1.0.tar.gz", size=2000)
        self.upstream.add_project(
            "hello-pkg", [wheel, self.sdist], status="archived", status_reason="moved to hello2"
        )

    async def pages(self, index: str = "root/up") -> tuple[dict[str, Any], str]:
        page = await self.get(self.server, f"/{index}/+simple/hello-pkg/", JSON)
        self.assertEqual(page.code, 200, page)
        html = await self.get(self.server, f"/{index}/+simple/hello-pkg/", HTML)
        return page.json, html.body.decode()

    async def relayed(self, json_upstream: bool) -> None:
        self.upstream.serve_json = json_upstream
        self.server = await self.serve(mirror={})
        await self.make_index(self.server, "root/dev", {"bases": ["root/up"]})
        for index in ("root/up", "root/dev"):
            page, html = await self.pages(index)
            self.assertIn('<meta name="pypi:project-status" content="archived">', html)
            self.assertIn('<meta name="pypi:project-status-reason" content="moved to hello2">', html)
            self.assertIn(f'data-provenance="{PROVENANCE}"', html)
            self.assertIn('<meta name="pypi:repository-version" content="1.4">', html)
            self.assertIn(f'<meta name="pypi:tracks" content="{self.upstream.project_url("hello-pkg")}">', html)
            if json_upstream:
                self.assertEqual(page["meta"]["api-version"], "1.4")
                self.assertEqual(page["project-status"], {"status": "archived", "reason": "moved to hello2"})
                files = {f["filename"]: f for f in page["files"]}
                self.assertEqual(files[self.wheel.filename]["provenance"], PROVENANCE)
                self.assertEqual(files[self.sdist.filename]["size"], 2000)
                self.assertEqual(page["tracks"], [self.upstream.project_url("hello-pkg")])
            else:
                # no sizes from a PEP 503 upstream: the JSON page claims 1.0 and only its fields
                self.assertEqual(page["meta"]["api-version"], "1.0")
                self.assertFalse({"versions", "project-status", "tracks"} & page.keys())
                self.assertFalse(any({"size", "provenance"} & f.keys() for f in page["files"]))

    async def test_from_a_json_upstream(self) -> None:
        await self.relayed(json_upstream=True)

    async def test_from_an_html_upstream(self) -> None:
        await self.relayed(json_upstream=False)

    async def test_from_an_html_upstream_sizes_come_from_the_cached_files(self) -> None:
        self.upstream.serve_json = False
        self.server = await self.serve(mirror={})
        for file in (self.wheel, self.sdist):
            url = await self.file_url(self.server, "hello-pkg", file.filename)
            self.assertEqual((await self.get(self.server, url)).code, 200)
        page, _ = await self.pages()
        self.assertEqual(page["meta"]["api-version"], "1.4")
        self.assertEqual({f["size"] for f in page["files"]}, {self.wheel.length, 2000})
        self.assertEqual(page["project-status"]["status"], "archived")


class MergeTests(MirrorCase):
    """PEP 708 on a stage over a mirror: whitelisted merges say so, shadowing is visible."""

    async def test_whitelisted_merge_names_alternate_locations_a_refused_one_is_visible(self) -> None:
        server = await self.serve(mirror={})
        await self.make_index(server, "root/merged", {"bases": ["root/up"], "mirror_whitelist": ["hello-pkg"]})
        await self.make_index(
            server, "root/private", {"bases": ["root/up"], "mirror_whitelist": ["*"], "mirror_merge_named_only": True}
        )
        upstream_page = self.upstream.project_url("hello-pkg")
        path = make_wheel(self.mktemp(), "hello-pkg", "2.0")
        with open(path, "rb") as f:
            content = f.read()
        fields = {**twine_fields(path), **digests(content)}
        body, content_type = form_body(fields, {"content": (os.path.basename(path), content)})
        for index in ("root/merged", "root/private"):
            headers = {**ROOT, "Content-Type": content_type}
            reply = await server.request("POST", f"/{index}/", data=body, headers=headers)
            self.assertEqual(reply.code, 200, reply)
        merged = (await self.get(server, "/root/merged/+simple/hello-pkg/", JSON)).json
        self.assertEqual(merged["alternate-locations"], [upstream_page])
        self.assertNotIn("tracks", merged)
        self.assertEqual(len(merged["files"]), 2)
        private = (await self.get(server, "/root/private/+simple/hello-pkg/", JSON)).json
        self.assertEqual(private["_hidden-mirrors"], ["root/up"])
        self.assertFalse({"tracks", "alternate-locations"} & private.keys())
        self.assertEqual(len(private["files"]), 1)
        html = (await self.get(server, "/root/private/+simple/hello-pkg/", HTML)).body.decode()
        self.assertIn("Because this project isn't named in the <code>mirror_whitelist</code>", html)
