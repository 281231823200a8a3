"""The primary's feed to one replica: catch-up in batches, live commits, heartbeats, back-pressure."""

from __future__ import annotations

import os
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.logger import Logger
from twisted.trial.unittest import TestCase

from devpi_twisted.replication import feed as feed_module
from devpi_twisted.replication.feed import ReplicaFeeds, ReplicaPeer
from devpi_twisted.replication.frames import FrameDecoder, Heartbeat
from devpi_twisted.store.changelog import Entry, Store
from devpi_twisted.store.sqlite import SQLiteBackend
from tests.support import run_inline


class FakeTransport:
    def __init__(self) -> None:
        self.aborted = False

    def abortConnection(self) -> None:
        self.aborted = True


class StreamRequest:
    """Collects what a feed writes; the test plays the transport's back-pressure."""

    def __init__(self) -> None:
        self.written = bytearray()
        self.producer: Any = None
        self.transport = FakeTransport()
        self._finished: list[Deferred[None]] = []

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        assert streaming
        self.producer = producer

    def unregisterProducer(self) -> None:
        self.unregistered = True

    def write(self, data: bytes) -> None:
        self.written += data

    def notifyFinish(self) -> Deferred[None]:
        d: Deferred[None] = Deferred()
        self._finished.append(d)
        return d

    def lose_connection(self) -> None:
        for d in self._finished:
            d.errback(ConnectionError("gone"))

    def frames(self) -> list[Any]:
        return FrameDecoder().feed(bytes(self.written))


class FeedTests(TestCase):
    def setUp(self) -> None:
        path = os.path.join(self.mktemp(), "store.sqlite")
        os.makedirs(os.path.dirname(path))
        self.clock = Clock()
        self.store = Store(SQLiteBackend(path), run_inline, self.clock)
        self.addCleanup(self.store.close)
        self.feeds = ReplicaFeeds(self.store, run_inline, self.clock, 2.0, Logger())
        self.feeds.startService()
        self.addCleanup(self.feeds.stopService)

    def commit(self, n: int) -> None:
        for _ in range(n):
            serial = self.store.serial + 1
            self.clock.advance(1)
            self.store.transact_now(lambda txn: txn.set(f"k/{serial}", {"serial": serial}))

    def connect(self, since: int) -> tuple[StreamRequest, Deferred[None]]:
        request = StreamRequest()
        done = self.feeds.connect("a" * 32, request, since, ReplicaPeer("127.0.0.1", None, 0.0))  # type: ignore[arg-type]
        return request, done

    def serials(self, request: StreamRequest) -> list[int]:
        return [f.serial for f in request.frames() if isinstance(f, Entry)]

    def test_catches_up_from_since_then_streams_live(self) -> None:
        self.patch(feed_module, "CATCH_UP_BATCH", 3)
        self.commit(10)
        request, _ = self.connect(since=4)
        self.assertEqual(self.serials(request), list(range(4, 10)))
        self.commit(2)
        self.assertEqual(self.serials(request), list(range(4, 12)))
        entry = request.frames()[-1]
        self.assertEqual(entry.changes, {"k/11": '{"serial":11}'})
        self.assertEqual(entry.timestamp, self.store.last_commit_timestamp)

    def test_heartbeats_carry_the_primary_serial(self) -> None:
        self.commit(3)
        request, _ = self.connect(since=3)
        self.clock.advance(2.0)
        beats = [f for f in request.frames() if isinstance(f, Heartbeat)]
        self.assertEqual([b.serial for b in beats], [2, 2])

    def test_paused_feed_buffers_nothing_and_rereads_on_resume(self) -> None:
        self.commit(2)
        request, _ = self.connect(since=0)
        request.producer.pauseProducing()
        before = len(request.written)
        status = self.feeds.status()["a" * 32]
        self.assertEqual((status["since"], status["serial"], status["paused"]), (0, 1, True))
        self.commit(5)
        self.clock.advance(10)  # no heartbeats while paused either
        self.assertEqual(len(request.written), before)
        request.producer.resumeProducing()
        self.assertEqual(self.serials(request), list(range(0, 7)))
        status = self.feeds.status()["a" * 32]
        self.assertEqual((status["serial"], status["paused"]), (6, False))

    def test_replica_that_reads_nothing_is_cut_off(self) -> None:
        request, done = self.connect(since=0)
        request.producer.pauseProducing()
        self.clock.advance(feed_module.MAX_STALL + 1)
        self.assertTrue(request.transport.aborted)
        self.successResultOf(done)
        self.assertEqual(self.feeds.status(), {})

    def test_disconnect_forgets_the_replica(self) -> None:
        request, done = self.connect(since=0)
        self.assertEqual(list(self.feeds.status()), ["a" * 32])
        request.lose_connection()
        self.successResultOf(done)
        self.assertEqual(self.feeds.status(), {})
        self.commit(1)
        self.assertEqual(self.serials(request), [])

    def test_reconnect_replaces_the_old_stream(self) -> None:
        first, _ = self.connect(since=0)
        second, _ = self.connect(since=0)
        self.assertTrue(first.transport.aborted)
        self.commit(1)
        self.assertEqual(self.serials(second), [0])
        self.assertEqual(self.serials(first), [])

    def test_stopping_cuts_every_stream(self) -> None:
        request, done = self.connect(since=0)
        self.feeds.stopService()
        self.assertTrue(request.transport.aborted)
        self.successResultOf(done)
