"""Core metadata before the file: every mirrored wheel offers it, served without the whole wheel where upstream allows."""

from __future__ import annotations

import os

from tests.dists.archives import make_wheel
from tests.integration.mirror_support import JSON, MirrorCase, sha256
from tests.mirror.fake_upstream import FakeFile

#: a wheel much larger than the ranges that find its METADATA
BIG = 3 * 1024 * 1024


class MetadataBeforeTheFileTests(MirrorCase):
    """Upstream offers no PEP 658 metadata; the mirror does all the same."""

    async def setUp(self) -> None:
        await super().setUp()
        path = make_wheel(
            self.mktemp(), "big-pkg", "2.0", requires_dist=["hello-pkg"],
            extra_files={"big_pkg/blob.bin": os.urandom(BIG)},
        )
        self.big = FakeFile.from_path(path)
        self.upstream.add_project("big-pkg", [self.big, FakeFile("big_pkg-2.0.tar.gz")])
        with open(path, "rb") as f:
            self.big_bytes = f.read()
        self.server = await self.serve(mirror={})

    async def page_entry(self, filename: str) -> dict:
        page = await self.get(self.server, "/root/up/+simple/big-pkg/", JSON)
        self.assertEqual(page.code, 200, page)
        (entry,) = [e for e in page.json["files"] if e["filename"] == filename]
        return entry

    async def metadata(self) -> bytes:
        url = await self.file_url(self.server, "big-pkg", self.big.filename)
        reply = await self.get(self.server, url + ".metadata")
        self.assertEqual(reply.code, 200, reply)
        return reply.body

    def upstream_bytes(self, filename: str) -> int:
        """Bytes upstream sent for a file (by its Content-Range or the whole file)."""
        total = 0
        for request in self.upstream.requests_to(f"/files/{filename}"):
            asked = request.header("range")
            if asked is None:
                total += self.big.length
            else:
                first, _, last = asked.removeprefix("bytes=").partition("-")
                total += int(last) + 1 if not first else int(last) - int(first) + 1
        return total

    async def test_a_wheel_without_upstream_metadata_offers_it_and_serves_it_by_range(self) -> None:
        entry = await self.page_entry(self.big.filename)
        # offered before it is known: PEP 714 "true", which pip and uv accept
        self.assertEqual(entry["core-metadata"], True)
        sdist = await self.page_entry("big_pkg-2.0.tar.gz")
        self.assertNotIn("core-metadata", sdist)

        body = await self.metadata()
        self.assertIn(b"Requires-Dist: hello-pkg", body)
        self.assertIn(b"Name: big-pkg", body)
        self.assertLess(self.upstream_bytes(self.big.filename), BIG // 8)
        self.assertTrue(all(r.header("range") for r in self.upstream.requests_to(f"/files/{self.big.filename}")))

        # now the page gives the hash of exactly what is served
        entry = await self.page_entry(self.big.filename)
        self.assertEqual(entry["core-metadata"], {"sha256": sha256(body)})
        self.assertEqual(await self.metadata(), body)

    async def test_without_range_the_whole_wheel_is_fetched_and_kept(self) -> None:
        self.upstream.serve_ranges = False
        body = await self.metadata()
        self.assertIn(b"Requires-Dist: hello-pkg", body)
        entry = await self.page_entry(self.big.filename)
        self.assertEqual(entry["core-metadata"], {"sha256": sha256(body)})
        self.assertEqual(entry["size"], self.big.length)
        before = self.upstream.hits(f"/files/{self.big.filename}")
        url = await self.file_url(self.server, "big-pkg", self.big.filename)
        wheel = await self.get(self.server, url)
        self.assertEqual(wheel.body, self.big_bytes)
        # the wheel fetched for its metadata is the one served: upstream is not asked again
        self.assertEqual(self.upstream.hits(f"/files/{self.big.filename}"), before)

    async def test_the_upstream_metadata_is_served_when_it_has_one(self) -> None:
        served = b"Metadata-Version: 2.1\nName: hello-pkg\nVersion: 1.0\n"
        wheel = FakeFile(self.wheel.filename, self.wheel.data, core_metadata=served)
        self.upstream.add_project("hello-pkg", [wheel])
        page = await self.get(self.server, "/root/up/+simple/hello-pkg/", JSON)
        (entry,) = page.json["files"]
        self.assertEqual(entry["core-metadata"], {"sha256": sha256(served)})
        url = await self.file_url(self.server, "hello-pkg", wheel.filename)
        reply = await self.get(self.server, url + ".metadata")
        self.assertEqual(reply.body, served)
        self.assertEqual(self.upstream.hits(f"/files/{wheel.filename}"), 0)

    async def test_an_unadvertised_upstream_metadata_file_is_used_when_it_fits(self) -> None:
        served = b"Metadata-Version: 2.1\nName: big-pkg\nVersion: 2.0\nRequires-Dist: hello-pkg\n"
        hidden = FakeFile(self.big.filename, self.big_bytes, core_metadata=served, advertise_metadata=False)
        self.upstream.add_project("big-pkg", [hidden])
        self.assertEqual(await self.metadata(), served)
        # one request for it, none for the wheel
        self.assertEqual(self.upstream.hits(f"/files/{self.big.filename}.metadata"), 1)
        self.assertEqual(self.upstream.hits(f"/files/{self.big.filename}"), 0)

    async def test_an_unadvertised_metadata_file_of_another_project_is_not_trusted(self) -> None:
        wrong = b"Metadata-Version: 2.1\nName: other\nVersion: 9\n"
        hidden = FakeFile(self.big.filename, self.big_bytes, core_metadata=wrong, advertise_metadata=False)
        self.upstream.add_project("big-pkg", [hidden])
        body = await self.metadata()
        self.assertIn(b"Name: big-pkg", body)
        self.assertTrue(all(r.header("range") for r in self.upstream.requests_to(f"/files/{self.big.filename}")))

    async def test_a_failing_probe_for_an_unadvertised_metadata_file_falls_back_to_range(self) -> None:
        self.upstream.fail(f"/files/{self.big.filename}.metadata", status=500)
        body = await self.metadata()
        self.assertIn(b"Name: big-pkg", body)
        self.assertTrue(all(r.header("range") for r in self.upstream.requests_to(f"/files/{self.big.filename}")))

    async def test_a_wheel_without_metadata_stops_offering_it(self) -> None:
        broken = FakeFile("broken_pkg-1.0-py3-none-any.whl", b"not a zip at all" * 100)
        self.upstream.add_project("broken-pkg", [broken])
        page = await self.get(self.server, "/root/up/+simple/broken-pkg/", JSON)
        self.assertEqual(page.json["files"][0]["core-metadata"], True)
        url = await self.file_url(self.server, "broken-pkg", broken.filename)
        reply = await self.get(self.server, url + ".metadata")
        self.assertEqual(reply.code, 404, reply)
        page = await self.get(self.server, "/root/up/+simple/broken-pkg/", JSON)
        self.assertNotIn("core-metadata", page.json["files"][0])
        html = await self.get(self.server, "/root/up/+simple/broken-pkg/", {"Accept": "text/html"})
        self.assertNotIn(b"data-core-metadata", html.body)
