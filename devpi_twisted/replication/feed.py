"""The primary's side of replication: each connected replica's stream of commits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

from twisted.application.service import Service
from twisted.internet.defer import Deferred, ensureDeferred
from twisted.internet.interfaces import IDelayedCall, IPushProducer, IReactorTime
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.web.server import Request
from zope.interface import implementer

from devpi_twisted.connections import abort_connection
from devpi_twisted.replication.frames import commit_frame, heartbeat_frame
from devpi_twisted.store.changelog import Store
from devpi_twisted.store.interface import Changes
from devpi_twisted.store.sqlite import encode_changes
from devpi_twisted.threads import Runner

#: How many stored commits one catch-up read fetches.
CATCH_UP_BATCH = 200
#: A replica that reads nothing for this long is cut off.
MAX_STALL = 60.0


@dataclass(frozen=True)
class ReplicaPeer:
    """Who a feed streams to, as the primary's C{/+status} shows it."""

    remote_ip: str
    outside_url: Optional[str]
    connected_at: float


@implementer(IPushProducer)
class ReplicaFeed:
    """
    Writes commits from C{since} on to one replica's response: stored ones
    read in batches, then each new commit as it happens, plus heartbeats.
    When the replica reads slowly the transport pauses the feed, which then
    buffers nothing: it re-reads what it missed from the store on resume.
    """

    def __init__(
        self,
        request: Request,
        store: Store,
        io: Runner,
        clock: IReactorTime,
        heartbeat: float,
        since: int,
        peer: ReplicaPeer,
        log: Logger,
    ) -> None:
        self._request = request
        self._store = store
        self._io = io
        self._clock = clock
        self._heartbeat = LoopingCall(self._beat)
        self._heartbeat.clock = clock
        self._interval = heartbeat
        self._since = since
        self._next = since
        self.peer = peer
        self._log = log
        self._paused = False
        self._catching_up = False
        self._stall: Optional[IDelayedCall] = None
        self.done: Deferred[None] = Deferred(lambda _: self._close())
        self._closed = False

    def status(self) -> dict[str, Any]:
        """This stream in the primary's C{/+status}."""
        return {
            "remote-ip": self.peer.remote_ip,
            "outside-url": self.peer.outside_url,
            "connected-at": self.peer.connected_at,
            "since": self._since,
            "serial": self._next - 1,
            "is-streaming": True,
            "paused": self._paused,
        }

    def start(self) -> None:
        """Register with the transport and start sending."""
        self._request.registerProducer(self, True)
        self._request.notifyFinish().addBoth(lambda _: self._close())
        self._heartbeat.start(self._interval, now=True)
        self._catch_up()

    def offer(self, serial: int, frame: bytes) -> None:
        """A new commit: sent at once unless the feed is behind or paused."""
        if self._closed or self._paused or self._catching_up:
            return
        if serial == self._next:
            self._send(serial, frame)
        elif serial > self._next:
            self._catch_up()

    def _send(self, serial: int, frame: bytes) -> None:
        self._request.write(frame)
        self._next = serial + 1

    def _beat(self) -> None:
        if not self._paused and not self._closed:
            self._request.write(heartbeat_frame(self._store.serial, self._clock.seconds()))

    def _catch_up(self) -> None:
        if not self._catching_up and not self._closed:
            self._catching_up = True
            ensureDeferred(self._read_missed()).addErrback(self._failed)

    async def _read_missed(self) -> None:
        try:
            while not (self._paused or self._closed) and self._next <= self._store.serial:
                since = self._next
                rows = await self._io(lambda: self._store.entries(since, CATCH_UP_BATCH))
                for serial, timestamp, changes_json in rows:
                    if self._paused or self._closed:
                        break
                    if serial == self._next:
                        self._send(serial, commit_frame(serial, timestamp, changes_json))
                if not rows:
                    break
        finally:
            self._catching_up = False

    def _failed(self, failure: Any) -> None:
        self._log.failure("replica feed failed", failure)
        self.cut()

    def pauseProducing(self) -> None:
        self._paused = True
        self._stall = self._clock.callLater(MAX_STALL, self.cut)

    def resumeProducing(self) -> None:
        self._paused = False
        if self._stall is not None and self._stall.active():
            self._stall.cancel()
        self._stall = None
        self._catch_up()

    def stopProducing(self) -> None:
        self._close()

    def cut(self) -> None:
        """Drop the replica's connection."""
        self._close()
        abort_connection(self._request)

    def _close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._request.unregisterProducer()
        if self._heartbeat.running:
            self._heartbeat.stop()
        if self._stall is not None and self._stall.active():
            self._stall.cancel()
        if not self.done.called:
            self.done.callback(None)


class ReplicaFeeds(Service):
    """
    The replicas connected to this primary: every commit is encoded once
    and offered to each feed. Stopping the service cuts every stream.
    """

    def __init__(self, store: Store, io: Runner, clock: IReactorTime, heartbeat: float, log: Logger) -> None:
        self._store = store
        self._io = io
        self._clock = clock
        self.heartbeat = heartbeat
        self._log = log
        self._feeds: dict[str, ReplicaFeed] = {}
        self._unsubscribe: Optional[Callable[[], None]] = None

    def startService(self) -> None:
        super().startService()
        self._unsubscribe = self._store.subscribe(self._committed)

    def _committed(self, serial: int, changes: Changes) -> None:
        if not self._feeds:
            return
        frame = commit_frame(serial, self._store.last_commit_timestamp, encode_changes(changes))
        for feed in list(self._feeds.values()):
            feed.offer(serial, frame)

    def connect(self, replica_uuid: str, request: Request, since: int, peer: ReplicaPeer) -> Deferred[None]:
        """Stream to C{request} from C{since} on; fires when the replica is gone."""
        previous = self._feeds.get(replica_uuid)
        if previous is not None:
            previous.cut()
        feed = ReplicaFeed(request, self._store, self._io, self._clock, self.heartbeat, since, peer, self._log)
        self._feeds[replica_uuid] = feed

        def gone(result: object) -> object:
            if self._feeds.get(replica_uuid) is feed:
                del self._feeds[replica_uuid]
                self._log.info("replica {uuid} disconnected at serial {serial}", uuid=replica_uuid, serial=feed.status()["serial"])
            return result

        feed.done.addBoth(gone)
        self._log.info("replica {uuid} connected from {ip}, following from serial {since}", uuid=replica_uuid, ip=peer.remote_ip, since=since)
        feed.start()
        return feed.done

    def status(self) -> dict[str, Any]:
        """The connected replicas, for C{/+status}."""
        return {uuid: feed.status() for uuid, feed in self._feeds.items()}

    def stopService(self) -> None:
        super().stopService()
        for feed in list(self._feeds.values()):
            feed.cut()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
