"""Untrusted zips: sized from their end records before zipfile parses them."""

from __future__ import annotations

import os
import struct
import zipfile

from twisted.trial.unittest import TestCase

from devpi_twisted.dists import zips
from devpi_twisted.dists.errors import InvalidDistribution


def _make_zip(path: str, count: int) -> str:
    with zipfile.ZipFile(path, "w") as archive:
        for i in range(count):
            archive.writestr(f"member-{i}.txt", f"data {i}")
    return path


def _patch_end_record(path: str, count: int) -> None:
    """Overwrite the member counts of the (comment-less) end of central directory record."""
    with open(path, "r+b") as f:
        f.seek(-22 + 8, os.SEEK_END)
        f.write(struct.pack("<HH", count, count))


class OpenZipTests(TestCase):
    def setUp(self) -> None:
        self.dir = self.mktemp()
        os.makedirs(self.dir)

    def test_a_valid_zip_opens(self) -> None:
        path = _make_zip(os.path.join(self.dir, "a.zip"), 3)
        with zips.open_zip(path, "'a.zip'", max_members=3) as archive:
            self.assertEqual(len(archive.infolist()), 3)

    def test_a_zip_lying_about_its_member_count_is_refused_before_zipfile_parses_it(self) -> None:
        path = _make_zip(os.path.join(self.dir, "a.zip"), 40)
        _patch_end_record(path, 1)

        def never(*args: object) -> None:
            raise AssertionError("zipfile parsed the central directory")

        self.patch(zipfile, "ZipFile", never)
        with self.assertRaises(InvalidDistribution) as caught:
            with zips.open_zip(path, "'a.zip'", max_members=1):
                pass
        self.assertEqual(caught.exception.message, "'a.zip' has more than 1 members")

    def test_zip64_end_records_are_read(self) -> None:
        path = os.path.join(self.dir, "a.zip")
        self.patch(zipfile, "ZIP_FILECOUNT_LIMIT", 1)
        _make_zip(path, 5)
        _patch_end_record(path, 0xFFFF)  # "see the zip64 record", as for more than 65535 members
        with zips.open_zip(path, "'a.zip'", max_members=5) as archive:
            self.assertEqual(len(archive.infolist()), 5)
        with self.assertRaises(InvalidDistribution) as caught:
            with zips.open_zip(path, "'a.zip'", max_members=4):
                pass
        self.assertEqual(caught.exception.message, "'a.zip' has more than 4 members")

    def test_a_zip_with_a_trailing_comment_opens(self) -> None:
        path = os.path.join(self.dir, "a.zip")
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("a.txt", b"a")
            archive.comment = b"a comment moves the end record away from the end " * 10
        with zips.open_zip(path, "'a.zip'", max_members=1) as archive:
            self.assertEqual(archive.read("a.txt"), b"a")

    def test_garbage_is_not_a_zip(self) -> None:
        path = os.path.join(self.dir, "a.zip")
        with open(_make_zip(path, 3), "rb") as f:
            valid = f.read()
        for data in (
            b"",
            b"PK\x05\x06",
            b"x" * 100,
            valid[:-1],
            valid[: len(valid) // 2],
            valid[:-22],
        ):
            with open(path, "wb") as f:
                f.write(data)
            with self.assertRaises(InvalidDistribution) as caught:
                with zips.open_zip(path, "'a.zip'", max_members=10):
                    pass
            self.assertEqual(caught.exception.message, "'a.zip' is not a valid zip archive")
