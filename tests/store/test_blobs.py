"""FileBlobStore: blobs appear whole under their sha256, or not at all."""

from __future__ import annotations

import hashlib
import os

from twisted.trial.unittest import TestCase

from devpi_twisted.store.blobs import FileBlobStore, HashMismatch, IBlobStore, IBlobWriter

DATA = b"hello blob\n"
DIGEST = hashlib.sha256(DATA).hexdigest()


class FileBlobStoreTests(TestCase):
    def setUp(self) -> None:
        self.store = FileBlobStore(self.mktemp())

    def test_paths_are_only_for_sha256_digests(self) -> None:
        for digest in ("ab/../../etc/passwd", "A" * 64, "ab" * 31, ""):
            self.assertRaises(ValueError, self.store.path, digest)
        self.assertTrue(self.store.path("ab" * 32).startswith(self.store.root))

    def assert_no_temp_files(self) -> None:
        self.assertEqual(os.listdir(self.store.temp_dir), [])

    def stored_files(self) -> list[str]:
        """Every file in the store outside the temp directory."""
        found = []
        for parent, dirs, files in os.walk(self.store.root):
            if parent != self.store.temp_dir:
                found.extend(os.path.join(parent, name) for name in files)
        return found

    def test_provides_the_interfaces(self) -> None:
        self.assertTrue(IBlobStore.providedBy(self.store))
        writer = self.store.writer()
        self.addCleanup(writer.abort)
        self.assertTrue(IBlobWriter.providedBy(writer))

    def test_commit_returns_sha256_and_stores_file_at_path(self) -> None:
        writer = self.store.writer()
        writer.write(DATA[:5])
        writer.write(DATA[5:])
        self.assertEqual(writer.commit(), DIGEST)
        self.assertEqual(writer.size, len(DATA))
        path = self.store.path(DIGEST)
        self.assertEqual(path, os.path.join(self.store.root, DIGEST[:2], DIGEST[2:4], DIGEST))
        with open(path, "rb") as f:
            self.assertEqual(f.read(), DATA)
        self.assertEqual(self.stored_files(), [path])
        self.assert_no_temp_files()

    def test_nothing_is_visible_before_commit(self) -> None:
        writer = self.store.writer()
        writer.write(DATA)
        self.assertFalse(self.store.exists(DIGEST))
        self.assertEqual(self.stored_files(), [])
        writer.commit()
        self.assertTrue(self.store.exists(DIGEST))

    def test_commit_with_expected_hash_accepts_it_in_any_case(self) -> None:
        writer = self.store.writer()
        writer.write(DATA)
        self.assertEqual(writer.commit(DIGEST.upper()), DIGEST)
        self.assertTrue(self.store.exists(DIGEST))

    def test_commit_with_wrong_expected_hash_stores_nothing(self) -> None:
        wrong = hashlib.sha256(b"something else").hexdigest()
        writer = self.store.writer()
        writer.write(DATA)
        with self.assertRaises(HashMismatch) as caught:
            writer.commit(wrong)
        self.assertIn(DIGEST, str(caught.exception))
        self.assertIn(wrong, str(caught.exception))
        self.assertFalse(self.store.exists(DIGEST))
        self.assertFalse(self.store.exists(wrong))
        self.assertEqual(self.stored_files(), [])
        self.assert_no_temp_files()

    def test_abort_leaves_nothing(self) -> None:
        writer = self.store.writer()
        writer.write(DATA)
        self.assertEqual(len(os.listdir(self.store.temp_dir)), 1)
        writer.abort()
        self.assertFalse(self.store.exists(DIGEST))
        self.assertEqual(self.stored_files(), [])
        self.assert_no_temp_files()

    def test_abort_after_commit_keeps_the_blob(self) -> None:
        writer = self.store.writer()
        writer.write(DATA)
        writer.commit()
        writer.abort()
        self.assertTrue(self.store.exists(DIGEST))

    def test_open_exists_and_remove(self) -> None:
        self.assertFalse(self.store.exists(DIGEST))
        self.assertRaises(FileNotFoundError, self.store.open, DIGEST)
        writer = self.store.writer()
        writer.write(DATA)
        writer.commit()
        with self.store.open(DIGEST) as f:
            self.assertEqual(f.read(), DATA)
        self.store.remove(DIGEST)
        self.assertFalse(self.store.exists(DIGEST))
        self.assertRaises(FileNotFoundError, self.store.open, DIGEST)
        self.store.remove(DIGEST)

    def test_same_content_twice_is_one_blob(self) -> None:
        for _ in range(2):
            writer = self.store.writer()
            writer.write(DATA)
            self.assertEqual(writer.commit(), DIGEST)
        self.assertEqual(self.stored_files(), [self.store.path(DIGEST)])
        self.assert_no_temp_files()

    def test_empty_blob(self) -> None:
        writer = self.store.writer()
        empty = hashlib.sha256(b"").hexdigest()
        self.assertEqual(writer.commit(empty), empty)
        with self.store.open(empty) as f:
            self.assertEqual(f.read(), b"")

    def test_large_blob_written_in_many_chunks_hashes_right(self) -> None:
        chunk = bytes(range(256)) * 16 + b"odd"
        chunks = [bytes([i % 251]) + chunk for i in range(1000)]
        data = b"".join(chunks)
        digest = hashlib.sha256(data).hexdigest()
        writer = self.store.writer()
        for piece in chunks:
            writer.write(piece)
        self.assertEqual(writer.commit(digest), digest)
        self.assertEqual(writer.size, len(data))
        self.assertGreater(len(data), 4_000_000)
        with self.store.open(digest) as f:
            self.assertEqual(f.read(), data)


class FileBlobStoreInterfaceTests(TestCase):
    """What every IBlobStore answers, as files."""

    def setUp(self) -> None:
        self.store = FileBlobStore(os.path.abspath(self.mktemp()))

    def test_size_ranges_and_listing(self) -> None:
        self.assertIsNone(self.store.size(DIGEST))
        writer = self.store.writer()
        writer.write(DATA)
        writer.commit()
        self.assertEqual(self.store.size(DIGEST), len(DATA))
        with self.store.open(DIGEST, 6, 9) as f:
            self.assertEqual(f.read(), b"blob")
        with self.store.open(DIGEST, 6) as f:
            self.assertEqual(f.read(2), b"bl")
            self.assertEqual(f.read(), b"ob\n")
        self.assertEqual(list(self.store.stored()), [(DIGEST, len(DATA))])
        self.assertEqual(self.store.local_path(DIGEST), self.store.path(DIGEST))
        self.assertIsNone(self.store.presigned_url(DIGEST, "text/plain", 60))

    def test_leftovers_are_the_temp_files(self) -> None:
        writer = self.store.writer()
        self.assertEqual(self.store.leftovers(), [writer.temp_path])
        writer.abort()
        self.assertEqual(self.store.leftovers(), [])

    def test_store_id_is_the_directorys(self) -> None:
        identity = self.store.store_id()
        self.assertEqual(len(identity), 32)
        self.assertEqual(FileBlobStore(self.store.root).store_id(), identity)
        self.assertNotEqual(FileBlobStore(self.mktemp()).store_id(), identity)
        self.assertEqual(self.store.leftovers(), [])
        self.assertEqual(list(self.store.stored()), [])

    def test_keep_aside_links_the_blob_into_corrupt(self) -> None:
        self.assertIsNone(self.store.keep_aside(DIGEST))
        writer = self.store.writer()
        writer.write(DATA)
        writer.commit()
        kept = self.store.keep_aside(DIGEST)
        self.assertEqual(os.path.dirname(kept), os.path.join(self.store.root, "corrupt"))
        with open(kept, "rb") as f:
            self.assertEqual(f.read(), DATA)
        self.assertTrue(self.store.exists(DIGEST))
        self.assertEqual(list(self.store.stored()), [(DIGEST, len(DATA))])
