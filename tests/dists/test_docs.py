"""Documentation zips: what an upload must be, and how members are served."""

from __future__ import annotations

import os
import stat
import zipfile

from twisted.trial.unittest import TestCase

from devpi_twisted.dists.docs import check_doc_zip, read_doc_member
from devpi_twisted.dists.errors import DocNotFound, InvalidDistribution
from tests.dists.archives import make_doc_zip

DOCS = {
    "index.html": b"<h1>hello</h1>",
    "api/index.html": b"<h1>api</h1>",
    "api/module.html": b"<p>module</p>",
    "_static/style.css": b"body {}",
    "_static/logo.png": b"\x89PNG\r\n",
    "objects.inv.unknownext": b"\0\1",
}


def _zip_with(path: str, name: str, data: bytes = b"x", external_attr: int = 0o644 << 16) -> str:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("index.html", b"<p>ok</p>")
        info = zipfile.ZipInfo(name)
        info.external_attr = external_attr
        archive.writestr(info, data)
    return path


class CheckDocZipTests(TestCase):
    def setUp(self) -> None:
        self.dir = self.mktemp()
        os.makedirs(self.dir)
        self.path = os.path.join(self.dir, "docs.zip")

    def assert_refused(self, message: str, **kwargs: int) -> None:
        error = self.assertRaises(InvalidDistribution, check_doc_zip, self.path, **kwargs)
        self.assertEqual(error.message, message)

    def test_a_valid_doc_zip_lists_its_files(self) -> None:
        path = make_doc_zip(self.dir, DOCS)
        self.assertEqual(check_doc_zip(path), list(DOCS))

    def test_directory_entries_are_not_listed(self) -> None:
        with zipfile.ZipFile(self.path, "w") as archive:
            archive.mkdir("api")
            archive.writestr("api/index.html", b"")
        self.assertEqual(check_doc_zip(self.path), ["api/index.html"])

    def test_a_file_that_is_not_a_zip_is_refused(self) -> None:
        with open(self.path, "wb") as f:
            f.write(b"<html>not a zip</html>")
        self.assert_refused("doc zip is not a valid zip archive")

    def test_a_truncated_zip_is_refused(self) -> None:
        with open(make_doc_zip(self.dir, DOCS), "rb") as f:
            data = f.read()
        with open(self.path, "wb") as f:
            f.write(data[:-10])
        self.assert_refused("doc zip is not a valid zip archive")

    def test_a_corrupt_member_is_refused(self) -> None:
        make_doc_zip(self.dir, {"index.html": b"<p>hello hello hello</p>" * 100})
        with zipfile.ZipFile(self.path) as archive:
            info = archive.getinfo("index.html")
        with open(self.path, "r+b") as f:
            f.seek(info.header_offset + 30 + len("index.html") + 5)
            byte = f.read(1)
            f.seek(-1, os.SEEK_CUR)
            f.write(bytes([byte[0] ^ 0xFF]))
        self.assert_refused("doc zip is not a valid zip archive: 'index.html' is corrupt")

    def test_absolute_member_names_are_refused(self) -> None:
        for name in ("/etc/passwd", "\\windows\\x.html", "C:/x.html"):
            _zip_with(self.path, name)
            self.assert_refused(f"doc zip member {name!r} has an absolute path")

    def test_dot_dot_components_are_refused(self) -> None:
        for name in ("../x.html", "a/../../x.html", "a/..", "a\\..\\..\\x.html"):
            _zip_with(self.path, name)
            self.assert_refused(f"doc zip member {name!r} contains '..'")

    def test_names_merely_containing_dots_pass(self) -> None:
        _zip_with(self.path, "a/..b/c..html")
        self.assertEqual(check_doc_zip(self.path), ["index.html", "a/..b/c..html"])

    def test_symlinks_are_refused(self) -> None:
        _zip_with(
            self.path, "link.html", b"/etc/passwd", external_attr=(stat.S_IFLNK | 0o777) << 16
        )
        self.assert_refused("doc zip member 'link.html' is a symbolic link")

    def test_encrypted_members_are_refused(self) -> None:
        _zip_with(self.path, "secret.html")
        with open(self.path, "r+b") as f:
            data = f.read()
            entry = (
                data.index(b"secret.html", data.index(b"PK\x01\x02")) - 46
            )  # its central directory entry
            self.assertEqual(data[entry : entry + 4], b"PK\x01\x02")
            f.seek(entry + 8)  # the general purpose flags; bit 0 means encrypted
            f.write(bytes([data[entry + 8] | 1]))
        self.assert_refused("doc zip member 'secret.html' is encrypted")

    def test_too_many_members_are_refused(self) -> None:
        make_doc_zip(self.dir, {f"page{i}.html": b"" for i in range(11)})
        self.assert_refused("doc zip has more than 10 members", max_members=10)
        self.assertEqual(len(check_doc_zip(self.path, max_members=11)), 11)

    def test_too_many_unpacked_bytes_are_refused(self) -> None:
        make_doc_zip(self.dir, {"a.html": b"a" * 600, "b.html": b"b" * 600})
        self.assert_refused("doc zip unpacks to more than 1000 bytes", max_unpacked=1000)
        self.assertEqual(len(check_doc_zip(self.path, max_unpacked=1200)), 2)


class ReadDocMemberTests(TestCase):
    def setUp(self) -> None:
        self.path = make_doc_zip(self.mktemp(), DOCS)

    def test_members_are_read_with_their_content_type(self) -> None:
        self.assertEqual(
            read_doc_member(self.path, "api/module.html"),
            (b"<p>module</p>", "text/html; charset=utf-8"),
        )
        self.assertEqual(read_doc_member(self.path, "_static/style.css"), (b"body {}", "text/css"))
        self.assertEqual(
            read_doc_member(self.path, "_static/logo.png"), (b"\x89PNG\r\n", "image/png")
        )

    def test_unknown_types_are_octet_streams(self) -> None:
        self.assertEqual(
            read_doc_member(self.path, "objects.inv.unknownext"),
            (b"\0\1", "application/octet-stream"),
        )

    def test_the_root_and_directories_mean_their_index(self) -> None:
        self.assertEqual(read_doc_member(self.path, "")[0], b"<h1>hello</h1>")
        self.assertEqual(read_doc_member(self.path, "api")[0], b"<h1>api</h1>")
        self.assertEqual(
            read_doc_member(self.path, "api/"), (b"<h1>api</h1>", "text/html; charset=utf-8")
        )

    def test_missing_members_are_not_found(self) -> None:
        for member in ("nope.html", "_static", "_static/", "API/index.html"):
            error = self.assertRaises(DocNotFound, read_doc_member, self.path, member)
            self.assertIsInstance(error, KeyError)
            self.assertIn("no such documentation file", str(error))

    def test_dot_dot_and_odd_paths_are_refused(self) -> None:
        for member in (
            "../index.html",
            "api/../index.html",
            "..",
            "/index.html",
            "api//module.html",
            "./index.html",
        ):
            error = self.assertRaises(DocNotFound, read_doc_member, self.path, member)
            self.assertEqual(error.message, f"no such documentation file: {member!r}")
