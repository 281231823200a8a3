"""A primary and replicas on loopback: what replicas serve, relay and refuse, and how they recover."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from typing import Any

from twisted.internet import reactor

from devpi_twisted.auth.replicas import ReplicaTokens
from devpi_twisted.replication import blobs as replica_blobs
from devpi_twisted.serverdir import BLOBS, SECRET
from devpi_twisted.store.blobs import FileBlobStore
from tests.dists.archives import make_doc_zip, make_wheel
from tests.integration.test_twistd import free_port
from tests.mirror.fake_upstream import FakeFile, FakeUpstream
from tests.replication.support import ServersCase, primary_options, upload, wait_for, wait_in_sync
from tests.replication.support import status as status_of
from tests.support import Reply, RunningServer, basic_auth, devpi_auth, server_options
from tests.web.forms import file_digests, form_body

ROOT = basic_auth("root", "")
ALICE = basic_auth("alice", "secret")
HTML = {"Accept": "text/html"}
SIMPLE_JSON = {"Accept": "application/vnd.pypi.simple.v1+json"}


def blob_path(serverdir: str, sha256: str) -> str:
    return FileBlobStore(os.path.join(serverdir, BLOBS)).path(sha256)


def sha256_of(path: str) -> str:
    return file_digests(path)["sha256_digest"]


class ReplicationCase(ServersCase):
    """L{ServersCase} with the primary on one port across its restarts, and servers stopped on demand."""

    timeout = 30

    def setUp(self) -> None:
        super().setUp()
        self.primary_port = free_port()
        self.primary_url = f"http://127.0.0.1:{self.primary_port}/"

    async def start_primary(self, *args: str) -> RunningServer:
        return await super().start_primary("--listen", f"tcp:{self.primary_port}:interface=127.0.0.1", *args)

    async def stop(self, server: RunningServer) -> None:
        self.servers.remove(server)
        await server.stop()

    async def ok(self, server: RunningServer, method: str, path: str, body: Any = None, **headers: str) -> Reply:
        reply = await server.request(method, path, json_body=body, headers={**ROOT, **headers})
        self.assertLess(reply.code, 300, reply)
        return reply

    async def populate(self, server: RunningServer) -> str:
        """alice/dev with one wheel (and docs): returns the wheel's path."""
        await self.ok(server, "PUT", "/alice", {"password": "secret"})
        await self.ok(server, "PUT", "/alice/dev", {"bases": [], "volatile": True})
        wheel = make_wheel(self.mktemp(), "hello-pkg", "1.0")
        await self.upload(server, wheel)
        return wheel

    async def upload(self, server: RunningServer, wheel: str) -> None:
        self.assertEqual(await upload(server.url, "alice/dev", wheel, ALICE), 200)


class ReplicaServesTests(ReplicationCase):
    async def test_new_replica_serves_what_the_primary_serves(self) -> None:
        primary = await self.start_primary()
        wheel = await self.populate(primary)
        docs = make_doc_zip(self.mktemp(), {"index.html": b"<h1>docs</h1>"})
        with open(docs, "rb") as f:
            body, content_type = form_body(
                {":action": "doc_upload", "name": "hello-pkg", "version": "1.0"},
                {"content": ("hello-pkg-1.0.doc.zip", f.read())},
            )
        reply = await primary.request(
            "POST", "/alice/dev/", data=body,
            headers={**ALICE, "Content-Type": content_type},
        )
        self.assertEqual(reply.code, 200, reply)
        replica, replica_dir = await self.start_replica(self.primary_url)
        await wait_in_sync(primary.url, {replica.url: replica_dir})
        page = (await primary.request("GET", "/alice/dev/+simple/hello-pkg/", headers=SIMPLE_JSON)).json
        file_url = page["files"][0]["url"].split("/alice/dev/", 1)[1]
        for path, headers in [
            ("/alice", {}),
            ("/alice/dev", {}),
            ("/alice/dev/hello-pkg", {}),
            ("/alice/dev/hello-pkg/1.0", {}),
            ("/alice/dev/+simple/", HTML),
            ("/alice/dev/+simple/hello-pkg/", HTML),
            ("/alice/dev/+simple/hello-pkg/", SIMPLE_JSON),
            (f"/alice/dev/{file_url}", {"Accept": "*/*"}),
            ("/alice/dev/hello-pkg/1.0/+doc/index.html", {"Accept": "*/*"}),
        ]:
            headers = {**headers, "X-Outside-Url": "http://devpi.example"}
            on_primary = await primary.request("GET", path, headers=headers)
            on_replica = await replica.request("GET", path, headers=headers)
            with self.subTest(path=path):
                self.assertEqual(on_primary.code, 200, on_primary)
                self.assertEqual((on_replica.code, on_replica.body), (200, on_primary.body))
        status = await status_of(replica.url)
        primary_status = await status_of(primary.url)
        self.assertEqual(status["role"], "replica")
        self.assertEqual(status["primary-uuid"], primary_status["uuid"])
        self.assertEqual((status["replication-lag-serials"], status["replication-connected"]), (0, True))
        self.assertEqual(list(primary_status["replicas"]), [status["uuid"]])
        self.assertEqual(on_replica.header("X-Devpi-Primary-Uuid"), primary_status["uuid"])
        # the blobs came in the background, right after their commits
        sha = sha256_of(wheel)
        self.assertTrue(os.path.exists(blob_path(replica_dir, sha)))
        metrics = (await replica.request("GET", "/+metrics")).body.decode()
        self.assertIn("devpi_replication_lag_serials 0\n", metrics)
        self.assertIn(f"devpi_replication_primary_serial {primary_status['serial']}\n", metrics)
        self.assertIn("devpi_replication_connected 1\n", metrics)
        metrics = (await primary.request("GET", "/+metrics")).body.decode()
        self.assertIn("devpi_replicas_connected 1\n", metrics)

    async def test_large_blobs_are_streamed_to_disk(self) -> None:
        self.patch(replica_blobs, "SPOOL_LIMIT", 64)
        primary = await self.start_primary()
        wheel = await self.populate(primary)
        replica, replica_dir = await self.start_replica(self.primary_url)
        await wait_in_sync(primary.url, {replica.url: replica_dir})
        sha = sha256_of(wheel)
        with open(blob_path(replica_dir, sha), "rb") as f:
            self.assertEqual(hashlib.sha256(f.read()).hexdigest(), sha)

    async def test_commits_are_pushed_at_once(self) -> None:
        primary = await self.start_primary()
        replica, replica_dir = await self.start_replica(self.primary_url)
        await wait_in_sync(primary.url, {replica.url: replica_dir})
        for name in ("bob", "carol", "dave"):
            reply = await self.ok(primary, "PUT", f"/{name}", {"password": "pw"})
            serial = int(reply.header("X-Devpi-Serial") or 0)
            started = reactor.seconds()

            async def arrived() -> bool:
                return (await status_of(replica.url))["serial"] >= serial

            await wait_for(arrived, f"serial {serial}")
            # pushed, not polled: well under the 0.2 s heartbeat
            self.assertLess(reactor.seconds() - started, 0.5)
        self.assertEqual((await replica.request("GET", "/dave")).code, 200)

    async def test_writes_through_a_replica_are_read_back_at_once(self) -> None:
        primary = await self.start_primary()
        replica, replica_dir = await self.start_replica(self.primary_url)
        await wait_in_sync(primary.url, {replica.url: replica_dir})
        reply = await self.ok(replica, "PUT", "/alice", {"password": "secret"})
        self.assertEqual(reply.header("X-Devpi-Proxy"), "replica")
        self.assertEqual((await replica.request("GET", "/alice")).code, 200)
        login = await replica.request("POST", "/+login", json_body={"user": "alice", "password": "secret"})
        self.assertEqual(login.code, 200, login)
        token = login.json["result"]["password"]
        auth = devpi_auth("alice", token)
        reply = await replica.request("PUT", "/alice/dev", json_body={"bases": []}, headers=auth)
        self.assertEqual(reply.code, 200, reply)
        self.assertEqual((await replica.request("GET", "/alice/dev")).code, 200)
        wheel = make_wheel(self.mktemp(), "hello-pkg", "1.0")
        await self.upload(replica, wheel)
        page = await replica.request("GET", "/alice/dev/+simple/hello-pkg/", headers=SIMPLE_JSON)
        self.assertEqual([f["filename"] for f in page.json["files"]], [os.path.basename(wheel)])
        # the replica's token (signed with the shared secret) works on the replica's reads
        reply = await replica.request("GET", "/+api", headers=auth)
        self.assertEqual(reply.json["result"]["authstatus"][:2], ["ok", "alice"])
        # refused writes are relayed as the primary refused them
        reply = await replica.request("PUT", "/alice/dev", json_body={"bases": []}, headers=auth)
        self.assertEqual(reply.code, 409, reply)

    async def test_mirror_pages_and_files_through_a_replica(self) -> None:
        upstream = FakeUpstream()
        await upstream.start()
        self.addCleanup(upstream.stop)
        wheel = FakeFile.from_path(make_wheel(self.mktemp(), "up-pkg", "2.0"))
        upstream.add_project("up-pkg", [wheel], serial=10)
        primary = await self.start_primary()
        await self.ok(primary, "PATCH", "/root/pypi", {"mirror_url": upstream.simple_url})
        replica, replica_dir = await self.start_replica(self.primary_url)
        await wait_in_sync(primary.url, {replica.url: replica_dir})
        page = await replica.request("GET", "/root/pypi/+simple/up-pkg/", headers=SIMPLE_JSON)
        self.assertEqual(page.code, 200, page)
        [link] = page.json["files"]
        path = "/root/pypi/" + link["url"].split("/root/pypi/", 1)[1].split("#")[0]
        got = await replica.request("GET", path, headers={"Accept": "*/*"})
        self.assertEqual((got.code, hashlib.sha256(got.body).hexdigest()), (200, wheel.sha256))
        await wait_in_sync(primary.url, {replica.url: replica_dir})
        self.assertTrue(os.path.exists(blob_path(replica_dir, wheel.sha256)))
        names = await replica.request("GET", "/root/pypi/+simple/", headers=SIMPLE_JSON)
        self.assertIn("up-pkg", [p["name"] for p in names.json["projects"]])


class ReplicaAuthTests(ReplicationCase):
    async def test_stream_needs_a_replica_token(self) -> None:
        primary = await self.start_primary()
        await self.ok(primary, "PUT", "/alice", {"password": "secret"})
        reply = await primary.request("GET", "/+changelog/stream")
        self.assertEqual(reply.code, 401)
        self.assertNotIn(b"pwhash", reply.body)
        forged = ReplicaTokens(b"x" * 40, reactor).issue("a" * 32)
        reply = await primary.request("GET", "/+changelog/stream", headers={"Authorization": f"Bearer {forged}"})
        self.assertEqual(reply.code, 403)
        self.assertNotIn(b"pwhash", reply.body)
        reply = await primary.request("GET", "/+blobs/" + "0" * 64)
        self.assertEqual(reply.code, 401)
        self.assertNotIn("pwhash", json.dumps((await primary.request("GET", "/alice")).json))

    async def test_standalone_server_serves_no_replicas(self) -> None:
        server = await self.start(RunningServer(server_options(self.primary_dir)))
        token = ReplicaTokens(b"x" * 40, reactor).issue("a" * 32)
        reply = await server.request("GET", "/+changelog/stream", headers={"Authorization": f"Bearer {token}"})
        self.assertEqual(reply.code, 403)
        self.assertIn("--role primary", reply.json["message"])

    async def test_replica_store_is_read_only(self) -> None:
        primary = await self.start_primary()
        replica, replica_dir = await self.start_replica(self.primary_url)
        await wait_in_sync(primary.url, {replica.url: replica_dir})
        store = replica.service.getServiceNamed("store")._store
        self.assertTrue(store.read_only)


class ReplicaRecoveryTests(ReplicationCase):
    async def test_replica_serves_while_the_primary_is_down_and_catches_up(self) -> None:
        primary = await self.start_primary()
        wheel = await self.populate(primary)
        replica, replica_dir = await self.start_replica(self.primary_url)
        await wait_in_sync(primary.url, {replica.url: replica_dir})
        await self.stop(primary)

        async def disconnected() -> bool:
            return not (await status_of(replica.url))["replication-connected"]

        await wait_for(disconnected, "the replica to notice")
        page = await replica.request("GET", "/alice/dev/+simple/hello-pkg/", headers=SIMPLE_JSON)
        self.assertEqual([f["filename"] for f in page.json["files"]], [os.path.basename(wheel)])
        self.assertIsNotNone((await status_of(replica.url))["replication-error"])
        write = await replica.request("PUT", "/bob", json_body={"password": "x"})
        self.assertEqual(write.code, 502)
        primary = await self.start_primary()
        await self.upload(primary, make_wheel(self.mktemp(), "hello-pkg", "1.1"))
        await wait_in_sync(primary.url, {replica.url: replica_dir})
        page = await replica.request("GET", "/alice/dev/+simple/hello-pkg/", headers=SIMPLE_JSON)
        self.assertEqual(len(page.json["files"]), 2)
        self.assertIsNone((await status_of(replica.url))["replication-error"])

    async def test_replica_refuses_another_primary(self) -> None:
        primary = await self.start_primary()
        replica, replica_dir = await self.start_replica(self.primary_url)
        await wait_in_sync(primary.url, {replica.url: replica_dir})
        await self.stop(replica)
        secretfile = os.path.join(self.primary_dir, SECRET)
        other_dir = os.path.abspath(self.mktemp())
        other = await self.start(RunningServer(primary_options(other_dir, "--secretfile", secretfile)))
        replica, _ = await self.start_replica(other.url + "/", replica_dir)

        async def stopped() -> bool:
            return bool((await status_of(replica.url))["replication-stopped"])

        await wait_for(stopped, "the replica to refuse")
        self.assertIn("the replica follows", (await status_of(replica.url))["replication-error"])
        self.assertEqual((await replica.request("GET", "/root")).code, 200)

    async def test_primary_restored_from_an_older_backup(self) -> None:
        for commits, words in ((0, "older than the replica"), (3, "histories differ")):
            with self.subTest(commits=commits):
                await self.check_restored(commits, words)

    async def check_restored(self, commits: int, words: str) -> None:
        primary = await self.start_primary()
        await self.stop(primary)
        backup = os.path.abspath(self.mktemp())
        shutil.copytree(self.primary_dir, backup, ignore=shutil.ignore_patterns(".lock"))
        primary = await self.start_primary()
        for name in ("a1", "a2"):
            await self.ok(primary, "PUT", f"/{name}", {"password": "pw"})
        replica, replica_dir = await self.start_replica(self.primary_url)
        await wait_in_sync(primary.url, {replica.url: replica_dir})
        replica_serial = (await status_of(replica.url))["serial"]
        await self.stop(replica)
        await self.stop(primary)
        shutil.rmtree(self.primary_dir)
        shutil.copytree(backup, self.primary_dir)
        primary = await self.start_primary()
        for n in range(commits):
            await self.ok(primary, "PUT", f"/b{n}", {"password": "pw"})
        replica, _ = await self.start_replica(self.primary_url, replica_dir)

        async def stopped() -> bool:
            return bool((await status_of(replica.url))["replication-stopped"])

        await wait_for(stopped, "the replica to stop following")
        status = await status_of(replica.url)
        self.assertIn(words, status["replication-error"])
        # nothing of the restored primary's different history was applied
        self.assertEqual(status["serial"], replica_serial)
        self.assertEqual((await replica.request("GET", "/a2")).code, 200)
        await self.stop(replica)
        await self.stop(primary)
        shutil.rmtree(self.primary_dir)

    async def test_blob_missing_on_the_primary(self) -> None:
        primary = await self.start_primary()
        wheel = await self.populate(primary)
        sha = sha256_of(wheel)
        held = blob_path(self.primary_dir, sha) + ".held"
        os.rename(blob_path(self.primary_dir, sha), held)
        replica, replica_dir = await self.start_replica(self.primary_url)

        async def reported() -> bool:
            return sha in (await status_of(replica.url))["replication-errors"]

        await wait_for(reported, "the missing blob to be reported")
        page = (await replica.request("GET", "/alice/dev/+simple/hello-pkg/", headers=SIMPLE_JSON)).json
        path = "/alice/dev/" + page["files"][0]["url"].split("/alice/dev/", 1)[1].split("#")[0]
        reply = await replica.request("GET", path, headers={"Accept": "*/*"})
        self.assertEqual(reply.code, 502, reply)
        self.assertFalse(os.path.exists(blob_path(replica_dir, sha)))
        os.rename(held, blob_path(self.primary_dir, sha))
        reply = await replica.request("GET", path, headers={"Accept": "*/*"})
        self.assertEqual((reply.code, hashlib.sha256(reply.body).hexdigest()), (200, sha))
        self.assertEqual((await status_of(replica.url))["replication-errors"], {})

    async def test_corrupt_blob_on_the_primary_is_never_served(self) -> None:
        primary = await self.start_primary()
        wheel = await self.populate(primary)
        sha = sha256_of(wheel)
        os.chmod(blob_path(self.primary_dir, sha), 0o644)
        with open(blob_path(self.primary_dir, sha), "r+b") as f:
            f.write(b"XXXX")
        replica, replica_dir = await self.start_replica(self.primary_url)

        async def reported() -> bool:
            return sha in (await status_of(replica.url))["replication-errors"]

        await wait_for(reported, "the corrupt blob to be reported")
        self.assertIn("other bytes", (await status_of(replica.url))["replication-errors"][sha])
        self.assertFalse(os.path.exists(blob_path(replica_dir, sha)))

    async def test_replica_promoted_to_primary(self) -> None:
        primary = await self.start_primary()
        await self.populate(primary)
        replica, replica_dir = await self.start_replica(self.primary_url)
        await wait_in_sync(primary.url, {replica.url: replica_dir})
        await self.stop(replica)
        await self.stop(primary)
        secretfile = os.path.join(self.primary_dir, SECRET)
        promoted = await self.start(RunningServer(primary_options(replica_dir, "--secretfile", secretfile)))
        reply = await promoted.request("PUT", "/bob", json_body={"password": "x"})
        self.assertEqual(reply.code, 201, reply)
        page = await promoted.request("GET", "/alice/dev/+simple/hello-pkg/", headers=SIMPLE_JSON)
        self.assertEqual(len(page.json["files"]), 1)
