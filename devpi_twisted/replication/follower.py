"""The replica's side of replication: follow the primary's stream and apply each commit."""

from __future__ import annotations

import json
import random
from collections import deque
from typing import Any, Callable, Optional

from treq.client import HTTPClient
from twisted.application.service import Service
from twisted.internet.defer import CancelledError, Deferred, ensureDeferred, gatherResults
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.internet.protocol import Protocol, connectionDone
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.client import ResponseDone
from twisted.web.http_headers import Headers

from devpi_twisted.auth.replicas import ReplicaTokens
from devpi_twisted.mirror.bodies import body_producer
from devpi_twisted.mirror.upstream import describe
from devpi_twisted.model import keys
from devpi_twisted.replication.frames import CONTENT_TYPE, FrameDecoder, FrameError, Heartbeat
from devpi_twisted.replication.status import ReplicaStatus
from devpi_twisted.store.blobs import IBlobStore
from devpi_twisted.store.changelog import Entry, Store
from devpi_twisted.threads import Runner

#: Reconnect delays: the first retry within this many seconds, doubling up to MAX_BACKOFF.
MIN_BACKOFF = 0.5
MAX_BACKOFF = 30.0
#: At most this many commits are applied in one store transaction.
APPLY_BATCH = 500
#: Past this many queued bytes the replica stops reading the stream until it catches up.
QUEUE_LIMIT = 32 * 1024 * 1024
#: How long the primary may take to answer the stream request.
CONNECT_TIMEOUT = 10.0


def _message(body: bytes) -> str:
    """The message of the primary's JSON error reply (else its start)."""
    try:
        return str(json.loads(body)["message"])
    except (ValueError, KeyError, TypeError):
        return body[:500].decode("utf-8", "replace")


class Diverged(Exception):
    """Following this primary would corrupt the replica: stop for good."""


class StreamBroken(Exception):
    """The stream failed; reconnecting resumes it."""


class _StreamBody(Protocol):
    """Feeds the bytes of the stream to the follower; gives up when it goes quiet."""

    def __init__(self, follower: Follower, stall_timeout: float, clock: IReactorTime) -> None:
        self._follower = follower
        self._timeout = stall_timeout
        self._clock = clock
        self._decoder = FrameDecoder()
        self.done: Deferred[None] = Deferred()
        self._watchdog: Optional[IDelayedCall] = None

    def connectionMade(self) -> None:
        self._watchdog = self._clock.callLater(self._timeout, self._stalled)

    def dataReceived(self, data: bytes) -> None:
        if self.done.called:
            return
        if self._watchdog is not None and self._watchdog.active():
            self._watchdog.reset(self._timeout)
        try:
            frames = self._decoder.feed(data)
        except FrameError as error:
            self.stop(StreamBroken(str(error)))
            return
        self._follower.received(frames, len(data))

    def _stalled(self) -> None:
        self.stop(StreamBroken(f"no heartbeat from the primary for {self._timeout:g}s"))

    def stop(self, error: Exception) -> None:
        """Drop the connection and end with C{error}."""
        if not self.done.called:
            self._cancel_watchdog()
            body_producer(self).stopProducing()
            self.done.errback(Failure(error))

    def _cancel_watchdog(self) -> None:
        if self._watchdog is not None and self._watchdog.active():
            self._watchdog.cancel()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self._cancel_watchdog()
        if self.done.called:
            return
        if reason.check(ResponseDone):
            self.done.errback(Failure(StreamBroken("the primary ended the stream")))
        else:
            self.done.errback(Failure(StreamBroken(f"stream cut: {describe(reason.value)}")))


class Follower(Service):
    """
    Holds one streaming connection to the primary, applies the commits it
    brings in order (batched while they queue up), and reconnects with
    exponential backoff and jitter, resuming after the last applied serial.
    """

    def __init__(
        self,
        store: Store,
        blobs: IBlobStore,
        wants_blobs: Callable[[list[str]], None],
        http: HTTPClient,
        tokens: ReplicaTokens,
        replica_uuid: str,
        outside_url: Optional[str],
        status: ReplicaStatus,
        remember_primary: Callable[[str], None],
        io: Runner,
        clock: IReactorTime,
        rng: random.Random,
        log: Logger,
    ) -> None:
        self._store = store
        self._io = io
        self._blobs = blobs
        self._wants_blobs = wants_blobs
        self._http = http
        self._tokens = tokens
        self._uuid = replica_uuid
        self._outside_url = outside_url
        self.status = status
        self._remember_primary = remember_primary
        self._clock = clock
        self._rng = rng
        self._log = log
        self._queue: deque[Entry] = deque()
        self._queued_bytes = 0
        self._queued_serial = store.serial
        self._applying: Optional[Deferred[None]] = None
        self._body: Optional[_StreamBody] = None
        self._connecting: Optional[Deferred[Any]] = None
        self._sleeping: Optional[Deferred[None]] = None
        self._running: Optional[Deferred[None]] = None
        self._paused = False
        self._received_any = False

    def startService(self) -> None:
        super().startService()
        self._running = ensureDeferred(self._follow_forever())

    def stopService(self) -> Deferred[None]:
        super().stopService()
        for pending in (self._connecting, self._sleeping):
            if pending is not None and not pending.called:
                pending.cancel()
        if self._body is not None:
            self._body.stop(StreamBroken("replica stopping"))
        waits = [d for d in (self._running, self._applying) if d is not None]
        return gatherResults(waits).addBoth(lambda _: None)

    async def _follow_forever(self) -> None:
        backoff = MIN_BACKOFF
        await self._want_missing_blobs()
        while self.running:
            try:
                await self._follow_once()
            except CancelledError:
                break
            except Diverged as error:
                self.status.fatal = str(error)
                self.status.connected = False
                self._log.critical("replication stopped: {error}", error=str(error))
                return
            except Exception as error:
                self.status.error = str(error) if isinstance(error, StreamBroken) else describe(error)
                if self.running:
                    self._log.warn(
                        "replication stream from {url}: {error}",
                        url=self.status.primary_url,
                        error=self.status.error,
                    )
            self.status.connected = False
            if not self.running:
                break
            if self._received_any:
                backoff = MIN_BACKOFF
            delay = self._rng.uniform(0, backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)
            self._sleeping = Deferred()
            timer = self._clock.callLater(delay, self._sleeping.callback, None)
            try:
                await self._sleeping
            except CancelledError:
                timer.cancel()
                break
            finally:
                self._sleeping = None

    def _headers(self) -> Headers:
        headers = {
            b"accept": [CONTENT_TYPE + b", application/json;q=0.5"],
            b"authorization": [b"Bearer " + self._tokens.issue(self._uuid).encode()],
            b"x-devpi-expected-primary-uuid": [(self.status.primary_uuid or "").encode()],
            b"x-devpi-replica-serial": [str(self._store.serial).encode()],
            b"x-devpi-replica-timestamp": [repr(self._store.last_commit_timestamp).encode()],
        }
        if self._outside_url:
            headers[b"x-devpi-replica-outside-url"] = [self._outside_url.encode()]
        return Headers(headers)

    async def _want_missing_blobs(self) -> None:
        """Fetch the blobs of commits applied before a restart that never arrived."""
        digests = self._store.children(keys.BLOBS)

        def missing() -> list[str]:
            return [digest for digest in digests if not self._blobs.exists(digest)]

        found = await self._io(missing)
        if found:
            self._log.info("fetching {count} blobs missing since the last run", count=len(found))
            self._wants_blobs(found)

    async def _follow_once(self) -> None:
        """Connect and apply the stream until it fails (it always ends in an exception)."""
        self._received_any = False
        await self._drained()
        url = self.status.primary_url + "+changelog/stream"
        self._connecting = self._http.get(
            url, headers=self._headers(), unbuffered=True, timeout=CONNECT_TIMEOUT
        )
        try:
            response = await self._connecting
        finally:
            self._connecting = None
        if response.code != 200:
            text = _message(await response.content())
            if response.code == 409:
                raise Diverged(text)
            raise StreamBroken(f"the primary answered {response.code}: {text}")
        self._check_primary((response.headers.getRawHeaders(b"x-devpi-uuid") or [b""])[0].decode())
        heartbeat = float((response.headers.getRawHeaders(b"x-devpi-heartbeat") or [b"2"])[0])
        self._queued_serial = self._store.serial
        self._body = _StreamBody(self, 3 * heartbeat + 1, self._clock)
        self.status.connected, self.status.connected_at, self.status.error = True, self._clock.seconds(), None
        self._log.info("following {url} from serial {serial}", url=url, serial=self._store.serial + 1)
        self._received_any = False
        response.deliverBody(self._body)
        try:
            await self._body.done
        finally:
            self._body = None
            self._paused = False

    def _check_primary(self, primary_uuid: str) -> None:
        known = self.status.primary_uuid
        if known is None:
            if self._store.serial >= 0:
                raise Diverged(
                    "this server directory holds data that was not replicated from "
                    f"{self.status.primary_url}: use a new server directory for a replica"
                )
            self._remember_primary(primary_uuid)
            self.status.primary_uuid = primary_uuid
        elif primary_uuid != known:
            raise Diverged(
                f"{self.status.primary_url} is primary {primary_uuid}, but this replica"
                f" follows primary {known}"
            )

    def received(self, frames: list[Any], size: int) -> None:
        """Frames from the stream: queue commits, note heartbeats."""
        self._received_any = True
        now = self._clock.seconds()
        for frame in frames:
            if isinstance(frame, Heartbeat):
                self.status.heard(frame.serial, now, self._store.serial)
                continue
            if frame.serial <= self._queued_serial:
                continue  # sent again after a reconnect: never applied twice
            if frame.serial != self._queued_serial + 1:
                self._body_stop(f"serial {frame.serial} arrived after {self._queued_serial}")
                return
            self._queue.append(frame)
            self._queued_serial = frame.serial
            self.status.heard(frame.serial, now, self._store.serial)
        self._queued_bytes += size
        if self._queued_bytes > QUEUE_LIMIT and not self._paused and self._body is not None:
            self._paused = True
            body_producer(self._body).pauseProducing()
        if self._queue and self._applying is None:
            self._applying = ensureDeferred(self._apply_queued())

    def _body_stop(self, why: str) -> None:
        if self._body is not None:
            self._body.stop(StreamBroken(why))

    async def _drained(self) -> None:
        while self._applying is not None:
            await self._applying

    async def _apply_queued(self) -> None:
        try:
            while self._queue:
                batch: list[Entry] = []
                while self._queue and len(batch) < APPLY_BATCH:
                    batch.append(self._queue.popleft())
                missing = await self._store.apply(batch, lambda: self._blob_effects(batch))
                self.status.applied(self._store.serial, self._clock.seconds())
                if missing:
                    self._wants_blobs(missing)
                if not self._queue:
                    self._queued_bytes = 0
                if self._paused and self._queued_bytes < QUEUE_LIMIT // 2 and self._body is not None:
                    self._paused = False
                    body_producer(self._body).resumeProducing()
        except Exception as error:
            self._queue.clear()
            self._queued_serial = self._store.serial
            self._queued_bytes = 0
            self._log.failure("applying replicated commits failed", Failure())
            self._body_stop(f"applying failed: {error}")
        finally:
            self._applying = None

    def _blob_effects(self, batch: list[Entry]) -> list[str]:
        """In the writer thread, after the commit: drop deleted blobs, list missing new ones."""
        final: dict[str, bool] = {}
        for entry in batch:
            for key, value in entry.changes.items():
                digest = keys.blob_digest(key)
                if digest is not None:
                    final[digest] = value is not None
        missing = []
        for digest, referenced in final.items():
            if not referenced:
                self._blobs.remove(digest)
            elif not self._blobs.exists(digest):
                missing.append(digest)
        return missing
