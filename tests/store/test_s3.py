"""S3BlobStore against moto's standalone server: whole objects under their digest, or nothing."""

from __future__ import annotations

import hashlib
import os
import socket
import urllib.request

from twisted.trial.unittest import TestCase

from devpi_twisted.store.blobs import (
    BlobStoreTimeout,
    BlobStoreUnavailable,
    HashMismatch,
    IBlobStore,
    IBlobWriter,
)
from devpi_twisted.store.s3 import S3BlobStore, make_client
from tests.s3.moto import CREDENTIALS, PART_SIZE, shared_moto

DATA = b"hello blob\n"
DIGEST = hashlib.sha256(DATA).hexdigest()
BIG = os.urandom(PART_SIZE * 2 + 1000)
BIG_DIGEST = hashlib.sha256(BIG).hexdigest()


class S3BlobStoreTests(TestCase):
    def setUp(self) -> None:
        self.moto = shared_moto()
        self.bucket = self.moto.new_bucket()
        self.store = self.make_store()
        self.client = self.moto.client()

    def make_store(self, prefix: str = "blobs", **overrides: object) -> S3BlobStore:
        settings = self.moto.settings(self.bucket, prefix, **overrides)
        store = S3BlobStore(make_client(settings), settings, self.mktemp())
        self.addCleanup(store.close)
        return store

    def write(self, data: bytes, store: S3BlobStore | None = None) -> str:
        writer = (store or self.store).writer()
        try:
            writer.write(data)
            return writer.commit()
        finally:
            writer.abort()

    def keys(self) -> list[str]:
        listed = self.client.list_objects_v2(Bucket=self.bucket)
        return sorted(item["Key"] for item in listed.get("Contents", []))

    def test_provides_the_interfaces(self) -> None:
        self.assertTrue(IBlobStore.providedBy(self.store))
        writer = self.store.writer()
        self.addCleanup(writer.abort)
        self.assertTrue(IBlobWriter.providedBy(writer))

    def test_a_blob_is_one_object_under_its_content_address(self) -> None:
        self.assertFalse(self.store.exists(DIGEST))
        self.assertEqual(self.write(DATA), DIGEST)
        self.assertEqual(self.keys(), [f"blobs/sha256/{DIGEST[:2]}/{DIGEST[2:4]}/{DIGEST}"])
        self.assertTrue(self.store.exists(DIGEST))
        self.assertEqual(self.store.size(DIGEST), len(DATA))
        with self.store.open(DIGEST) as f:
            self.assertEqual(f.read(), DATA)
        with self.store.open(DIGEST, 6, 9) as f:
            self.assertEqual(f.read(), b"blob")
        with self.store.open(DIGEST, 6) as f:
            self.assertEqual(f.read(), b"blob\n")
        self.assertEqual(list(self.store.stored()), [(DIGEST, len(DATA))])
        self.assertIsNone(self.store.local_path(DIGEST))

    def test_missing_blobs(self) -> None:
        self.assertIsNone(self.store.size(DIGEST))
        self.assertRaises(FileNotFoundError, self.store.open, DIGEST)
        self.assertRaises(ValueError, self.store.key, "../" + DIGEST[3:])

    def test_big_blobs_are_uploaded_in_parts_whole(self) -> None:
        self.assertEqual(self.write(BIG), BIG_DIGEST)
        head = self.client.head_object(Bucket=self.bucket, Key=self.store.key(BIG_DIGEST))
        self.assertEqual(head["ContentLength"], len(BIG))
        self.assertEqual(head["Metadata"], {"sha256": BIG_DIGEST})
        self.assertTrue(head["ETag"].endswith('-3"'), head["ETag"])  # three parts
        with self.store.open(BIG_DIGEST) as f:
            self.assertEqual(hashlib.sha256(f.read()).hexdigest(), BIG_DIGEST)
        self.assertEqual(self.store.leftovers(), [])

    def test_a_wrong_expected_hash_uploads_nothing(self) -> None:
        writer = self.store.writer()
        writer.write(DATA)
        self.assertRaises(HashMismatch, writer.commit, "0" * 64)
        self.assertEqual(self.keys(), [])
        self.assertEqual(os.listdir(self.store.temp_dir), [])

    def test_nothing_is_there_before_finish_and_the_spool_goes_on_abort(self) -> None:
        writer = self.store.writer()
        writer.write(DATA)
        self.assertEqual(self.keys(), [])
        writer.finish()
        with open(writer.temp_path, "rb") as f:  # to read back, e.g. a wheel's METADATA
            self.assertEqual(f.read(), DATA)
        self.assertTrue(self.store.exists(DIGEST))
        writer.publish()
        writer.abort()
        # a finished object stays: another commit may refer to the same bytes
        self.assertTrue(self.store.exists(DIGEST))
        self.assertEqual(os.listdir(self.store.temp_dir), [])

    def test_identical_bytes_make_one_object(self) -> None:
        self.write(DATA)
        first = self.client.head_object(Bucket=self.bucket, Key=self.store.key(DIGEST))
        self.write(DATA)
        again = self.client.head_object(Bucket=self.bucket, Key=self.store.key(DIGEST))
        self.assertEqual(first["LastModified"], again["LastModified"])
        self.assertEqual(len(self.keys()), 1)

    def test_remove(self) -> None:
        self.write(DATA)
        self.store.remove(DIGEST)
        self.store.remove(DIGEST)  # gone already: no error
        self.store.close()  # waits for the background removals
        self.assertFalse(self.store.exists(DIGEST))

    def test_unfinished_uploads_are_leftovers_until_aborted(self) -> None:
        key = self.store.key(BIG_DIGEST)
        upload = self.client.create_multipart_upload(Bucket=self.bucket, Key=key)["UploadId"]
        self.assertEqual(self.store.leftovers(), [f"s3://{self.bucket}/{key} (upload {upload})"])
        self.store.abort_upload(key, upload)
        self.assertEqual(self.store.leftovers(), [])

    def test_keep_aside_moves_the_object_to_corrupt(self) -> None:
        self.assertIsNone(self.store.keep_aside(DIGEST))
        self.write(DATA)
        kept = self.store.keep_aside(DIGEST)
        self.assertTrue(kept.startswith(f"s3://{self.bucket}/blobs/corrupt/{DIGEST}."), kept)
        self.assertFalse(self.store.exists(DIGEST))
        self.assertEqual(list(self.store.stored()), [])
        body = self.client.get_object(Bucket=self.bucket, Key=kept.split("/", 3)[3])["Body"]
        self.assertEqual(body.read(), DATA)

    def test_store_id_is_the_buckets_and_prefixes(self) -> None:
        identity = self.store.store_id()
        self.assertEqual(self.make_store().store_id(), identity)
        self.assertEqual(self.store.store_id(), identity)
        self.assertNotEqual(self.make_store("other").store_id(), identity)

    def test_presigned_urls_need_no_credentials(self) -> None:
        self.write(DATA)
        url = self.store.presigned_url(DIGEST, "application/zip", 60)
        self.assertNotIn(CREDENTIALS["AWS_SECRET_ACCESS_KEY"], url)
        with urllib.request.urlopen(url) as response:
            self.assertEqual(response.read(), DATA)
            self.assertEqual(response.headers["Content-Type"], "application/zip")

    def test_a_store_nobody_listens_for_is_unavailable(self) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        store = self.make_store(endpoint_url=f"http://127.0.0.1:{port}", max_attempts=1)
        with self.assertRaises(BlobStoreUnavailable) as caught:
            store.exists(DIGEST)
        self.assertNotIsInstance(caught.exception, BlobStoreTimeout)
        self.assertIn("unavailable", str(caught.exception))
        writer = store.writer()
        writer.write(DATA)
        self.assertRaises(BlobStoreUnavailable, writer.finish)
        writer.abort()

    def test_a_store_that_does_not_answer_times_out(self) -> None:
        silent = socket.socket()
        self.addCleanup(silent.close)
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # accepted by the kernel, never answered
        port = silent.getsockname()[1]
        store = self.make_store(endpoint_url=f"http://127.0.0.1:{port}", max_attempts=1, timeout=0.2)
        self.assertRaises(BlobStoreTimeout, store.size, DIGEST)

    def test_an_unknown_bucket_is_unavailable(self) -> None:
        self.bucket = "no-such-bucket"
        with self.assertRaises(BlobStoreUnavailable) as caught:
            self.write(DATA, self.make_store())
        self.assertIn("NoSuchBucket", str(caught.exception))
