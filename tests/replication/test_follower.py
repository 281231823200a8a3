"""The follower's reconnect rhythm: exponential backoff with jitter, reset by progress, stopped cleanly."""

from __future__ import annotations

import os
import random
from typing import Any

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.protocol import Protocol
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase
from twisted.web.client import ResponseDone
from twisted.web.http_headers import Headers

from devpi_twisted.auth.replicas import ReplicaTokens
from devpi_twisted.replication import follower as follower_module
from devpi_twisted.replication.follower import Follower
from devpi_twisted.replication.frames import heartbeat_frame
from devpi_twisted.replication.status import ReplicaStatus
from devpi_twisted.store.blobs import FileBlobStore
from devpi_twisted.store.changelog import Store
from devpi_twisted.store.sqlite import SQLiteBackend
from tests.support import run_inline

UUID = "0123456789abcdef0123456789abcdef"


class RefusingHTTP:
    """Every connection attempt fails; records when it was made."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.attempts: list[float] = []
        self.pending: list[Deferred[Any]] = []

    def get(self, url: str, **kwargs: Any) -> Deferred[Any]:
        self.attempts.append(self.clock.seconds())
        return fail(ConnectionRefusedError("refused"))


class HangingHTTP(RefusingHTTP):
    """The connection attempt never completes (until cancelled)."""

    def get(self, url: str, **kwargs: Any) -> Deferred[Any]:
        self.attempts.append(self.clock.seconds())
        d: Deferred[Any] = Deferred()
        self.pending.append(d)
        return d


class EndingStream:
    """A stream from the primary that brings one heartbeat and ends."""

    code = 200
    headers = Headers({b"x-devpi-uuid": [UUID.encode()], b"x-devpi-heartbeat": [b"2"]})

    def deliverBody(self, protocol: Protocol) -> None:
        protocol.makeConnection(StringTransport())
        protocol.dataReceived(heartbeat_frame(0, 1.0))
        protocol.connectionLost(Failure(ResponseDone()))


class StreamOnceHTTP(RefusingHTTP):
    """Refuses C{refusals} attempts, then streams once (L{EndingStream}), then refuses again."""

    def __init__(self, clock: Clock, refusals: int) -> None:
        super().__init__(clock)
        self.refusals = refusals

    def get(self, url: str, **kwargs: Any) -> Deferred[Any]:
        self.attempts.append(self.clock.seconds())
        if len(self.attempts) == self.refusals + 1:
            return succeed(EndingStream())
        return fail(ConnectionRefusedError("refused"))


class MaxRandom(random.Random):
    """Jitter at its upper bound, so delays are predictable."""

    def uniform(self, a: float, b: float) -> float:
        return b


class FollowerTests(TestCase):
    def make(self, http: RefusingHTTP) -> tuple[Follower, ReplicaStatus]:
        directory = self.mktemp()
        os.makedirs(directory)
        store = Store(SQLiteBackend(os.path.join(directory, "s.sqlite")), run_inline, http.clock)
        self.addCleanup(store.close)
        status = ReplicaStatus("http://primary/", 0.0)
        follower = Follower(
            store, FileBlobStore(os.path.join(directory, "blobs")), lambda digests: None,
            http,  # type: ignore[arg-type]
            ReplicaTokens(b"s" * 40, http.clock), UUID, None, status, lambda uuid: None,
            run_inline, http.clock, MaxRandom(), Logger(),
        )
        return follower, status

    def test_backoff_doubles_up_to_the_limit(self) -> None:
        http = RefusingHTTP(Clock())
        follower, status = self.make(http)
        follower.startService()
        for _ in range(int(12 * follower_module.MAX_BACKOFF / 0.5)):
            http.clock.advance(0.5)
        gaps = [b - a for a, b in zip(http.attempts, http.attempts[1:])]
        self.assertEqual(gaps[:6], [0.5, 1.0, 2.0, 4.0, 8.0, 16.0])
        self.assertEqual(set(gaps[7:]), {30.0})
        self.assertIn("refused", status.error or "")
        self.assertFalse(status.connected)
        self.successResultOf(follower.stopService())
        attempts = len(http.attempts)
        http.clock.advance(100)
        self.assertEqual(len(http.attempts), attempts)
        self.assertEqual(http.clock.getDelayedCalls(), [])

    def test_a_stream_that_brought_frames_resets_the_backoff(self) -> None:
        http = StreamOnceHTTP(Clock(), refusals=5)
        follower, status = self.make(http)
        follower.startService()
        for _ in range(200):
            http.clock.advance(0.5)
        gaps = [b - a for a, b in zip(http.attempts, http.attempts[1:])]
        # doubling while refused; after the stream, from the shortest wait again
        self.assertEqual(gaps[:8], [0.5, 1.0, 2.0, 4.0, 8.0, 0.5, 1.0, 2.0])
        self.successResultOf(follower.stopService())

    def test_jitter_spreads_reconnects(self) -> None:
        http = RefusingHTTP(Clock())
        follower, _ = self.make(http)
        follower._rng = random.Random(4)
        follower.startService()
        for _ in range(40):
            http.clock.advance(1)
        gaps = {round(b - a, 3) for a, b in zip(http.attempts, http.attempts[1:])}
        self.assertGreater(len(gaps), 1)
        self.successResultOf(follower.stopService())

    def test_stop_while_connecting_cancels_the_attempt(self) -> None:
        http = HangingHTTP(Clock())
        follower, _ = self.make(http)
        follower.startService()
        self.assertEqual(len(http.pending), 1)
        self.successResultOf(follower.stopService())
        self.assertTrue(http.pending[0].called)
        self.assertEqual(http.clock.getDelayedCalls(), [])
