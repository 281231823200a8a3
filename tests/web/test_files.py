"""Stored files under +f/: downloads, conditional and range requests, metadata, deletion."""

from __future__ import annotations

import os
from email.utils import formatdate
from typing import Optional

from twisted.trial.unittest import TestCase

from devpi_twisted.model import keys, releases
from devpi_twisted.model.releases import StoredBlob
from devpi_twisted.store.changelog import Transaction
from tests.support import MemoryServer, Reply

WHEEL = "hello_pkg-1.0-py3-none-any.whl"
SDIST = "hello_pkg-1.0.tar.gz"
DATA = bytes(range(256)) * 4 + b"the end"
METADATA = b"Metadata-Version: 2.1\nName: hello-pkg\nVersion: 1.0\n"
CACHE_CONTROL = "max-age=365000000, immutable, public"


class FilesTestCase(TestCase):
    """A server with alice's volatile index alice/dev."""

    def setUp(self) -> None:
        self.server = MemoryServer(self.mktemp())
        self.addCleanup(self.server.close)
        self.alice = self.server.create_user("alice")
        reply = self.server.request("PUT", "/alice/dev", {}, headers=self.alice)
        self.assertEqual(reply.code, 200, reply)

    def write_blob(self, data: bytes) -> str:
        writer = self.server.blobs.writer()
        writer.write(data)
        return writer.commit()

    def store_file(
        self,
        filename: str = WHEEL,
        data: bytes = DATA,
        index: str = "alice/dev",
        metadata: Optional[bytes] = None,
    ) -> str:
        """Store C{data} as a release file of hello-pkg 1.0; returns its relpath."""
        sha256 = self.write_blob(data)
        core = None if metadata is None else self.write_blob(metadata)
        username, indexname = index.split("/")
        blob = StoredBlob(filename, sha256, len(data), core)
        now = self.server.clock.seconds()

        def add(txn: Transaction) -> releases.Outcome:
            return releases.add_release_file(
                txn, username, indexname, {"name": "hello-pkg", "version": "1.0"}, blob, "alice", now
            )

        return self.server.store.transact_now(add).result.relpath

    def entry(self, relpath: str) -> dict:
        return releases.get_file(self.server.store, relpath)

    def get(self, relpath: str, method: str = "GET", **headers: str) -> Reply:
        """Fetch a file the way pip does: no JSON in C{Accept}."""
        return self.server.request(method, "/" + relpath, headers=headers, accept_json=False)


class DownloadTests(FilesTestCase):
    def test_get_sends_the_bytes_with_file_headers(self) -> None:
        relpath = self.store_file()
        sha256 = self.entry(relpath)["sha256"]
        reply = self.get(relpath)
        self.assertEqual(reply.code, 200, reply)
        self.assertEqual(reply.body, DATA)
        self.assertEqual(reply.header("content-type"), "application/octet-stream")
        self.assertEqual(reply.length, len(DATA))
        self.assertEqual(reply.header("etag"), f'"{sha256}"')
        self.assertEqual(reply.header("cache-control"), CACHE_CONTROL)
        self.assertEqual(reply.header("accept-ranges"), "bytes")
        # treq's decoder leaves an empty Content-Encoding when none was sent
        self.assertFalse(reply.header("content-encoding"))

    def test_relpath_is_devpis_layout(self) -> None:
        relpath = self.store_file()
        sha256 = self.entry(relpath)["sha256"]
        self.assertEqual(relpath, f"alice/dev/+f/{sha256[:3]}/{sha256[3:16]}/{WHEEL}")

    def test_last_modified_comes_from_the_entry_not_the_blob_file(self) -> None:
        relpath = self.store_file()
        blob_mtime = os.path.getmtime(self.server.blobs.path(self.entry(relpath)["sha256"]))
        expected = formatdate(self.server.clock.seconds(), usegmt=True)
        self.assertNotEqual(expected, formatdate(blob_mtime, usegmt=True))
        reply = self.get(relpath)
        self.assertEqual(reply.header("last-modified"), expected)
        self.assertEqual(self.entry(relpath)["last_modified"], expected)

    def test_head_sends_the_headers_without_a_body(self) -> None:
        relpath = self.store_file()
        full = self.get(relpath)
        reply = self.get(relpath, "HEAD")
        self.assertEqual(reply.code, 200, reply)
        self.assertEqual(reply.body, b"")
        for name in ("content-type", "etag", "cache-control", "last-modified", "accept-ranges"):
            self.assertEqual(reply.header(name), full.header(name), name)
        # the client leaves Content-Length in the headers of a HEAD reply only
        self.assertEqual(reply.header("content-length"), str(len(DATA)))

    def test_sdist_is_a_tar_without_content_encoding(self) -> None:
        relpath = self.store_file(SDIST)
        reply = self.get(relpath)
        self.assertEqual(reply.code, 200, reply)
        self.assertEqual(reply.header("content-type"), "application/x-tar")
        # had it been "gzip", treq would have tried to un-gzip DATA and failed
        self.assertFalse(reply.header("content-encoding"))
        self.assertEqual(reply.body, DATA)

    def test_zip_content_type(self) -> None:
        relpath = self.store_file("hello-pkg-1.0.zip")
        self.assertEqual(self.get(relpath).header("content-type"), "application/zip")

    def test_same_bytes_on_two_indexes_are_two_urls(self) -> None:
        self.server.request("PUT", "/alice/other", {}, headers=self.alice)
        first = self.store_file()
        second = self.store_file(index="alice/other")
        self.assertEqual(first.split("/", 2)[2], second.split("/", 2)[2])
        self.assertEqual(self.get(first).body, DATA)
        self.assertEqual(self.get(second).body, DATA)

    def test_json_accept_gets_the_file_metadata(self) -> None:
        relpath = self.store_file()
        entry = self.entry(relpath)
        reply = self.server.request("GET", "/" + relpath)
        self.assertEqual(reply.code, 200, reply)
        self.assertEqual(
            reply.json,
            {
                "type": "releasefilemeta",
                "result": {
                    "last_modified": entry["last_modified"],
                    "hash_spec": f"sha256={entry['sha256']}",
                    "hashes": {"sha256": entry["sha256"]},
                    "project": "hello-pkg",
                    "version": "1.0",
                },
            },
        )
        self.assertIsNone(reply.header("cache-control"))

    def test_unknown_file_is_404_as_json(self) -> None:
        relpath = "alice/dev/+f/abc/0123456789abc/nothing-1.0.tar.gz"
        reply = self.server.request("GET", "/" + relpath)
        self.assertEqual(reply.code, 404, reply)
        self.assertEqual(reply.json, {"message": f"no such file: {relpath}"})

    def test_unknown_file_is_404_as_html(self) -> None:
        relpath = "alice/dev/+f/abc/0123456789abc/nothing-1.0.tar.gz"
        reply = self.get(relpath)
        self.assertEqual(reply.code, 404, reply)
        self.assertIn("text/html", reply.header("content-type") or "")
        self.assertIn(f"no such file: {relpath}".encode(), reply.body)
        self.assertIsNone(reply.header("cache-control"))

    def test_file_of_another_index_is_not_found_here(self) -> None:
        relpath = self.store_file()
        self.server.request("PUT", "/alice/other", {}, headers=self.alice)
        elsewhere = relpath.replace("alice/dev/", "alice/other/", 1)
        self.assertEqual(self.get(elsewhere).code, 404)

    def test_missing_blob_is_a_500_with_a_message(self) -> None:
        relpath = self.store_file()
        os.remove(self.server.blobs.path(self.entry(relpath)["sha256"]))
        reply = self.get(relpath)
        self.assertEqual(reply.code, 500, reply)
        self.assertIn(f"the stored data of {relpath} is missing".encode(), reply.body)
        self.assertIsNone(reply.header("cache-control"))
        self.assertIsNone(reply.header("etag"))
        self.assertEqual(len(self.flushLoggedErrors()), 0)

    def test_large_file_arrives_whole(self) -> None:
        data = os.urandom(3 * 1024 * 1024 + 17)
        relpath = self.store_file(data=data)
        reply = self.get(relpath)
        self.assertEqual(reply.code, 200, reply)
        self.assertEqual(reply.body, data)


class ConditionalTests(FilesTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.relpath = self.store_file()
        self.etag = f'"{self.entry(self.relpath)["sha256"]}"'
        self.last_modified = self.entry(self.relpath)["last_modified"]

    def assertNotModified(self, reply: Reply) -> None:
        self.assertEqual(reply.code, 304, reply)
        self.assertEqual(reply.body, b"")
        self.assertEqual(reply.header("etag"), self.etag)
        self.assertEqual(reply.header("cache-control"), CACHE_CONTROL)

    def test_matching_etag_is_not_modified(self) -> None:
        self.assertNotModified(self.get(self.relpath, **{"If-None-Match": self.etag}))

    def test_etag_in_a_list_is_not_modified(self) -> None:
        header = f'"other", {self.etag} , "third"'
        self.assertNotModified(self.get(self.relpath, **{"If-None-Match": header}))

    def test_star_is_not_modified(self) -> None:
        self.assertNotModified(self.get(self.relpath, **{"If-None-Match": "*"}))

    def test_weak_etag_matches_for_if_none_match(self) -> None:
        header = f"W/{self.etag}"
        self.assertNotModified(self.get(self.relpath, **{"If-None-Match": header}))

    def test_head_with_matching_etag_is_not_modified(self) -> None:
        reply = self.get(self.relpath, "HEAD", **{"If-None-Match": self.etag})
        self.assertEqual(reply.code, 304, reply)

    def test_other_etags_get_the_file(self) -> None:
        reply = self.get(self.relpath, **{"If-None-Match": '"abc", W/"def"'})
        self.assertEqual(reply.code, 200, reply)
        self.assertEqual(reply.body, DATA)

    def test_unquoted_etag_does_not_match(self) -> None:
        header = self.etag.strip('"')
        self.assertEqual(self.get(self.relpath, **{"If-None-Match": header}).code, 200)

    def test_if_modified_since_last_modified_is_not_modified(self) -> None:
        reply = self.get(self.relpath, **{"If-Modified-Since": self.last_modified})
        self.assertNotModified(reply)

    def test_if_modified_since_earlier_gets_the_file(self) -> None:
        earlier = formatdate(self.server.clock.seconds() - 60, usegmt=True)
        reply = self.get(self.relpath, **{"If-Modified-Since": earlier})
        self.assertEqual(reply.code, 200, reply)
        self.assertEqual(reply.body, DATA)

    def test_if_none_match_wins_over_if_modified_since(self) -> None:
        reply = self.get(
            self.relpath,
            **{"If-None-Match": '"other"', "If-Modified-Since": self.last_modified},
        )
        self.assertEqual(reply.code, 200, reply)
        self.assertEqual(reply.body, DATA)

    def test_garbage_if_modified_since_is_ignored(self) -> None:
        reply = self.get(self.relpath, **{"If-Modified-Since": "yesterday-ish"})
        self.assertEqual(reply.code, 200, reply)


class RangeTests(FilesTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.relpath = self.store_file()
        self.etag = f'"{self.entry(self.relpath)["sha256"]}"'

    def test_single_range_is_partial_content(self) -> None:
        reply = self.get(self.relpath, Range="bytes=10-29")
        self.assertEqual(reply.code, 206, reply)
        self.assertEqual(reply.body, DATA[10:30])
        self.assertEqual(reply.header("content-range"), f"bytes 10-29/{len(DATA)}")
        self.assertEqual(reply.length, 20)
        self.assertEqual(reply.header("etag"), self.etag)

    def test_open_ended_range(self) -> None:
        reply = self.get(self.relpath, Range="bytes=1000-")
        self.assertEqual(reply.code, 206, reply)
        self.assertEqual(reply.body, DATA[1000:])
        self.assertEqual(
            reply.header("content-range"), f"bytes 1000-{len(DATA) - 1}/{len(DATA)}"
        )

    def test_suffix_range_is_the_last_bytes(self) -> None:
        reply = self.get(self.relpath, Range="bytes=-10")
        self.assertEqual(reply.code, 206, reply)
        self.assertEqual(reply.body, DATA[-10:])
        size = len(DATA)
        self.assertEqual(reply.header("content-range"), f"bytes {size - 10}-{size - 1}/{size}")

    def test_suffix_longer_than_the_file_is_the_whole_file(self) -> None:
        reply = self.get(self.relpath, Range=f"bytes=-{len(DATA) + 100}")
        self.assertEqual(reply.code, 206, reply)
        self.assertEqual(reply.body, DATA)
        self.assertEqual(
            reply.header("content-range"), f"bytes 0-{len(DATA) - 1}/{len(DATA)}"
        )

    def test_range_past_the_end_is_not_satisfiable(self) -> None:
        reply = self.get(self.relpath, Range=f"bytes={len(DATA)}-{len(DATA) + 10}")
        self.assertEqual(reply.code, 416, reply)
        self.assertEqual(reply.header("content-range"), f"bytes */{len(DATA)}")
        self.assertEqual(reply.body, b"")

    def test_several_ranges_are_multipart(self) -> None:
        reply = self.get(self.relpath, Range="bytes=0-3,100-103")
        self.assertEqual(reply.code, 206, reply)
        self.assertTrue(
            (reply.header("content-type") or "").startswith("multipart/byteranges"), reply
        )
        self.assertIn(DATA[0:4], reply.body)
        self.assertIn(DATA[100:104], reply.body)
        self.assertIn(f"bytes 100-103/{len(DATA)}".encode(), reply.body)

    def test_several_unsatisfiable_ranges_are_416(self) -> None:
        past = len(DATA) + 5
        reply = self.get(self.relpath, Range=f"bytes={past}-{past + 1},{past + 9}-")
        self.assertEqual(reply.code, 416, reply)
        self.assertEqual(reply.header("content-range"), f"bytes */{len(DATA)}")

    def test_ranges_larger_than_the_file_get_the_whole_file(self) -> None:
        reply = self.get(self.relpath, Range="bytes=" + ",".join(["0-"] * 50))
        self.assertEqual(reply.code, 200, reply)
        self.assertEqual(reply.body, DATA)

    def test_malformed_range_gets_the_whole_file(self) -> None:
        reply = self.get(self.relpath, Range="bytes=ten-twenty")
        self.assertEqual(reply.code, 200, reply)
        self.assertEqual(reply.body, DATA)

    def test_if_range_with_our_etag_serves_the_range(self) -> None:
        reply = self.get(self.relpath, Range="bytes=0-1", **{"If-Range": self.etag})
        self.assertEqual(reply.code, 206, reply)
        self.assertEqual(reply.body, DATA[:2])

    def test_if_range_with_another_etag_gets_the_whole_file(self) -> None:
        reply = self.get(self.relpath, Range="bytes=0-1", **{"If-Range": '"other"'})
        self.assertEqual(reply.code, 200, reply)
        self.assertEqual(reply.body, DATA)

    def test_head_ignores_the_range(self) -> None:
        reply = self.get(self.relpath, "HEAD", Range="bytes=0-1")
        self.assertEqual(reply.code, 200, reply)
        self.assertEqual(reply.header("content-length"), str(len(DATA)))


class CoreMetadataTests(FilesTestCase):
    def test_wheel_metadata_is_served_as_text(self) -> None:
        relpath = self.store_file(metadata=METADATA)
        digest = self.entry(relpath)["core_metadata_sha256"]
        reply = self.get(relpath + ".metadata")
        self.assertEqual(reply.code, 200, reply)
        self.assertEqual(reply.body, METADATA)
        self.assertEqual(reply.header("content-type"), "text/plain; charset=utf-8")
        self.assertEqual(reply.header("etag"), f'"{digest}"')
        self.assertEqual(reply.header("cache-control"), CACHE_CONTROL)
        self.assertEqual(reply.header("last-modified"), self.entry(relpath)["last_modified"])
        self.assertEqual(reply.length, len(METADATA))

    def test_metadata_is_served_even_to_json_clients(self) -> None:
        relpath = self.store_file(metadata=METADATA)
        reply = self.server.request("GET", "/" + relpath + ".metadata")
        self.assertEqual(reply.code, 200, reply)
        self.assertEqual(reply.body, METADATA)

    def test_metadata_etag_is_not_modified(self) -> None:
        relpath = self.store_file(metadata=METADATA)
        digest = self.entry(relpath)["core_metadata_sha256"]
        reply = self.get(relpath + ".metadata", **{"If-None-Match": f'"{digest}"'})
        self.assertEqual(reply.code, 304, reply)

    def test_sdist_has_no_metadata(self) -> None:
        relpath = self.store_file(SDIST)
        reply = self.server.request("GET", "/" + relpath + ".metadata")
        self.assertEqual(reply.code, 404, reply)
        self.assertEqual(reply.json, {"message": f"no metadata found in {relpath}"})

    def test_metadata_of_an_unknown_file_is_no_such_file(self) -> None:
        relpath = "alice/dev/+f/abc/0123456789abc/nothing-1.0-py3-none-any.whl.metadata"
        reply = self.server.request("GET", "/" + relpath)
        self.assertEqual(reply.code, 404, reply)
        self.assertEqual(reply.json, {"message": f"no such file: {relpath}"})

    def test_an_entry_named_metadata_is_served_as_itself(self) -> None:
        relpath = "alice/dev/+f/abc/0123456789abc/odd.metadata"
        sha256 = self.write_blob(b"odd bytes")
        entry = {"sha256": sha256, "size": 9, "last_modified": "Tue, 24 Nov 2026 23:33:51 GMT",
                 "project": "odd", "version": "1", "rel": "releasefile"}
        self.server.store.transact_now(lambda txn: txn.set(keys.file(relpath), entry))
        reply = self.get(relpath)
        self.assertEqual(reply.code, 200, reply)
        self.assertEqual(reply.body, b"odd bytes")
        self.assertEqual(reply.header("content-type"), "application/octet-stream")


class DeleteTests(FilesTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.relpath = self.store_file(metadata=METADATA)
        self.sha256 = self.entry(self.relpath)["sha256"]

    def delete(self, relpath: str, auth: Optional[dict[str, str]] = None) -> Reply:
        return self.server.request("DELETE", "/" + relpath, headers=auth)

    def make_non_volatile(self) -> None:
        reply = self.server.request(
            "PATCH", "/alice/dev", {"volatile": False}, headers=self.alice
        )
        self.assertEqual(reply.code, 200, reply)

    def test_anonymous_is_asked_to_log_in(self) -> None:
        reply = self.delete(self.relpath)
        self.assertEqual(reply.code, 401, reply)
        self.assertEqual(reply.header("www-authenticate"), 'Basic realm="pypi"')
        self.assertEqual(self.get(self.relpath).code, 200)

    def test_another_user_is_forbidden(self) -> None:
        bob = self.server.create_user("bob")
        serial = self.server.store.serial
        reply = self.delete(self.relpath, bob)
        self.assertEqual(reply.code, 403, reply)
        self.assertEqual(reply.json, {"message": f"no permission to delete {self.relpath}"})
        self.assertEqual(self.server.store.serial, serial)

    def test_owner_deletes_the_file(self) -> None:
        serial = self.server.store.serial
        reply = self.delete(self.relpath, self.alice)
        self.assertEqual(reply.code, 200, reply)
        self.assertEqual(reply.json, {"message": f"package '{self.relpath}' deleted"})
        self.assertEqual(reply.header("x-devpi-serial"), str(serial + 1))
        self.assertEqual(self.get(self.relpath).code, 404)
        self.assertEqual(self.get(self.relpath + ".metadata").code, 404)

    def test_deleting_the_only_reference_removes_the_blobs(self) -> None:
        digest = self.entry(self.relpath)["core_metadata_sha256"]
        self.assertEqual(self.delete(self.relpath, self.alice).code, 200)
        self.assertFalse(self.server.blobs.exists(self.sha256))
        self.assertFalse(self.server.blobs.exists(digest))

    def test_blob_stays_while_another_entry_refers_to_it(self) -> None:
        self.server.request("PUT", "/alice/other", {}, headers=self.alice)
        other = self.store_file(index="alice/other")
        self.assertEqual(self.delete(self.relpath, self.alice).code, 200)
        self.assertTrue(self.server.blobs.exists(self.sha256))
        self.assertEqual(self.get(other).body, DATA)
        self.assertEqual(self.delete(other, self.alice).code, 200)
        self.assertFalse(self.server.blobs.exists(self.sha256))

    def test_upload_acl_member_may_delete(self) -> None:
        bob = self.server.create_user("bob")
        reply = self.server.request(
            "PATCH", "/alice/dev", {"acl_upload": ["alice", "bob"]}, headers=self.alice
        )
        self.assertEqual(reply.code, 200, reply)
        self.assertEqual(self.delete(self.relpath, bob).code, 200)

    def test_root_may_delete(self) -> None:
        root = self.server.login("root", "")
        self.assertEqual(self.delete(self.relpath, root).code, 200)

    def test_non_volatile_index_refuses_without_force(self) -> None:
        self.make_non_volatile()
        reply = self.delete(self.relpath, self.alice)
        self.assertEqual(reply.code, 403, reply)
        self.assertEqual(reply.json, {"message": "cannot delete version on non-volatile index"})
        self.assertEqual(self.get(self.relpath).code, 200)
        self.assertTrue(self.server.blobs.exists(self.sha256))

    def test_force_deletes_from_a_non_volatile_index(self) -> None:
        self.make_non_volatile()
        reply = self.delete(self.relpath + "?force", self.alice)
        self.assertEqual(reply.code, 200, reply)
        self.assertEqual(self.get(self.relpath).code, 404)
        self.assertFalse(self.server.blobs.exists(self.sha256))

    def test_unknown_file_is_404(self) -> None:
        relpath = "alice/dev/+f/abc/0123456789abc/nothing-1.0.tar.gz"
        reply = self.delete(relpath, self.alice)
        self.assertEqual(reply.code, 404, reply)
        self.assertEqual(reply.json, {"message": f"package '{relpath}' doesn't exist"})

    def test_deleting_twice_is_404(self) -> None:
        self.assertEqual(self.delete(self.relpath, self.alice).code, 200)
        self.assertEqual(self.delete(self.relpath, self.alice).code, 404)

    def test_unknown_index_is_404(self) -> None:
        reply = self.delete(self.relpath.replace("alice/dev", "alice/nope", 1), self.alice)
        self.assertEqual(reply.code, 404, reply)

    def test_file_leaves_its_version(self) -> None:
        self.assertEqual(self.delete(self.relpath, self.alice).code, 200)
        record = releases.get_version(self.server.store, "alice", "dev", "hello-pkg", "1.0")
        self.assertEqual(record["+elinks"], [])
