"""The replica's blobs: fetched from the primary after the commit that needs them, or on demand."""

from __future__ import annotations

from collections import deque
from functools import partial
from typing import Any, Callable, Optional

from twisted.application.service import Service
from twisted.internet.defer import Deferred, gatherResults, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from devpi_twisted.mirror.bodies import BodyReceiver
from devpi_twisted.mirror.flights import Flights
from devpi_twisted.mirror.upstream import UpstreamClient, UpstreamError, UpstreamNotFound, describe
from devpi_twisted.replication.status import ReplicaStatus
from devpi_twisted.store.blobs import HashMismatch, IBlobStore, IBlobWriter
from devpi_twisted.threads import Runner

#: How many blobs are fetched at once in the background.
CONCURRENCY = 4
#: Blobs up to this size are held in memory and written in one go.
SPOOL_LIMIT = 1024 * 1024
#: A failed background fetch is retried after this many seconds, doubling up to MAX_RETRY_DELAY.
RETRY_DELAY = 5.0
MAX_RETRY_DELAY = 600.0


class BlobUnavailable(UpstreamError):
    """The primary could not deliver a blob (missing there, or broken on the way)."""


class BlobFetcher(Service):
    """
    Fetches blobs from the primary's C{+blobs/} by sha256, streamed into the
    blob store and published only when the bytes hash to that sha256. Each
    blob is fetched once at a time (single flight) whoever asks first.
    """

    def __init__(
        self,
        blobs: IBlobStore,
        client: UpstreamClient,
        authorization: Callable[[], bytes],
        status: ReplicaStatus,
        io: Runner,
        clock: IReactorTime,
        log: Logger,
    ) -> None:
        self._blobs = blobs
        self._client = client
        self._authorization = authorization
        self.status = status
        self._io = io
        self._clock = clock
        self._log = log
        self._flights: Flights[str, None] = Flights(log)
        self._queue: deque[str] = deque()
        self._queued: set[str] = set()
        self._fetching = 0
        self._retries: dict[str, tuple[IDelayedCall, float]] = {}
        self._background: set[Deferred[None]] = set()

    def want(self, digests: list[str]) -> None:
        """Fetch these blobs in the background."""
        for digest in digests:
            if digest not in self._queued:
                self._queued.add(digest)
                self._queue.append(digest)
        self.status.blobs_pending = len(self._queued)
        self._pump()

    async def ensure(self, digest: str) -> None:
        """Return once the blob is stored here; raises L{BlobUnavailable}."""
        if self._blobs.exists(digest):
            return
        await self._flights.join(digest, lambda: self._fetch(digest))

    def _pump(self) -> None:
        while self.running and self._queue and self._fetching < CONCURRENCY:
            digest = self._queue.popleft()
            self._fetching += 1
            d = self._flights.join(digest, partial(self._fetch, digest))
            self._background.add(d)
            d.addBoth(self._fetched, digest, d)

    def _fetched(self, result: Any, digest: str, d: Deferred[None]) -> None:
        self._background.discard(d)
        self._fetching -= 1
        self._queued.discard(digest)
        self.status.blobs_pending = len(self._queued)
        if isinstance(result, Failure) and self.running:
            self._retry_later(digest)
        self._pump()

    def _retry_later(self, digest: str) -> None:
        previous = self._retries.get(digest)
        delay = RETRY_DELAY if previous is None else min(previous[1] * 2, MAX_RETRY_DELAY)
        call = self._clock.callLater(delay, self._retry, digest)
        self._retries[digest] = (call, delay)

    def _retry(self, digest: str) -> None:
        self.want([digest])

    async def _fetch(self, digest: str) -> None:
        try:
            if await self._io(lambda: self._blobs.exists(digest)):
                return
            await self._download(digest)
        except Exception as error:
            message = describe(error) if not isinstance(error, UpstreamError) else error.message
            self.status.blob_errors[digest] = message
            self._log.warn("replicating blob {sha256} failed: {error}", sha256=digest, error=message)
            raise BlobUnavailable(f"blob {digest} is not available from the primary: {message}")
        self.status.blob_errors.pop(digest, None)
        retry = self._retries.pop(digest, None)
        if retry is not None and retry[0].active():
            retry[0].cancel()

    async def _download(self, digest: str) -> None:
        url = self.status.primary_url + "+blobs/" + digest
        try:
            response = await self._client.open(url, self._authorization())
        except UpstreamNotFound:
            raise BlobUnavailable("the primary does not have it")
        # small blobs (most) are written in one go: one thread hop, not one per chunk
        held: list[bytes] = []
        held_size = 0
        writer: Optional[IBlobWriter] = None
        tail: Deferred[Any] = succeed(None)

        def write(chunks: list[bytes]) -> IBlobWriter:
            nonlocal writer
            if writer is None:
                writer = self._blobs.writer()
            for chunk in chunks:
                writer.write(chunk)
            return writer

        def received(data: bytes) -> None:
            nonlocal tail, held_size
            held.append(data)
            held_size += len(data)
            if held_size >= SPOOL_LIMIT:
                chunks = held[:]
                del held[:]
                held_size = 0
                tail = tail.addCallback(lambda _: self._io(lambda: write(chunks)))

        def finish() -> None:
            nonlocal writer
            done = write(held)
            writer = None  # cleaned up here, whatever happens
            try:
                done.commit(digest)
            finally:
                done.abort()

        body = BodyReceiver(received)
        try:
            response.deliverBody(body)
            try:
                await body.done
            finally:
                await tail
            await self._io(finish)
        except HashMismatch as error:
            raise BlobUnavailable(f"the primary sent other bytes: {error}")
        finally:
            if writer is not None:
                await self._io(writer.abort)

    def stopService(self) -> Deferred[None]:
        super().stopService()
        for call, _ in self._retries.values():
            if call.active():
                call.cancel()
        self._retries.clear()
        self._queue.clear()
        self._queued.clear()
        return gatherResults(list(self._background)).addBoth(lambda _: None)
