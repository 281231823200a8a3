"""Core metadata: read from wheels, sdists and eggs without extracting; devpi's flat dict."""

from __future__ import annotations

import gzip
import io
import os
import tarfile
import zipfile

from twisted.trial.unittest import TestCase

from devpi_twisted.dists.errors import InvalidDistribution
from devpi_twisted.dists.metadata import (
    LIST_KEYS,
    METADATA_KEYS,
    carries_metadata,
    check_form_matches,
    metadata_from_form,
    parse_core_metadata,
    read_core_metadata,
)
from tests.dists.archives import core_metadata, make_sdist, make_wheel

FULL_METADATA = """\
Metadata-Version: 2.4
Name: Hello.Pkg
Version: 1.0
Summary: Says hello
Home-page: UNKNOWN
Author: Alice
Author-email: alice@example.com
License-Expression: MIT
License-File: LICENSE
License-File: NOTICE
Keywords: greeting,hello world
Platform: UNKNOWN
Classifier: Programming Language :: Python :: 3
Classifier: License :: OSI Approved :: MIT License
Project-URL: Homepage, https://example.com
Project-URL: Source,https://example.com/src
Requires-Python: >=3.8
Requires-Dist: attrs>=22
Requires-Dist: rich; extra == "pretty"
Provides-Extra: pretty
Dynamic: license-file
Description-Content-Type: text/markdown

# Hello

        indented code stays indented
"""


def _write(path: str, data: bytes) -> str:
    with open(path, "wb") as f:
        f.write(data)
    return path


def _tar_gz(path: str, members: dict[str, bytes], symlinks: dict[str, str] | None = None) -> str:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for name, target in (symlinks or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            archive.addfile(info)
    return _write(path, gzip.compress(buffer.getvalue(), mtime=0))


def _zip(path: str, members: dict[str, bytes]) -> str:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


class ReadWheelTests(TestCase):
    def setUp(self) -> None:
        self.dir = self.mktemp()

    def test_the_wheels_metadata_is_returned_verbatim(self) -> None:
        path = make_wheel(
            self.dir, "hello-pkg", "1.0", requires_python=">=3.8", requires_dist=["attrs"]
        )
        expected = core_metadata(
            "hello-pkg", "1.0", requires_python=">=3.8", requires_dist=["attrs"]
        )
        self.assertEqual(read_core_metadata(path, os.path.basename(path)), expected.encode())

    def test_the_dist_info_directory_is_found_by_scanning(self) -> None:
        path = make_wheel(self.dir, "hello-pkg", "1.0", metadata="Name: hello-pkg\nVersion: 1.0\n")
        renamed = os.path.join(self.dir, "Hello.Pkg-1.0-py3-none-any.whl")
        os.rename(path, renamed)
        self.assertEqual(
            read_core_metadata(renamed, "Hello.Pkg-1.0-py3-none-any.whl"),
            b"Name: hello-pkg\nVersion: 1.0\n",
        )

    def test_metadata_files_deeper_down_do_not_count(self) -> None:
        path = _zip(os.path.join(self.dir + "x.whl"), {"pkg/x.dist-info/METADATA": b"Name: x\n"})
        error = self.assertRaises(
            InvalidDistribution, read_core_metadata, path, "x-1.0-py3-none-any.whl"
        )
        self.assertEqual(error.message, "no METADATA found in 'x-1.0-py3-none-any.whl'")

    def test_a_wheel_without_metadata_is_refused(self) -> None:
        os.makedirs(self.dir)
        path = _zip(
            os.path.join(self.dir, "x.whl"), {"x/__init__.py": b"", "x-1.0.dist-info/WHEEL": b""}
        )
        error = self.assertRaises(
            InvalidDistribution, read_core_metadata, path, "x-1.0-py3-none-any.whl"
        )
        self.assertEqual(error.message, "no METADATA found in 'x-1.0-py3-none-any.whl'")

    def test_a_wheel_with_two_dist_info_directories_is_refused(self) -> None:
        path = make_wheel(
            self.dir, "x", "1.0", extra_files={"y-2.0.dist-info/METADATA": b"Name: y\n"}
        )
        error = self.assertRaises(
            InvalidDistribution, read_core_metadata, path, "x-1.0-py3-none-any.whl"
        )
        self.assertEqual(
            error.message,
            "more than one METADATA found in 'x-1.0-py3-none-any.whl': "
            "y-2.0.dist-info/METADATA, x-1.0.dist-info/METADATA",
        )

    def test_a_file_that_is_not_a_zip_is_refused(self) -> None:
        os.makedirs(self.dir)
        path = _write(os.path.join(self.dir, "x.whl"), b"this is not a zip file at all" * 10)
        error = self.assertRaises(
            InvalidDistribution, read_core_metadata, path, "x-1.0-py3-none-any.whl"
        )
        self.assertEqual(error.message, "'x-1.0-py3-none-any.whl' is not a valid zip archive")
        empty = _write(os.path.join(self.dir, "empty.whl"), b"")
        self.assertRaises(InvalidDistribution, read_core_metadata, empty, "x-1.0-py3-none-any.whl")

    def test_a_truncated_wheel_is_refused(self) -> None:
        path = make_wheel(self.dir, "x", "1.0")
        with open(path, "rb") as f:
            data = f.read()
        for size in (len(data) - 1, len(data) // 2, 30):
            _write(path, data[:size])
            error = self.assertRaises(
                InvalidDistribution, read_core_metadata, path, "x-1.0-py3-none-any.whl"
            )
            self.assertEqual(error.message, "'x-1.0-py3-none-any.whl' is not a valid zip archive")

    def test_a_corrupt_metadata_member_is_refused(self) -> None:
        metadata = core_metadata("x", "1.0", description="hello world " * 200)
        path = make_wheel(self.dir, "x", "1.0", metadata=metadata)
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo("x-1.0.dist-info/METADATA")
        with open(path, "rb") as f:
            data = bytearray(f.read())
        data_at = info.header_offset + 30 + len(info.filename.encode())
        data[data_at + 20] ^= 0xFF
        _write(path, bytes(data))
        error = self.assertRaises(
            InvalidDistribution, read_core_metadata, path, "x-1.0-py3-none-any.whl"
        )
        self.assertEqual(error.message, "'x-1.0-py3-none-any.whl' is not a valid zip archive")

    def test_metadata_larger_than_the_bound_is_refused(self) -> None:
        path = make_wheel(self.dir, "x", "1.0", description="x" * 2000)
        error = self.assertRaises(
            InvalidDistribution, read_core_metadata, path, "x-1.0-py3-none-any.whl", max_size=1000
        )
        self.assertEqual(
            error.message,
            "x-1.0.dist-info/METADATA in 'x-1.0-py3-none-any.whl' is larger than 1000 bytes",
        )

    def test_a_zip_bomb_next_to_the_metadata_is_never_unpacked(self) -> None:
        bomb = b"\0" * (16 * 1024 * 1024)
        path = make_wheel(self.dir, "x", "1.0", extra_files={"x/bomb.bin": bomb})
        del bomb
        self.assertIn(b"Name: x", read_core_metadata(path, "x-1.0-py3-none-any.whl"))

    def test_too_many_members_are_refused(self) -> None:
        path = make_wheel(self.dir, "x", "1.0", extra_files={f"x/m{i}.py": b"" for i in range(20)})
        error = self.assertRaises(
            InvalidDistribution, read_core_metadata, path, "x-1.0-py3-none-any.whl", max_members=10
        )
        self.assertEqual(error.message, "'x-1.0-py3-none-any.whl' has more than 10 members")

    def test_member_names_with_dot_dot_are_never_written_anywhere(self) -> None:
        path = make_wheel(
            self.dir, "x", "1.0", extra_files={"../../escaped.txt": b"no", "/abs.txt": b"no"}
        )
        before = os.listdir(self.dir)
        self.assertIn(b"Name: x", read_core_metadata(path, "x-1.0-py3-none-any.whl"))
        self.assertEqual(os.listdir(self.dir), before)
        self.assertFalse(os.path.exists(os.path.join(os.path.dirname(self.dir), "escaped.txt")))


class ReadSdistTests(TestCase):
    def setUp(self) -> None:
        self.dir = self.mktemp()
        os.makedirs(self.dir)

    def test_pkg_info_is_read_from_every_sdist_format(self) -> None:
        expected = core_metadata("hello-pkg", "1.0", summary="hi").encode()
        for fmt in ("gztar", "bztar", "zip"):
            path = make_sdist(self.dir, "hello-pkg", "1.0", summary="hi", fmt=fmt)
            self.assertEqual(read_core_metadata(path, os.path.basename(path)), expected, fmt)

    def test_tgz_is_a_gzipped_tar(self) -> None:
        path = make_sdist(self.dir, "x", "1.0")
        os.rename(path, os.path.join(self.dir, "x-1.0.tgz"))
        data = read_core_metadata(os.path.join(self.dir, "x-1.0.tgz"), "x-1.0.tgz")
        self.assertIn(b"Name: x", data)

    def test_the_shortest_top_level_pkg_info_wins(self) -> None:
        members = {
            "longer-name-1.0/PKG-INFO": b"Name: longer\n",
            "x-1.0/x.egg-info/PKG-INFO": b"Name: egg-info\n",
            "x-1.0/PKG-INFO": b"Name: x\n",
        }
        path = _tar_gz(os.path.join(self.dir, "x-1.0.tar.gz"), members)
        self.assertEqual(read_core_metadata(path, "x-1.0.tar.gz"), b"Name: x\n")
        path = _zip(os.path.join(self.dir, "x-1.0.zip"), members)
        self.assertEqual(read_core_metadata(path, "x-1.0.zip"), b"Name: x\n")

    def test_a_leading_dot_slash_is_ignored(self) -> None:
        path = _tar_gz(os.path.join(self.dir, "x-1.0.tar.gz"), {"./x-1.0/PKG-INFO": b"Name: x\n"})
        self.assertEqual(read_core_metadata(path, "x-1.0.tar.gz"), b"Name: x\n")

    def test_an_sdist_without_top_level_pkg_info_is_refused(self) -> None:
        members = {
            "x-1.0/x.egg-info/PKG-INFO": b"Name: x\n",
            "PKG-INFO": b"Name: x\n",
            "x-1.0/setup.py": b"",
        }
        path = _tar_gz(os.path.join(self.dir, "x-1.0.tar.gz"), members)
        error = self.assertRaises(InvalidDistribution, read_core_metadata, path, "x-1.0.tar.gz")
        self.assertEqual(error.message, "no PKG-INFO found in 'x-1.0.tar.gz'")
        path = _zip(os.path.join(self.dir, "x-1.0.zip"), members)
        error = self.assertRaises(InvalidDistribution, read_core_metadata, path, "x-1.0.zip")
        self.assertEqual(error.message, "no PKG-INFO found in 'x-1.0.zip'")

    def test_a_pkg_info_symlink_is_not_followed(self) -> None:
        path = _tar_gz(
            os.path.join(self.dir, "x-1.0.tar.gz"), {}, symlinks={"x-1.0/PKG-INFO": "/etc/passwd"}
        )
        error = self.assertRaises(InvalidDistribution, read_core_metadata, path, "x-1.0.tar.gz")
        self.assertEqual(error.message, "no PKG-INFO found in 'x-1.0.tar.gz'")

    def test_files_that_are_not_tar_archives_are_refused(self) -> None:
        cases = {
            "x-1.0.tar.gz": b"not gzip at all",
            "x-1.0.tgz": gzip.compress(b"gzip, but no tar inside" * 40),
            "x-1.0.tar.bz2": b"not bzip2",
        }
        for filename, data in cases.items():
            path = _write(os.path.join(self.dir, filename), data)
            error = self.assertRaises(InvalidDistribution, read_core_metadata, path, filename)
            self.assertEqual(error.message, f"{filename!r} is not a valid tar archive")

    def test_a_truncated_sdist_is_refused_even_after_its_pkg_info(self) -> None:
        path = make_sdist(self.dir, "x", "1.0", extra_files={"x-1.0/data.bin": os.urandom(50_000)})
        with open(path, "rb") as f:
            data = f.read()
        for size in (len(data) - 1, len(data) - 100, len(data) // 2):
            _write(path, data[:size])
            error = self.assertRaises(InvalidDistribution, read_core_metadata, path, "x-1.0.tar.gz")
            self.assertEqual(error.message, "'x-1.0.tar.gz' is not a valid tar archive")

    def test_a_truncated_bz2_sdist_is_refused(self) -> None:
        path = make_sdist(self.dir, "x", "1.0", fmt="bztar")
        with open(path, "rb") as f:
            data = f.read()
        _write(path, data[: len(data) // 2])
        error = self.assertRaises(InvalidDistribution, read_core_metadata, path, "x-1.0.tar.bz2")
        self.assertEqual(error.message, "'x-1.0.tar.bz2' is not a valid tar archive")

    def test_a_tar_bomb_is_refused_once_the_unpacked_bound_is_reached(self) -> None:
        members = {"x-1.0/PKG-INFO": b"Name: x\n", "x-1.0/bomb.bin": b"\0" * (4 * 1024 * 1024)}
        path = _tar_gz(os.path.join(self.dir, "x-1.0.tar.gz"), members)
        self.assertLess(os.path.getsize(path), 100_000)
        error = self.assertRaises(
            InvalidDistribution, read_core_metadata, path, "x-1.0.tar.gz", max_unpacked=1024 * 1024
        )
        self.assertEqual(error.message, "'x-1.0.tar.gz' unpacks to more than 1048576 bytes")

    def test_an_oversized_pax_header_is_refused_before_it_is_read(self) -> None:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
            info = tarfile.TarInfo("x-1.0/PKG-INFO")
            info.pax_headers = {"comment": "x" * (2 * 1024 * 1024)}
            archive.addfile(info, io.BytesIO(b""))
        path = _write(os.path.join(self.dir, "x-1.0.tar.gz"), gzip.compress(buffer.getvalue()))
        error = self.assertRaises(InvalidDistribution, read_core_metadata, path, "x-1.0.tar.gz")
        self.assertEqual(error.message, "'x-1.0.tar.gz' is not a valid tar archive")

    def test_pkg_info_larger_than_the_bound_is_refused(self) -> None:
        path = make_sdist(self.dir, "x", "1.0", description="y" * 2000)
        error = self.assertRaises(
            InvalidDistribution, read_core_metadata, path, "x-1.0.tar.gz", max_size=1000
        )
        self.assertEqual(
            error.message, "x-1.0/PKG-INFO in 'x-1.0.tar.gz' is larger than 1000 bytes"
        )
        path = make_sdist(self.dir, "x", "1.0", description="y" * 2000, fmt="zip")
        error = self.assertRaises(
            InvalidDistribution, read_core_metadata, path, "x-1.0.zip", max_size=1000
        )
        self.assertEqual(error.message, "x-1.0/PKG-INFO in 'x-1.0.zip' is larger than 1000 bytes")

    def test_too_many_tar_members_are_refused(self) -> None:
        path = make_sdist(self.dir, "x", "1.0", extra_files={f"x-1.0/m{i}": b"" for i in range(20)})
        error = self.assertRaises(
            InvalidDistribution, read_core_metadata, path, "x-1.0.tar.gz", max_members=10
        )
        self.assertEqual(error.message, "'x-1.0.tar.gz' has more than 10 members")

    def test_dot_dot_members_are_never_written_anywhere(self) -> None:
        members = {"../../escaped.txt": b"no", "x-1.0/PKG-INFO": b"Name: x\n", "/abs.txt": b"no"}
        path = _tar_gz(os.path.join(self.dir, "x-1.0.tar.gz"), members)
        before = os.listdir(self.dir)
        self.assertEqual(read_core_metadata(path, "x-1.0.tar.gz"), b"Name: x\n")
        self.assertEqual(os.listdir(self.dir), before)
        self.assertFalse(os.path.exists(os.path.join(os.path.dirname(self.dir), "escaped.txt")))


class ReadOtherFilesTests(TestCase):
    def setUp(self) -> None:
        self.dir = self.mktemp()
        os.makedirs(self.dir)

    def test_an_eggs_pkg_info_is_read(self) -> None:
        path = _zip(
            os.path.join(self.dir, "x-1.0-py3.8.egg"),
            {"EGG-INFO/PKG-INFO": b"Name: x\n", "x/__init__.py": b""},
        )
        self.assertEqual(read_core_metadata(path, "x-1.0-py3.8.egg"), b"Name: x\n")

    def test_other_archive_kinds_carry_no_metadata(self) -> None:
        path = _write(os.path.join(self.dir, "x-1.0.exe"), b"MZ")
        error = self.assertRaises(InvalidDistribution, read_core_metadata, path, "x-1.0.exe")
        self.assertEqual(
            error.message,
            "cannot read metadata from 'x-1.0.exe': only wheels, sdists and eggs have it",
        )

    def test_only_wheels_sdists_and_eggs_carry_metadata(self) -> None:
        for filename in (
            "x-1.0-py3-none-any.whl",
            "x-1.0.tar.gz",
            "x-1.0.tgz",
            "x-1.0.tar.bz2",
            "x-1.0.zip",
            "x-1.0-py3.8.egg",
        ):
            self.assertTrue(carries_metadata(filename), filename)
        for filename in ("x-1.0.exe", "x-1.0.msi", "x-1.0.rpm", "x-1.0.deb", "x-1.0.dmg", "x.foo"):
            self.assertFalse(carries_metadata(filename), filename)

    def test_file_names_that_are_no_archive_names_are_refused(self) -> None:
        path = _write(os.path.join(self.dir, "x.foo"), b"")
        error = self.assertRaises(InvalidDistribution, read_core_metadata, path, "x.foo")
        self.assertEqual(error.message, "'x.foo' is not a valid archive name")


class ParseTests(TestCase):
    def test_every_key_is_present_with_devpis_defaults(self) -> None:
        meta = parse_core_metadata(b"Metadata-Version: 2.1\nName: x\nVersion: 1.0\n")
        self.assertEqual(tuple(meta), METADATA_KEYS)
        for key in METADATA_KEYS:
            if key in LIST_KEYS:
                self.assertEqual(meta[key], [], key)
            elif key not in ("name", "version", "metadata_version"):
                self.assertEqual(meta[key], "", key)
        self.assertEqual(
            (meta["name"], meta["version"], meta["metadata_version"]), ("x", "1.0", "2.1")
        )

    def test_fields_map_to_devpis_keys(self) -> None:
        meta = parse_core_metadata(FULL_METADATA.encode())
        self.assertEqual(meta["name"], "Hello.Pkg")
        self.assertEqual(meta["summary"], "Says hello")
        self.assertEqual(meta["author_email"], "alice@example.com")
        self.assertEqual(meta["license_expression"], "MIT")
        self.assertEqual(meta["license_file"], ["LICENSE", "NOTICE"])
        self.assertEqual(
            meta["classifiers"],
            ["Programming Language :: Python :: 3", "License :: OSI Approved :: MIT License"],
        )
        self.assertEqual(meta["requires_python"], ">=3.8")
        self.assertEqual(meta["requires_dist"], ["attrs>=22", 'rich; extra == "pretty"'])
        self.assertEqual(meta["provides_extras"], ["pretty"])
        self.assertEqual(meta["dynamic"], ["license-file"])
        self.assertEqual(meta["description_content_type"], "text/markdown")

    def test_unknown_counts_as_missing(self) -> None:
        meta = parse_core_metadata(FULL_METADATA.encode())
        self.assertEqual(meta["home_page"], "")
        self.assertEqual(meta["platform"], [])

    def test_keywords_and_project_urls_keep_the_raw_header_text(self) -> None:
        meta = parse_core_metadata(FULL_METADATA.encode())
        self.assertEqual(meta["keywords"], "greeting,hello world")
        self.assertEqual(
            meta["project_urls"],
            ["Homepage, https://example.com", "Source,https://example.com/src"],
        )

    def test_the_description_is_the_body_verbatim(self) -> None:
        meta = parse_core_metadata(FULL_METADATA.encode())
        self.assertEqual(meta["description"], "# Hello\n\n        indented code stays indented\n")

    def test_a_folded_description_header_is_unfolded(self) -> None:
        raw = (
            b"Metadata-Version: 1.1\nName: x\nVersion: 1.0\n"
            b"Description: first\n        second\n        \n          third\n"
            b"Summary: a\n  folded summary\n"
        )
        meta = parse_core_metadata(raw)
        self.assertEqual(meta["description"], "first\nsecond\n\n  third")
        self.assertEqual(meta["summary"], "a folded summary")

    def test_with_a_description_header_and_a_body_the_body_wins(self) -> None:
        meta = parse_core_metadata(b"Name: x\nVersion: 1.0\nDescription: header\n\nbody\n")
        self.assertEqual(meta["description"], "body\n")

    def test_a_repeated_single_field_keeps_its_first_value(self) -> None:
        meta = parse_core_metadata(b"Name: x\nVersion: 1.0\nSummary: one\nSummary: two\n")
        self.assertEqual(meta["summary"], "one")

    def test_utf8_and_latin1_metadata_are_decoded(self) -> None:
        self.assertEqual(
            parse_core_metadata("Name: x\nAuthor: Jürgen\n".encode())["author"], "Jürgen"
        )
        self.assertEqual(
            parse_core_metadata("Name: x\nAuthor: Jürgen\n".encode("latin-1"))["author"], "Jürgen"
        )

    def test_what_make_wheel_writes_parses_back(self) -> None:
        raw = core_metadata("hello-pkg", "1.0", ">=3.8", ["attrs"], "hi", "long text\n")
        meta = parse_core_metadata(raw.encode())
        self.assertEqual(
            (
                meta["name"],
                meta["version"],
                meta["requires_python"],
                meta["requires_dist"],
                meta["summary"],
                meta["description"],
            ),
            ("hello-pkg", "1.0", ">=3.8", ["attrs"], "hi", "long text\n"),
        )


class FormTests(TestCase):
    # what twine sends for FULL_METADATA (plus fields devpi ignores)
    FORM = {
        ":action": ["file_upload"],
        "protocol_version": ["1"],
        "filetype": ["bdist_wheel"],
        "metadata_version": ["2.4"],
        "name": ["Hello.Pkg"],
        "version": ["1.0"],
        "summary": ["Says hello"],
        "home_page": ["UNKNOWN"],
        "keywords": ["greeting,hello world"],
        "platform": ["UNKNOWN"],
        "classifiers": [
            "Programming Language :: Python :: 3",
            "License :: OSI Approved :: MIT License",
        ],
        "project_urls": ["Homepage, https://example.com", "Source,https://example.com/src"],
        "requires_dist": ["attrs>=22", 'rich; extra == "pretty"'],
        "requires_python": [">=3.8"],
    }

    def test_form_fields_give_the_same_flat_dict(self) -> None:
        meta = metadata_from_form(self.FORM)
        self.assertEqual(tuple(meta), METADATA_KEYS)
        file_meta = parse_core_metadata(FULL_METADATA.encode())
        for key in (
            "name",
            "version",
            "metadata_version",
            "summary",
            "home_page",
            "keywords",
            "platform",
            "classifiers",
            "project_urls",
            "requires_dist",
            "requires_python",
        ):
            self.assertEqual(meta[key], file_meta[key], key)
        self.assertEqual((meta["author"], meta["license_file"], meta["comment"]), ("", [], ""))

    def test_text_keys_take_the_first_value_and_list_keys_all(self) -> None:
        meta = metadata_from_form({"name": ["a", "b"], "requires_dist": ["x", "", "y"]})
        self.assertEqual(meta["name"], "a")
        self.assertEqual(meta["requires_dist"], ["x", "y"])

    def test_matching_names_and_versions_pass(self) -> None:
        file_meta = parse_core_metadata(FULL_METADATA.encode())
        check_form_matches(metadata_from_form(self.FORM), file_meta)
        check_form_matches({"name": "hello_pkg", "version": "1.0"}, file_meta)
        check_form_matches(
            {"name": "x", "version": "1.0-post1"}, {"name": "X", "version": "1.0.post1"}
        )
        check_form_matches(
            {"name": "x", "version": "not pep440"}, {"name": "x", "version": "not pep440"}
        )

    def test_another_name_is_refused(self) -> None:
        error = self.assertRaises(
            InvalidDistribution,
            check_form_matches,
            {"name": "other", "version": "1.0"},
            {"name": "hello-pkg", "version": "1.0"},
        )
        self.assertEqual(
            error.message, "form name 'other' does not match the file's metadata name 'hello-pkg'"
        )

    def test_another_version_is_refused(self) -> None:
        for form_version in ("2.0", "1.0.0", ""):
            error = self.assertRaises(
                InvalidDistribution,
                check_form_matches,
                {"name": "x", "version": form_version},
                {"name": "x", "version": "1.0"},
            )
            self.assertEqual(
                error.message,
                f"form version {form_version!r} does not match the file's metadata version '1.0'",
            )
