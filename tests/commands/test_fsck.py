"""devpi-twisted fsck: missing and corrupt files found, also beside a running server, and repaired."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

from twisted.internet.defer import Deferred
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import TestCase

from devpi_twisted.commands.fsck import find_damage, still_referred_to
from devpi_twisted.commands.fsck_repair import Source, repair
from devpi_twisted.commands.offline import open_offline, open_readonly
from devpi_twisted.dists.metadata import read_core_metadata
from devpi_twisted.model import keys, releases
from devpi_twisted.model.bootstrap import bootstrap
from devpi_twisted.model.indexes import stage_defaults
from devpi_twisted.model.releases import StoredBlob
from devpi_twisted.serverdir import BLOBS, open_serverdir
from devpi_twisted.store.blobs import FileBlobStore, IBlobWriter
from devpi_twisted.store.changelog import Transaction
from devpi_twisted.store.locations import BlobLocation
from tests.commands.console import Outcome, run_command
from tests.dists.archives import make_wheel
from tests.mirror.fake_upstream import FakeFile, FakeUpstream
from tests.support import CHEAP_ARGON2, RunningServer, basic_auth, server_options

NOW = 1_800_000_000.0
SDIST = b"the bytes of hello_pkg-1.0.tar.gz"
GARBAGE = b"not what was stored"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Stored:
    """The files of hello-pkg 1.0 on root/dev: their relpaths and blob digests."""

    wheel: str
    wheel_sha256: str
    metadata_sha256: str
    sdist: str
    sdist_sha256: str


def make_serverdir(path: str, wheel_path: str) -> Stored:
    """A server directory whose root/dev holds the wheel at C{wheel_path} (with its METADATA) and an sdist."""
    with open(wheel_path, "rb") as f:
        wheel = f.read()
    wheel_name = os.path.basename(wheel_path)
    metadata = read_core_metadata(wheel_path, wheel_name)
    with open_offline(path) as server:
        for data in (wheel, metadata, SDIST):
            writer = server.blobs.writer()
            writer.write(data)
            writer.commit()
        pwhash = CHEAP_ARGON2.hash("")

        def populate(txn: Transaction) -> tuple[str, str]:
            bootstrap(txn, pwhash, NOW)
            txn.set(keys.index("root", "dev"), stage_defaults("root"))
            meta = {"name": "hello-pkg", "version": "1.0"}
            blobs = [
                StoredBlob(wheel_name, sha256(wheel), len(wheel), sha256(metadata)),
                StoredBlob("hello_pkg-1.0.tar.gz", sha256(SDIST), len(SDIST)),
            ]
            wheel_out, sdist_out = [
                releases.add_release_file(txn, "root", "dev", meta, blob, "root", NOW) for blob in blobs
            ]
            return wheel_out.relpath, sdist_out.relpath

        wheel_relpath, sdist_relpath = server.store.transact_now(populate).result
    return Stored(wheel_relpath, sha256(wheel), sha256(metadata), sdist_relpath, sha256(SDIST))


class BlobFiles:
    """The blob files of a server directory, to break them."""

    def __init__(self, serverdir: str) -> None:
        self.blobs = FileBlobStore(os.path.join(serverdir, BLOBS))

    def remove(self, digest: str) -> None:
        os.remove(self.blobs.path(digest))

    def corrupt(self, digest: str) -> None:
        with open(self.blobs.path(digest), "wb") as f:
            f.write(GARBAGE)

    def digest(self, digest: str) -> str:
        """The sha256 of what the blob file now holds."""
        with open(self.blobs.path(digest), "rb") as f:
            return sha256(f.read())

    def kept(self) -> dict[str, bytes]:
        """The corrupt blobs fsck kept aside, by file name."""
        folder = os.path.join(self.blobs.root, "corrupt")
        if not os.path.isdir(folder):
            return {}
        found = {}
        for name in os.listdir(folder):
            with open(os.path.join(folder, name), "rb") as f:
                found[name] = f.read()
        return found


class CheckTests(TestCase):
    """fsck of root/dev with a wheel, its METADATA and an sdist (three files)."""

    def setUp(self) -> None:
        self.path = os.path.abspath(self.mktemp())
        self.stored = make_serverdir(self.path, make_wheel(self.mktemp(), "hello-pkg", "1.0"))
        self.files = BlobFiles(self.path)

    def fsck(self, *args: str) -> Outcome:
        return run_command("fsck", "--serverdir", self.path, *args)

    def test_all_in_order(self) -> None:
        outcome = self.fsck()
        self.assertEqual(outcome.code, 0, outcome)
        self.assertIn("Finished with a total of 3 files.", outcome.out)
        self.assertNotIn("missing", outcome.out)
        self.assertEqual(outcome.err, "")

    def test_finds_a_missing_and_a_corrupt_file(self) -> None:
        self.files.remove(self.stored.sdist_sha256)
        self.files.corrupt(self.stored.wheel_sha256)
        outcome = self.fsck()
        self.assertEqual(outcome.code, 1, outcome)
        self.assertIn(f"Missing file {self.stored.sdist}\n", outcome.out)
        self.assertIn(
            f"Corrupt file {self.stored.wheel} - sha256 is {sha256(GARBAGE)},"
            f" expected {self.stored.wheel_sha256}\n",
            outcome.out,
        )
        self.assertIn("Finished with a total of 3 files.", outcome.out)
        self.assertIn("A total of 1 files are missing.", outcome.out)
        self.assertIn("A total of 1 files are corrupt.", outcome.out)
        self.assertIn("There have been errors during consistency check.", outcome.err)
        self.assertEqual(self.files.digest(self.stored.wheel_sha256), sha256(GARBAGE))
        self.assertEqual(self.files.kept(), {})

    def test_no_checksum_only_checks_existence_and_size(self) -> None:
        with open(self.files.blobs.path(self.stored.sdist_sha256), "wb") as f:
            f.write(b"x" * len(SDIST))  # other bytes of the same size: not read
        outcome = self.fsck("--no-checksum")
        self.assertEqual(outcome.code, 0, outcome)
        self.assertNotIn("Corrupt", outcome.out)
        self.files.corrupt(self.stored.wheel_sha256)
        outcome = self.fsck("--no-checksum")
        self.assertEqual(outcome.code, 1, outcome)
        self.assertIn(f"Corrupt file {self.stored.wheel} - size is {len(GARBAGE)}, expected ", outcome.out)
        self.files.remove(self.stored.sdist_sha256)
        outcome = self.fsck("--no-checksum")
        self.assertEqual(outcome.code, 1, outcome)
        self.assertIn(f"Missing file {self.stored.sdist}\n", outcome.out)

    def test_every_file_of_a_shared_blob_is_listed(self) -> None:
        def copy_to_prod(txn: Transaction) -> str:
            txn.set(keys.index("root", "prod"), stage_defaults("root"))
            blob = StoredBlob("hello_pkg-1.0.tar.gz", self.stored.sdist_sha256, len(SDIST))
            meta = {"name": "hello-pkg", "version": "1.0"}
            return releases.add_release_file(txn, "root", "prod", meta, blob, "root", NOW).relpath

        with open_offline(self.path) as server:
            prod = server.store.transact_now(copy_to_prod).result
        self.files.remove(self.stored.sdist_sha256)
        outcome = self.fsck()
        self.assertEqual(outcome.code, 1)
        self.assertIn(f"Missing file {self.stored.sdist}\n", outcome.out)
        self.assertIn(f"Missing file {prod}\n", outcome.out)
        self.assertIn("Finished with a total of 4 files.", outcome.out)
        self.assertIn("A total of 2 files are missing.", outcome.out)

    def test_runs_while_the_directory_is_locked(self) -> None:
        self.files.remove(self.stored.sdist_sha256)
        locked = open_serverdir(self.path)
        self.addCleanup(locked.close)
        outcome = self.fsck()
        self.assertEqual(outcome.code, 1, outcome)
        self.assertIn(f"Missing file {self.stored.sdist}\n", outcome.out)

    def test_files_deleted_after_the_check_began_are_not_reported(self) -> None:
        self.files.remove(self.stored.sdist_sha256)
        with open_readonly(self.path) as server:
            total, damaged = find_damage(server, checksum=True)
        self.assertEqual([d.relpaths for d in damaged], [(self.stored.sdist,)])
        with open_offline(self.path) as server:
            server.store.transact_now(
                lambda txn: releases.delete_file(txn, "root", "dev", self.stored.sdist, force=False)
            )
        self.assertEqual(still_referred_to(self.path, BlobLocation(), damaged), [])

    def test_a_missing_server_directory_is_not_created(self) -> None:
        missing = os.path.abspath(self.mktemp())
        outcome = run_command("fsck", "--serverdir", missing)
        self.assertEqual(outcome.code, 1)
        self.assertIn("no server directory", outcome.err)
        self.assertFalse(os.path.exists(missing))

    def test_wheel_metadata_is_repaired_from_the_stored_wheel(self) -> None:
        self.files.remove(self.stored.metadata_sha256)
        outcome = self.fsck("--repair-from-upstream")
        self.assertEqual(outcome.code, 0, outcome)
        self.assertIn(
            f"Repaired {self.stored.wheel}.metadata from the stored {self.stored.wheel}", outcome.out
        )
        self.assertEqual(self.files.digest(self.stored.metadata_sha256), self.stored.metadata_sha256)
        self.assertEqual(self.fsck().code, 0)

    def test_an_uploaded_file_has_no_upstream(self) -> None:
        self.files.remove(self.stored.sdist_sha256)
        outcome = self.fsck("--repair-from-upstream")
        self.assertEqual(outcome.code, 1, outcome)
        self.assertIn(f"Could not repair {self.stored.sdist}", outcome.out)
        self.assertIn("Repaired 0 of 1 broken files.", outcome.out)

    def test_repair_from_needs_an_http_url(self) -> None:
        outcome = self.fsck("--repair-from", "/srv/other")
        self.assertEqual(outcome.code, 2)
        self.assertIn("is not an http(s) URL", outcome.err)


class RepairTests(TestCase):
    """L{repair} publishes only the exact bytes, keeping a corrupt blob aside."""

    def setUp(self) -> None:
        self.blobs = FileBlobStore(os.path.abspath(self.mktemp()))
        writer = self.blobs.writer()
        writer.write(GARBAGE)
        writer.finish()
        self.digest = sha256(b"the good bytes")
        # the garbage where the good bytes belong: a corrupt blob
        os.makedirs(os.path.dirname(self.blobs.path(self.digest)))
        os.replace(writer.temp_path, self.blobs.path(self.digest))
        self.failures: list[str] = []

    def source(self, data: bytes) -> Source:
        return Source(f"{len(data)} bytes", lambda writer: writer.write(data))

    def attempt(self, *sources: Source) -> object:
        return repair(
            self.blobs, self.digest, True, iter(sources),
            lambda source, why: self.failures.append(f"{source.description}: {why}"),
        )

    def content(self) -> bytes:
        with self.blobs.open(self.digest) as f:
            return f.read()

    def test_other_bytes_are_not_published(self) -> None:
        self.assertIsNone(self.attempt(self.source(b"other bytes")))
        self.assertEqual(self.content(), GARBAGE)
        self.assertEqual(len(self.failures), 1)
        self.assertIn("other bytes: sha256 is", self.failures[0])
        self.assertEqual(os.listdir(self.blobs.temp_dir), [])
        self.assertFalse(os.path.exists(os.path.join(self.blobs.root, "corrupt")))

    def test_a_failing_source_is_skipped_and_the_corrupt_blob_kept(self) -> None:
        def broken(writer: IBlobWriter) -> None:
            writer.write(b"half")
            raise ConnectionResetError("connection reset")

        repaired = self.attempt(Source("broken", broken), self.source(b"the good bytes"))
        self.assertEqual(self.failures, ["broken: connection reset"])
        self.assertEqual(self.content(), b"the good bytes")
        self.assertEqual(repaired.source, "14 bytes")  # type: ignore[attr-defined]
        with open(repaired.kept, "rb") as f:  # type: ignore[attr-defined]
            self.assertEqual(f.read(), GARBAGE)
        self.assertEqual(os.listdir(self.blobs.temp_dir), [])


def in_thread(*argv: str) -> Deferred[Outcome]:
    """Run a command in a thread: its blocking downloads need the reactor free to serve them."""
    return deferToThread(run_command, *argv)


class RepairFromServerTests(TestCase):
    """
    Server A and server B hold the same files on root/dev; fsck repairs B's
    broken blobs from A while B runs.
    """

    timeout = 30

    async def setUp(self) -> None:
        wheel = make_wheel(self.mktemp(), "hello-pkg", "1.0")
        self.path_a = os.path.abspath(self.mktemp())
        self.path_b = os.path.abspath(self.mktemp())
        make_serverdir(self.path_a, wheel)
        self.stored = make_serverdir(self.path_b, wheel)
        self.server_a = await RunningServer(server_options(self.path_a)).start()
        self.addCleanup(self.server_a.stop)
        self.server_b = await RunningServer(server_options(self.path_b)).start()
        self.addCleanup(self.server_b.stop)
        self.files = BlobFiles(self.path_b)

    async def test_missing_and_corrupt_files_are_fetched_from_the_other_server(self) -> None:
        self.files.remove(self.stored.sdist_sha256)
        self.files.corrupt(self.stored.wheel_sha256)
        broken = await self.server_b.request("GET", "/" + self.stored.sdist, headers={"Accept": "*/*"})
        self.assertEqual(broken.code, 500)
        outcome = await in_thread(
            "fsck", "--serverdir", self.path_b, "--repair-from", self.server_a.url + "/"
        )
        self.assertEqual(outcome.code, 0, outcome)
        self.assertIn(f"Missing file {self.stored.sdist}\n", outcome.out)
        self.assertIn(f"Repaired {self.stored.sdist} from {self.server_a.url}/{self.stored.sdist}\n", outcome.out)
        self.assertIn(f"Repaired {self.stored.wheel} from {self.server_a.url}/{self.stored.wheel}\n", outcome.out)
        self.assertIn("Repaired 2 of 2 broken files.", outcome.out)
        self.assertEqual(self.files.digest(self.stored.wheel_sha256), self.stored.wheel_sha256)
        self.assertEqual(list(self.files.kept().values()), [GARBAGE])
        fixed = await self.server_b.request("GET", "/" + self.stored.sdist, headers={"Accept": "*/*"})
        self.assertEqual((fixed.code, fixed.body), (200, SDIST))
        self.assertEqual((await in_thread("fsck", "--serverdir", self.path_b)).code, 0)

    async def test_a_source_without_the_file_repairs_nothing(self) -> None:
        BlobFiles(self.path_a).remove(self.stored.wheel_sha256)
        self.files.corrupt(self.stored.wheel_sha256)
        outcome = await in_thread(
            "fsck", "--serverdir", self.path_b, "--repair-from", self.server_a.url
        )
        self.assertEqual(outcome.code, 1, outcome)
        self.assertIn(f"  not from {self.server_a.url}/{self.stored.wheel}: HTTP Error 500", outcome.out)
        self.assertIn(f"Could not repair {self.stored.wheel}", outcome.out)
        self.assertEqual(self.files.digest(self.stored.wheel_sha256), sha256(GARBAGE))
        self.assertEqual(self.files.kept(), {})


class RepairFromUpstreamTests(TestCase):
    """A mirror root/up of a fake upstream (which wants a password), with hello-pkg's wheel downloaded through it."""

    timeout = 30

    async def setUp(self) -> None:
        self.upstream = FakeUpstream()
        await self.upstream.start()
        self.addCleanup(self.upstream.stop)
        self.wheel = FakeFile.from_path(make_wheel(self.mktemp(), "hello-pkg", "1.0"))
        self.upstream.add_project("hello-pkg", [self.wheel])
        self.path = os.path.abspath(self.mktemp())
        self.server = await RunningServer(server_options(self.path)).start()
        self.addCleanup(self.server.stop)
        mirror_url = self.upstream.simple_url.replace("http://", "http://fsck:pa55@")
        config = {"type": "mirror", "mirror_url": mirror_url}
        reply = await self.server.request("PUT", "/root/up", config, headers=basic_auth("root", ""))
        self.assertEqual(reply.code, 200, reply)
        page = await self.server.request(
            "GET", "/root/up/+simple/hello-pkg/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
        )
        self.relpath = "root/up/+f/" + page.json["files"][0]["url"].split("/+f/", 1)[1].split("#")[0]
        first = await self.server.request("GET", "/" + self.relpath, headers={"Accept": "*/*"})
        self.assertEqual(sha256(first.body), self.wheel.sha256)
        self.files = BlobFiles(self.path)

    async def test_a_missing_mirror_file_is_fetched_from_upstream_again(self) -> None:
        self.files.remove(self.wheel.sha256)
        outcome = await in_thread("fsck", "--serverdir", self.path, "--repair-from-upstream")
        self.assertEqual(outcome.code, 0, outcome)
        self.assertIn(f"Repaired {self.relpath} from {self.upstream.file_url(self.wheel.filename)}\n", outcome.out)
        downloads = self.upstream.requests_to("/files/" + self.wheel.filename)
        self.assertEqual(len(downloads), 2)
        self.assertEqual(downloads[1].header("Authorization"), "Basic ZnNjazpwYTU1")
        self.assertTrue(downloads[1].header("User-Agent").startswith("devpi-twisted-fsck/"))
        self.assertNotIn("pa55", outcome.out + outcome.err)
        again = await self.server.request("GET", "/" + self.relpath, headers={"Accept": "*/*"})
        self.assertEqual((again.code, sha256(again.body)), (200, self.wheel.sha256))

    async def test_wrong_bytes_from_upstream_replace_nothing(self) -> None:
        self.files.corrupt(self.wheel.sha256)
        self.upstream.garbage("/files/", body=b"upstream changed the file")
        outcome = await in_thread("fsck", "--serverdir", self.path, "--repair-from-upstream")
        self.assertEqual(outcome.code, 1, outcome)
        self.assertIn("other bytes: sha256 is", outcome.out)
        self.assertEqual(self.files.digest(self.wheel.sha256), sha256(GARBAGE))
        self.assertEqual(self.files.kept(), {})
