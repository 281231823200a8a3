"""A server (and its replica) with its files in moto's S3: uploads, downloads, dedup, deletion, faults, fsck, dumps."""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.request
from typing import Any

import treq
from twisted.internet.threads import deferToThread

from devpi_twisted.commands.offline import open_readonly
from devpi_twisted.model import keys
from devpi_twisted.store.locations import BlobLocation
from devpi_twisted.store.s3 import S3BlobStore, make_client
from tests.commands.console import run_command
from tests.dists.archives import make_wheel
from tests.mirror.fake_upstream import FakeFile, FakeUpstream
from tests.replication.faulty_proxy import FaultyProxy
from tests.replication.support import ServersCase, upload, wait_for
from tests.replication.support import status as status_of
from tests.s3.moto import PART_SIZE, blob_store_args, shared_moto
from tests.support import Reply, RunningServer, basic_auth, server_options

ROOT = basic_auth("root", "")
ALICE = basic_auth("alice", "secret")
SIMPLE_JSON = {"Accept": "application/vnd.pypi.simple.v1+json"}


def http_head(url: str) -> http.client.HTTPResponse:
    """A HEAD of C{url} by the standard library (twisted's client hides a HEAD's Content-Length)."""
    request = urllib.request.Request(url, method="HEAD")
    with urllib.request.urlopen(request) as response:
        return response  # type: ignore[no-any-return]


def sha256_of(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class S3Case(ServersCase):
    """Servers whose blob store is a new bucket of the tests' moto server."""

    def setUp(self) -> None:
        super().setUp()
        self.moto = shared_moto()
        self.bucket = self.moto.new_bucket()
        self.s3 = self.moto.client()

    def store(self, endpoint_url: str = "") -> S3BlobStore:
        """The bucket's blob store, as a server sees it."""
        settings = self.moto.settings(self.bucket, endpoint_url=endpoint_url or self.moto.endpoint_url)
        store = S3BlobStore(make_client(settings), settings, os.path.abspath(self.mktemp()))
        self.addCleanup(store.close)
        return store

    def objects(self, prefix: str = "blobs/sha256/") -> dict[str, int]:
        listed = self.s3.list_objects_v2(Bucket=self.bucket, Prefix=prefix)
        return {item["Key"]: item["Size"] for item in listed.get("Contents", [])}

    async def start_server(self, *args: str, serverdir: str = "", endpoint: str = "") -> RunningServer:
        s3 = blob_store_args(self.moto, self.bucket, "--s3-max-attempts", "2", "--s3-timeout", "5")
        if endpoint:
            s3[s3.index("--s3-endpoint-url") + 1] = endpoint
        options = server_options(serverdir or self.primary_dir, *s3, *args)
        return await self.start(RunningServer(options))

    async def ok(self, server: RunningServer, method: str, path: str, body: Any = None) -> Reply:
        reply = await server.request(method, path, json_body=body, headers=ROOT)
        self.assertLess(reply.code, 300, reply)
        return reply

    async def populate(self, server: RunningServer, *indexes: str) -> None:
        await self.ok(server, "PUT", "/alice", {"password": "secret"})
        for index in indexes or ("dev",):
            await self.ok(server, "PUT", f"/alice/{index}", {"bases": [], "volatile": True})

    async def file_url(self, server: RunningServer, index: str, project: str = "hello-pkg") -> str:
        page = (await server.request("GET", f"/alice/{index}/+simple/{project}/", headers=SIMPLE_JSON)).json
        return f"/alice/{index}/" + page["files"][0]["url"].split(f"/alice/{index}/", 1)[1].split("#")[0]

    async def get(self, server: RunningServer, path: str, **headers: str) -> tuple[int, Any, bytes]:
        response = await treq.get(server.url + path, headers=headers, allow_redirects=False, persistent=False)
        return response.code, response.headers, await response.content()


class StreamedTests(S3Case):
    async def test_upload_download_range_head_and_conditional(self) -> None:
        server = await self.start_server()
        await self.populate(server)
        wheel = make_wheel(self.mktemp(), "hello-pkg", "1.0")
        self.assertEqual(await upload(server.url, "alice/dev", wheel, ALICE), 200)
        digest = sha256_of(wheel)
        with open(wheel, "rb") as f:
            content = f.read()
        key = f"blobs/sha256/{digest[:2]}/{digest[2:4]}/{digest}"
        self.assertEqual(self.objects()[key], len(content))
        self.assertEqual(len(self.objects()), 2)  # the wheel and its METADATA
        self.assertFalse(os.path.exists(os.path.join(self.primary_dir, "+blobs", digest[:2])))
        url = await self.file_url(server, "dev")
        code, headers, body = await self.get(server, url)
        self.assertEqual((code, body), (200, content))
        self.assertEqual(headers.getRawHeaders("etag"), [f'"{digest}"'])
        self.assertEqual(headers.getRawHeaders("accept-ranges"), ["bytes"])
        code, headers, body = await self.get(server, url, Range="bytes=10-19")
        self.assertEqual((code, body), (206, content[10:20]))
        self.assertEqual(headers.getRawHeaders("content-range"), [f"bytes 10-19/{len(content)}"])
        code, _, body = await self.get(server, url, Range="bytes=-5")
        self.assertEqual((code, body), (206, content[-5:]))
        code, headers, _ = await self.get(server, url, Range=f"bytes={len(content)}-")
        self.assertEqual(code, 416)
        self.assertEqual(headers.getRawHeaders("content-range"), [f"bytes */{len(content)}"])
        code, _, body = await self.get(server, url, Range="bytes=0-1", **{"If-Range": '"other"'})
        self.assertEqual((code, body), (200, content))
        code, _, body = await self.get(server, url, **{"If-None-Match": f'"{digest}"'})
        self.assertEqual((code, body), (304, b""))
        head = await deferToThread(http_head, server.url + url)
        self.assertEqual((head.status, head.getheader("content-length")), (200, str(len(content))))
        response = await treq.get(server.url + url, persistent=False)
        self.assertEqual(response.length, len(content))  # Content-Length, not chunked
        await response.content()
        code, _, body = await self.get(server, url + ".metadata")
        self.assertEqual(code, 200)
        self.assertIn(b"Name: hello-pkg", body)

    async def test_a_big_upload_goes_in_parts_and_comes_back_whole(self) -> None:
        server = await self.start_server()
        await self.populate(server)
        payload = os.urandom(PART_SIZE * 3 + 123)
        wheel = make_wheel(self.mktemp(), "hello-pkg", "1.0", extra_files={"hello_pkg/data.bin": payload})
        self.assertGreater(os.path.getsize(wheel), PART_SIZE * 3)
        self.assertEqual(await upload(server.url, "alice/dev", wheel, ALICE), 200)
        digest = sha256_of(wheel)
        head = self.s3.head_object(Bucket=self.bucket, Key=f"blobs/sha256/{digest[:2]}/{digest[2:4]}/{digest}")
        self.assertTrue(head["ETag"].endswith('-4"'), head["ETag"])
        code, _, body = await self.get(server, await self.file_url(server, "dev"))
        self.assertEqual((code, hashlib.sha256(body).hexdigest()), (200, digest))

    async def test_identical_files_on_two_indexes_are_one_object_removed_with_the_last(self) -> None:
        server = await self.start_server()
        await self.populate(server, "dev", "prod")
        wheel = make_wheel(self.mktemp(), "hello-pkg", "1.0")
        for index in ("dev", "prod"):
            self.assertEqual(await upload(server.url, f"alice/{index}", wheel, ALICE), 200)
        digest = sha256_of(wheel)
        self.assertEqual(len(self.objects()), 2)
        record = (await self.ok(server, "GET", "/+status")).json  # the server is up
        self.assertTrue(record)
        dev_url, prod_url = await self.file_url(server, "dev"), await self.file_url(server, "prod")
        await self.ok(server, "DELETE", dev_url)
        self.assertEqual((await self.get(server, prod_url))[0], 200)
        self.assertEqual(len(self.objects()), 2)
        await self.ok(server, "DELETE", prod_url)

        async def gone() -> bool:
            return not self.objects()

        await wait_for(gone, f"the objects of {digest} and its METADATA to be removed")


class FaultTests(S3Case):
    async def start_behind_proxy(self) -> tuple[RunningServer, FaultyProxy]:
        proxy = await FaultyProxy(self.moto.port).start()
        self.addCleanup(proxy.stop)
        server = await self.start_server(endpoint=proxy.url.rstrip("/"))
        await self.populate(server)
        return server, proxy

    async def test_the_store_going_down_mid_upload_commits_nothing_and_fsck_reports_the_parts(self) -> None:
        server, proxy = await self.start_behind_proxy()
        payload = os.urandom(PART_SIZE * 3)
        wheel = make_wheel(self.mktemp(), "hello-pkg", "1.0", extra_files={"hello_pkg/data.bin": payload})
        serial = (await status_of(server.url))["serial"]
        proxy.go_down_on(b"partNumber=2")
        code = await upload(server.url, "alice/dev", wheel, ALICE)
        self.assertEqual(code, 503)
        self.assertEqual((await status_of(server.url))["serial"], serial)
        self.assertEqual((await server.request("GET", "/alice/dev/+simple/hello-pkg/", headers=SIMPLE_JSON)).code, 404)
        proxy.resume()
        self.assertEqual(self.objects(), {})
        uploads = self.s3.list_multipart_uploads(Bucket=self.bucket).get("Uploads", [])
        self.assertEqual(len(uploads), 1)  # the abort could not reach the store either
        await server.stop()
        self.servers.remove(server)
        outcome = run_command("fsck", "--serverdir", self.primary_dir, *blob_store_args(self.moto, self.bucket))
        self.assertEqual(outcome.code, 0, outcome)
        self.assertIn(f"Unfinished write s3://{self.bucket}/{uploads[0]['Key']} (upload {uploads[0]['UploadId']})", outcome.out)

    async def test_downloads_while_the_store_is_down_are_503(self) -> None:
        server, proxy = await self.start_behind_proxy()
        wheel = make_wheel(self.mktemp(), "hello-pkg", "1.0")
        self.assertEqual(await upload(server.url, "alice/dev", wheel, ALICE), 200)
        url = await self.file_url(server, "dev")
        proxy.refuse()
        for pair in proxy.open_pairs:
            pair.abort()
        code, headers, body = await self.get(server, url)
        self.assertEqual(code, 503)
        self.assertIn(b"the object store is unavailable", body)
        self.assertIsNone(headers.getRawHeaders("etag"))
        self.assertEqual(await upload(server.url, "alice/dev", make_wheel(self.mktemp(), "other", "1.0"), ALICE), 503)
        proxy.resume()
        self.assertEqual((await self.get(server, url))[0], 200)

    async def test_a_store_that_stalls_gives_504(self) -> None:
        server, proxy = await self.start_behind_proxy()
        wheel = make_wheel(self.mktemp(), "hello-pkg", "1.0")
        self.assertEqual(await upload(server.url, "alice/dev", wheel, ALICE), 200)
        url = await self.file_url(server, "dev")
        await server.stop()
        self.servers.remove(server)
        server = await self.start_server("--s3-timeout", "0.3", endpoint=proxy.url.rstrip("/"))
        proxy.stall()
        code, _, body = await self.get(server, url)
        self.assertEqual(code, 504)
        self.assertIn(b"did not answer in time", body)
        proxy.resume()


class ReplicaTests(S3Case):
    async def test_a_replica_on_the_same_bucket_fetches_and_removes_no_blobs(self) -> None:
        primary = await self.start_server("--role", "primary", "--replication-heartbeat", "0.2")
        await self.populate(primary)
        wheel = make_wheel(self.mktemp(), "hello-pkg", "1.0")
        self.assertEqual(await upload(primary.url, "alice/dev", wheel, ALICE), 200)
        replica_dir = self.new_replica_dir()
        replica = await self.start_server(
            "--primary-url", primary.url + "/", "--secretfile", os.path.join(self.primary_dir, ".secret"),
            serverdir=replica_dir,
        )
        target = (await status_of(primary.url))["serial"]

        async def synced() -> bool:
            current = await status_of(replica.url)
            return current["serial"] == target and current["replication-shared-blobs"]

        await wait_for(synced, "the replica to catch up, knowing it shares the bucket")
        url = await self.file_url(primary, "dev")
        code, _, body = await self.get(replica, url)
        self.assertEqual((code, hashlib.sha256(body).hexdigest()), (200, sha256_of(wheel)))
        self.assertEqual((await status_of(replica.url))["replication-blobs-pending"], 0)
        self.assertFalse(os.path.exists(os.path.join(replica_dir, "+blobs")))
        await self.ok(primary, "DELETE", url)

        async def gone() -> bool:
            return not self.objects() and (await status_of(replica.url))["serial"] == target + 1

        await wait_for(gone, "the deletion to reach the bucket and the replica")
        self.assertEqual((await status_of(replica.url))["replication-errors"], {})


    async def test_a_replica_with_a_bucket_of_its_own_fetches_the_blobs_from_the_primary(self) -> None:
        primary = await self.start_server("--role", "primary", "--replication-heartbeat", "0.2")
        await self.populate(primary)
        payload = os.urandom(PART_SIZE * 2)
        wheel = make_wheel(self.mktemp(), "hello-pkg", "1.0", extra_files={"hello_pkg/data.bin": payload})
        self.assertEqual(await upload(primary.url, "alice/dev", wheel, ALICE), 200)
        primary_objects = self.objects()
        self.bucket = self.moto.new_bucket()
        replica = await self.start_server(
            "--primary-url", primary.url + "/", "--secretfile", os.path.join(self.primary_dir, ".secret"),
            serverdir=self.new_replica_dir(),
        )

        async def fetched() -> bool:
            current = await status_of(replica.url)
            return len(self.objects()) == len(primary_objects) and not current["replication-blobs-pending"]

        await wait_for(fetched, "the replica to copy the blobs into its own bucket")
        self.assertEqual(self.objects(), primary_objects)
        self.assertFalse((await status_of(replica.url))["replication-shared-blobs"])
        code, _, body = await self.get(replica, await self.file_url(primary, "dev"))
        self.assertEqual((code, hashlib.sha256(body).hexdigest()), (200, sha256_of(wheel)))


class RedirectTests(S3Case):
    async def test_downloads_redirect_to_a_presigned_url(self) -> None:
        server = await self.start_server("--blob-redirect", "--blob-redirect-expiry", "120")
        await self.populate(server)
        wheel = make_wheel(self.mktemp(), "hello-pkg", "1.0")
        self.assertEqual(await upload(server.url, "alice/dev", wheel, ALICE), 200)
        url = await self.file_url(server, "dev")
        code, headers, _ = await self.get(server, url)
        self.assertEqual(code, 302)
        location = headers.getRawHeaders("location")[0]
        self.assertTrue(location.startswith(f"{self.moto.endpoint_url}/{self.bucket}/blobs/sha256/"), location)
        self.assertIn("X-Amz-Expires=120", location)
        self.assertEqual(headers.getRawHeaders("cache-control"), ["private, no-store"])
        response = await treq.get(location, persistent=False)
        self.assertEqual(response.code, 200)
        self.assertEqual(hashlib.sha256(await response.content()).hexdigest(), sha256_of(wheel))
        self.assertEqual(response.headers.getRawHeaders("content-type"), ["application/octet-stream"])
        code, _, _ = await self.get(server, url, **{"If-None-Match": f'"{sha256_of(wheel)}"'})
        self.assertEqual(code, 304)


class MirrorTests(S3Case):
    async def test_the_first_fetch_streams_to_the_client_and_the_bucket(self) -> None:
        upstream = FakeUpstream()
        await upstream.start()
        self.addCleanup(upstream.stop)
        payload = os.urandom(PART_SIZE * 2)
        wheel = FakeFile.from_path(
            make_wheel(self.mktemp(), "up-pkg", "2.0", extra_files={"up_pkg/data.bin": payload})
        )
        upstream.add_project("up-pkg", [wheel], serial=10)
        server = await self.start_server("--blob-redirect")
        await self.ok(server, "PATCH", "/root/pypi", {"mirror_url": upstream.simple_url})
        page = await server.request("GET", "/root/pypi/+simple/up-pkg/", headers=SIMPLE_JSON)
        [link] = page.json["files"]
        path = "/root/pypi/" + link["url"].split("/root/pypi/", 1)[1].split("#")[0]
        code, _, body = await self.get(server, path)
        self.assertEqual((code, hashlib.sha256(body).hexdigest()), (200, wheel.sha256))
        key = f"blobs/sha256/{wheel.sha256[:2]}/{wheel.sha256[2:4]}/{wheel.sha256}"
        self.assertEqual(self.objects()[key], len(body))
        code, headers, _ = await self.get(server, path)  # stored now: redirected
        self.assertEqual(code, 302)
        self.assertIn(key, headers.getRawHeaders("location")[0])


class OfflineCommandTests(S3Case):
    def s3_args(self, bucket: str = "") -> list[str]:
        return blob_store_args(self.moto, bucket or self.bucket)

    async def stored_wheel(self) -> str:
        server = await self.start_server()
        await self.populate(server)
        wheel = make_wheel(self.mktemp(), "hello-pkg", "1.0")
        self.assertEqual(await upload(server.url, "alice/dev", wheel, ALICE), 200)
        await server.stop()
        self.servers.remove(server)
        return wheel

    async def test_export_from_a_bucket_and_import_into_another(self) -> None:
        wheel = await self.stored_wheel()
        dump = os.path.abspath(self.mktemp())
        outcome = run_command("export", "--serverdir", self.primary_dir, *self.s3_args(), dump)
        self.assertEqual(outcome.code, 0, outcome)
        exported = [os.path.join(d, n) for d, _, names in os.walk(dump) for n in names if n.endswith(".whl")]
        self.assertEqual([sha256_of(path) for path in exported], [sha256_of(wheel)])
        other = self.moto.new_bucket()
        imported_dir = os.path.join(self.base, "imported")
        outcome = run_command("import", "--serverdir", imported_dir, *self.s3_args(other), dump)
        self.assertEqual(outcome.code, 0, outcome)
        listed = self.s3.list_objects_v2(Bucket=other, Prefix="blobs/sha256/")["Contents"]
        self.assertEqual(sorted(item["Key"].rsplit("/", 1)[1] for item in listed), sorted(self.objects_names()))
        self.bucket = other
        server = await self.start_server(serverdir=imported_dir)
        code, _, body = await self.get(server, await self.file_url(server, "dev"))
        self.assertEqual((code, hashlib.sha256(body).hexdigest()), (200, sha256_of(wheel)))

    def objects_names(self) -> list[str]:
        return [key.rsplit("/", 1)[1] for key in self.objects()]

    async def test_fsck_finds_a_missing_and_a_corrupt_object_and_repairs_them(self) -> None:
        wheel = await self.stored_wheel()
        digest = sha256_of(wheel)
        wheel_key = f"blobs/sha256/{digest[:2]}/{digest[2:4]}/{digest}"
        [metadata_key] = [key for key in self.objects() if key != wheel_key]
        with open(wheel, "rb") as f:
            content = f.read()
        self.s3.put_object(Bucket=self.bucket, Key=wheel_key, Body=b"x" * len(content))
        self.s3.delete_object(Bucket=self.bucket, Key=metadata_key)
        self.s3.put_object(Bucket=self.bucket, Key="blobs/sha256/00/00/" + "0" * 64, Body=b"stray")
        outcome = run_command("fsck", "--serverdir", self.primary_dir, *self.s3_args())
        self.assertEqual(outcome.code, 1, outcome)
        relpath = (await self.relpaths())[0]
        self.assertIn(f"Corrupt file {relpath} - sha256 is {hashlib.sha256(b'x' * len(content)).hexdigest()}", outcome.out)
        self.assertIn(f"Missing file {relpath}.metadata\n", outcome.out)
        self.assertIn(f"Orphan blob {'0' * 64} (5 bytes)", outcome.out)
        outcome = run_command("fsck", "--serverdir", self.primary_dir, *self.s3_args(), "--no-checksum")
        self.assertEqual(outcome.code, 1, outcome)
        self.assertNotIn("Corrupt", outcome.out)  # same size: only reading tells
        # a second server on another bucket with the same files is where the good bytes are
        source_bucket = self.moto.new_bucket()
        source_dir = os.path.join(self.base, "source")
        self.bucket, kept_bucket = source_bucket, self.bucket
        source = await self.start_server(serverdir=source_dir)
        await self.populate(source)
        self.assertEqual(await upload(source.url, "alice/dev", wheel, ALICE), 200)
        self.bucket = kept_bucket
        outcome = await deferToThread(  # the source answers in this reactor meanwhile
            run_command, "fsck", "--serverdir", self.primary_dir, *self.s3_args(), "--repair-from", source.url
        )
        self.assertEqual(outcome.code, 0, outcome)
        self.assertIn(f"Repaired {relpath} from {source.url}/{relpath}", outcome.out)
        self.assertIn(f"the corrupt file is kept as s3://{self.bucket}/blobs/corrupt/{digest}.", outcome.out)
        body = self.s3.get_object(Bucket=self.bucket, Key=wheel_key)["Body"].read()
        self.assertEqual(body, content)
        self.assertIn(metadata_key, self.objects())
        outcome = run_command("fsck", "--serverdir", self.primary_dir, *self.s3_args())
        self.assertEqual(outcome.code, 0, outcome)

    async def relpaths(self) -> list[str]:
        """The relpaths of the stored wheels."""
        with open_readonly(self.primary_dir, BlobLocation(directory=os.path.abspath(self.mktemp()))) as server:
            state = server.store
            refs = [state.get(keys.blob(digest))["refs"] for digest in state.children(keys.BLOBS)]
        return [relpath for each in refs for relpath in each if relpath.endswith(".whl")]
