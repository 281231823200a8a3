"""Replication under faults: cut, corrupted and stalled streams, killed servers, a burst of uploads; nothing is lost."""

from __future__ import annotations

import hashlib
import os
import re

from twisted.internet import reactor
from twisted.internet.defer import Deferred, gatherResults, succeed
from twisted.internet.task import deferLater

from tests.dists.archives import make_wheel
from tests.integration.test_twistd import free_port
from tests.replication.faulty_proxy import FaultyProxy, Pair, chunk
from tests.replication.support import (
    PRIMARY,
    ServersCase,
    Snapshot,
    add_users_offline,
    blob_files,
    blob_names,
    changelog_rows,
    login,
    normalized_kv,
    referenced_blobs,
    replayed,
    send,
    status,
    upload,
    wait_for,
    wait_in_sync,
)

#: Uploads in the burst, and how many clients make them at once.
BURST = 500
UPLOADERS = 4
REPLICA_SERIAL = re.compile(rb"x-devpi-replica-serial: (-?\d+)", re.IGNORECASE)


class StreamFaultTests(ServersCase):
    """The replica follows the primary through a proxy that breaks the stream."""

    def setUp(self) -> Deferred[None]:
        super().setUp()
        return Deferred.fromCoroutine(self.start_pair())

    async def start_pair(self) -> None:
        self.primary = await self.start_primary()
        self.proxy = await FaultyProxy(int(self.primary.url.rsplit(":", 1)[1])).start()
        self.addCleanup(self.proxy.stop)
        self.root = await login(self.primary.url, "root", "")
        self.replica, self.replica_dir = await self.start_replica(self.proxy.url)

    async def commit(self, description: str) -> int:
        """One commit on the primary (root's description); its serial."""
        code = await send(self.primary.url, "PATCH", "/root", self.root, {"description": description})
        self.assertEqual(code, 200)
        return (await status(self.primary.url))["serial"]  # type: ignore[no-any-return]

    async def in_sync(self, seconds: float = 20) -> int:
        return await wait_in_sync(self.primary.url, {self.replica.url: self.replica_dir}, seconds)

    def resumed_from(self, pair: Pair) -> int:
        """The serial the replica said it had when it opened C{pair}."""
        match = REPLICA_SERIAL.search(bytes(pair.requested))
        assert match is not None, bytes(pair.requested)
        return int(match.group(1))

    async def test_cut_in_the_middle_of_a_live_frame(self) -> None:
        await self.commit("before")
        await self.in_sync()
        self.proxy.cut_after(10_000)
        serial = await self.commit("x" * 30_000)
        await self.in_sync()
        self.assertEqual(self.proxy.cuts, 1)
        cut, after = self.proxy.pairs
        partial = bytes(cut.forwarded).rsplit(b"\n", 1)[1]
        self.assertTrue(partial.startswith(b'{"serial":%d,' % serial), partial[:100])
        self.assertFalse(cut.open)
        self.assertEqual(self.resumed_from(after), serial - 1)
        self.assertIdentical(self.replica_dir)
        replica = await status(self.replica.url)
        self.assertEqual((replica["replication-connected"], replica["replication-error"]), (True, None))

    async def test_cut_in_the_middle_of_a_catch_up(self) -> None:
        synced = await self.in_sync()
        await self.replica.stop()
        self.servers.remove(self.replica)
        for n in range(30):
            await self.commit(f"{n}" * 5_000)
        self.proxy.cut_after(70_000)
        self.replica, _ = await self.start_replica(self.proxy.url, self.replica_dir)
        await self.in_sync()
        self.assertEqual(self.proxy.cuts, 1)
        _, first, second = self.proxy.pairs
        self.assertEqual(self.resumed_from(first), synced)
        # the second stream resumes after the last frame the first one brought whole
        resumed = self.resumed_from(second)
        partial = bytes(first.forwarded).rsplit(b"\n", 1)[1]
        self.assertTrue(partial.startswith(b'{"serial":%d,' % (resumed + 1)), partial[:100])
        self.assertIdentical(self.replica_dir)

    async def test_frames_that_do_not_parse(self) -> None:
        garbage = [
            chunk(b"this is not a frame\n"),
            chunk(b'{"serial": 3, "timestamp": "noon", "changes": {}}\n'),
            chunk(b'{"serial": 99999, "timestamp": 1.0, "changes": {}}\n'),
            b"not a chunk at all\r\n",
        ]
        for n, data in enumerate(garbage):
            await self.commit(f"before {n}")
            await self.in_sync()
            (pair,) = self.proxy.open_pairs
            dropped = self.proxy.changed()
            self.proxy.inject(data)
            await dropped
            self.assertTrue(pair.closed_by_replica, data)
            await self.commit(f"after {n}")
            await self.in_sync()
        self.assertEqual(len(self.proxy.pairs), 1 + len(garbage))
        self.assertIdentical(self.replica_dir)

    async def test_reconnects_after_each_of_many_faults(self) -> None:
        # each reconnect starts from the shortest wait (a stream that worked resets
        # the backoff): tests.replication.test_follower, on a clock
        for n in range(6):
            await self.in_sync()
            self.proxy.cut_after(0)
            await self.commit(f"cut {n}")
            await self.in_sync()
        self.assertEqual(self.proxy.cuts, 6)
        self.assertIdentical(self.replica_dir)

    async def test_a_repeated_frame_is_not_applied_again(self) -> None:
        serial = await self.commit("original")
        await self.in_sync()
        self.proxy.inject(chunk(b'{"serial":%d,"timestamp":1.0,"changes":{"user/root":null}}\n' % serial))
        await self.commit("next")
        await self.in_sync()
        self.assertEqual(len(self.proxy.pairs), 1)
        self.assertIdentical(self.replica_dir)

    async def test_stall_without_heartbeat(self) -> None:
        await self.in_sync()
        (stalled,) = self.proxy.open_pairs
        self.proxy.stall()
        serial = await self.commit("during the stall")
        await wait_for(lambda: succeed(not stalled.open), "the replica to drop the stalled stream")
        self.assertTrue(stalled.closed_by_replica)
        replica = await status(self.replica.url)
        self.assertFalse(replica["replication-connected"])
        # 3 * 0.2 + 1 seconds after the last heartbeat got through (not the default 3 * 2 + 1)
        self.assertIn("no heartbeat from the primary for 1.6s", replica["replication-error"])
        self.assertLess(replica["serial"], serial)
        self.proxy.resume()
        self.assertEqual(await self.in_sync(), serial)
        self.assertIdentical(self.replica_dir)


class KilledServerTests(ServersCase):
    """A primary or a replica dies by SIGKILL in the middle of replicating and is started again."""

    async def test_primary_killed_while_uploads_stream_to_the_replica(self) -> None:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        args = (*PRIMARY, "--listen", f"tcp:{port}:interface=127.0.0.1")
        primary = self.twistd_devpi(self.primary_dir, *args)
        await primary.listening
        root = await login(url, "root", "")
        self.assertEqual(await send(url, "PUT", "/root/dev", root, {"bases": [], "volatile": True}), 200)
        replica, replica_dir = await self.start_replica(url + "/")
        wheel_dir = self.mktemp()
        remaining = [make_wheel(wheel_dir, f"pkg{n % 7}", f"1.{n}") for n in range(90)]
        answers: dict[str, int] = {}

        async def uploader() -> None:
            while remaining:
                wheel = remaining.pop(0)
                try:
                    code = await upload(url, "root/dev", wheel, root)
                except Exception:
                    code = 0  # the primary is down: try again later
                if code == 0 or code >= 500:
                    remaining.append(wheel)
                    await deferLater(reactor, 0.1, lambda: None)
                else:
                    answers[os.path.basename(wheel)] = code

        uploading = gatherResults([Deferred.fromCoroutine(uploader()) for _ in range(3)])
        start = (await status(replica.url))["serial"]

        async def followed_some() -> bool:
            return (await status(replica.url))["serial"] >= start + 15

        await wait_for(followed_some, "the replica to follow some uploads")
        await self.kill(primary)
        killed_at = (await status(replica.url))["serial"]
        self.assertTrue(remaining, "the uploads ended before the primary was killed")
        restarted = self.twistd_devpi(self.primary_dir, *args)
        self.assertEqual(await restarted.listening, port)
        await uploading
        final = await wait_in_sync(url, {replica.url: replica_dir})
        self.assertEqual(set(answers.values()), {200})
        self.assertEqual(len(answers), 90)
        self.assertLess(killed_at, final)
        self.assertNotIn(b"Traceback", restarted.output)
        # a blob published just before the kill may have no commit on the primary
        self.assertIdentical(replica_dir, primary_orphans=True)
        stored = blob_files(replica_dir)
        for name in answers:
            with open(os.path.join(wheel_dir, name), "rb") as f:
                self.assertIn(hashlib.sha256(f.read()).hexdigest(), stored)

    async def test_replica_killed_while_applying_a_catch_up(self) -> None:
        await (await self.start_primary()).stop()
        self.servers.clear()
        total = add_users_offline(self.primary_dir, 3000)
        primary = await self.start_primary()
        # the replica gets only the stream's first bytes, so it is killed mid catch-up on any machine
        proxy = await FaultyProxy(int(primary.url.rsplit(":", 1)[1])).start()
        self.addCleanup(proxy.stop)
        proxy.stall_after(256 * 1024)
        replica_dir = self.new_replica_dir()
        replica = self.twistd_devpi(replica_dir, *self.replica_args(proxy.url))
        replica_url = f"http://127.0.0.1:{await replica.listening}"

        async def applying() -> bool:
            return bool((await status(replica_url))["serial"] > 0)

        await wait_for(applying, "the replica to apply part of the catch-up", seconds=10)
        await self.kill(replica)
        args = self.replica_args(primary.url + "/")
        rows = changelog_rows(replica_dir)
        # each batch is all or nothing: what is stored is a prefix of the primary's changelog
        self.assertTrue(0 < len(rows) < total, (len(rows), total))
        self.assertEqual(rows, changelog_rows(self.primary_dir)[: len(rows)])
        self.assertEqual(normalized_kv(replica_dir), replayed(rows))
        again = self.twistd_devpi(replica_dir, *args)
        replica_url = f"http://127.0.0.1:{await again.listening}"
        self.assertEqual(await wait_in_sync(primary.url, {replica_url: replica_dir}), total)
        self.assertIn(b"from serial %d" % len(rows), again.output)
        self.assertNotIn(b"Traceback", again.output)
        self.assertIdentical(replica_dir)

    async def test_replica_killed_before_fetching_the_blobs_of_applied_commits(self) -> None:
        primary = await self.start_primary()
        proxy = await FaultyProxy(int(primary.url.rsplit(":", 1)[1])).start()
        self.addCleanup(proxy.stop)
        root = await login(primary.url, "root", "")
        self.assertEqual(await send(primary.url, "PUT", "/root/dev", root, {"bases": [], "volatile": True}), 200)
        replica_dir = self.new_replica_dir()
        args = self.replica_args(proxy.url)
        replica = self.twistd_devpi(replica_dir, *args)
        replica_url = f"http://127.0.0.1:{await replica.listening}"
        await wait_in_sync(primary.url, {replica_url: replica_dir})
        proxy.refuse()  # the stream goes on, blob downloads fail
        wheel_dir = self.mktemp()
        for n in range(3):
            self.assertEqual(await upload(primary.url, "root/dev", make_wheel(wheel_dir, "pkg", f"1.{n}"), root), 200)
        target = (await status(primary.url))["serial"]

        async def applied() -> bool:
            return bool((await status(replica_url))["serial"] == target)

        await wait_for(applied, "the replica to apply the uploads")
        missing = referenced_blobs(replica_dir) - blob_names(replica_dir)
        self.assertEqual(len(missing), 6)  # each wheel and its METADATA
        await self.kill(replica)
        proxy.resume()
        again = self.twistd_devpi(replica_dir, *args)
        replica_url = f"http://127.0.0.1:{await again.listening}"
        # nothing asks for the files: the replica fetches what it misses by itself
        await wait_in_sync(primary.url, {replica_url: replica_dir}, seconds=10)
        self.assertIdentical(replica_dir)


class BurstTests(ServersCase):
    """Many clients upload to the primary at once while two replicas follow."""

    async def test_two_replicas_under_a_burst_of_uploads(self) -> None:
        # the primary in its own process: it and the replicas get a core each
        process = self.twistd_devpi(self.primary_dir, *PRIMARY, "--listen", "tcp:0:interface=127.0.0.1")
        url = f"http://127.0.0.1:{await process.listening}"
        replicas = dict([await self.start_replica(url + "/") for _ in range(2)])
        root = await login(url, "root", "")
        self.assertEqual(await send(url, "PUT", "/root/dev", root, {"bases": [], "volatile": True}), 200)
        wheel_dir = self.mktemp()
        remaining = [make_wheel(wheel_dir, f"burst{n % 25}", f"1.{n}") for n in range(BURST)]
        codes: list[int] = []

        async def uploader() -> None:
            while remaining:
                codes.append(await upload(url, "root/dev", remaining.pop(), root))

        await gatherResults([Deferred.fromCoroutine(uploader()) for _ in range(UPLOADERS)])
        self.assertEqual(codes, [200] * BURST)
        serial = await wait_in_sync(url, {server.url: path for server, path in replicas.items()}, 30)
        expected = Snapshot.of(self.primary_dir)
        self.assertEqual(expected.serial, serial)
        self.assertEqual(len(blob_files(self.primary_dir)), 2 * BURST)  # each wheel and its METADATA
        for path in replicas.values():
            self.assertEqual(Snapshot.of(path), expected)
