"""SparseFile: reading a zip of which only some ranges are at hand."""

from __future__ import annotations

import io
import os
import zipfile

from twisted.trial.unittest import TestCase

from devpi_twisted.dists.metadata import read_core_metadata
from devpi_twisted.dists.sparse import MissingBytes, SparseFile
from tests.dists.archives import make_wheel


class SparseFileTests(TestCase):
    def test_reads_supplied_bytes_and_names_missing_ones(self) -> None:
        sparse = SparseFile(100)
        sparse.add(10, b"a" * 10)
        sparse.add(20, b"b" * 10)
        sparse.seek(15)
        self.assertEqual(sparse.read(10), b"aaaaabbbbb")
        with self.assertRaises(MissingBytes) as caught:
            sparse.read(10)
        self.assertEqual((caught.exception.start, caught.exception.end), (25, 35))
        self.assertEqual(sparse.gap_after(0), 10)
        self.assertEqual(sparse.gap_after(20), 100)

    def test_a_wheels_metadata_is_read_from_the_ranges_it_asks_for(self) -> None:
        path = make_wheel(self.mktemp(), "pkg", "1.0", extra_files={"pkg/big": os.urandom(300_000)})
        with open(path, "rb") as f:
            data = f.read()
        sparse = SparseFile(len(data))
        sparse.add(len(data) - 70_000, data[-70_000:])
        asked = 0
        while True:
            try:
                raw = read_core_metadata(sparse, os.path.basename(path))
                break
            except MissingBytes as missing:
                asked += missing.end - missing.start
                sparse.add(missing.start, data[missing.start : missing.end])
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            self.assertEqual(raw, archive.read("pkg-1.0.dist-info/METADATA"))
        self.assertLess(asked, 10_000)
