"""The follower's reconnect rhythm: exponential backoff with jitter, reset by progress, stopped cleanly."""

from __future__ import annotations

import os
import random
from typing import Any

from twisted.internet.defer import Deferred, fail
from twisted.internet.task import Clock
from twisted.logger import Logger
from twisted.trial.unittest import TestCase

from devpi_twisted.auth.replicas import ReplicaTokens
from devpi_twisted.replication import follower as follower_module
from devpi_twisted.replication.follower import Follower
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
