"""A TCP proxy between a replica and its primary that cuts, stalls or corrupts the stream on command."""

from __future__ import annotations

from typing import Any, Optional

from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint, TCP4ServerEndpoint, connectProtocol
from twisted.internet.interfaces import IListeningPort
from twisted.internet.protocol import Factory, Protocol, connectionDone
from twisted.python.failure import Failure


def chunk(data: bytes) -> bytes:
    """C{data} as one chunk of an HTTP/1.1 chunked body."""
    return b"%x\r\n%s\r\n" % (len(data), data)


class _ToPrimary(Protocol):
    """The proxy's connection to the primary: what it sends goes to the replica."""

    def __init__(self, pair: Pair) -> None:
        self._pair = pair

    def dataReceived(self, data: bytes) -> None:
        self._pair.from_primary(data)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self._pair.close()


class Pair(Protocol):
    """One replica connection and its connection to the primary."""

    def __init__(self, proxy: FaultyProxy) -> None:
        self._proxy = proxy
        #: the connection to the primary's port, once made
        self.primary: Any = None
        #: every byte passed from the primary to the replica, and the other way
        self.forwarded = bytearray()
        self.requested = bytearray()
        self.open = False
        #: whether the replica (not the proxy, not the primary) closed it
        self.closed_by_replica = False
        self._closing = False

    def connectionMade(self) -> None:
        self.open = True
        self._proxy.opened(self)
        if self._proxy.refusing:
            self.abort()
            return
        self.transport.pauseProducing()
        endpoint = TCP4ClientEndpoint(self._proxy.reactor, "127.0.0.1", self._proxy.primary_port)
        connecting = connectProtocol(endpoint, _ToPrimary(self))
        connecting.addCallbacks(self._connected, lambda _: self.abort())

    def _connected(self, protocol: _ToPrimary) -> None:
        self.primary = protocol.transport
        if not self.open:
            self.primary.abortConnection()
            return
        if self._proxy.stalled:
            self.primary.pauseProducing()
        self.transport.resumeProducing()

    def dataReceived(self, data: bytes) -> None:
        assert self.primary is not None
        self.requested += data
        if self._proxy.down_on(self.requested):
            return
        self.primary.write(data)

    def from_primary(self, data: bytes) -> None:
        """Bytes from the primary: forwarded, unless a cut is due."""
        if self.open:
            self._proxy.forward(self, data)

    def send(self, data: bytes) -> None:
        """Write C{data} to the replica."""
        self.forwarded += data
        self.transport.write(data)

    def pause(self) -> None:
        """Stop reading from the primary."""
        if self.primary is not None:
            self.primary.pauseProducing()

    def resume(self) -> None:
        """Read from the primary again."""
        if self.primary is not None:
            self.primary.resumeProducing()

    def cut(self) -> None:
        """End both connections, the replica's after the bytes written so far."""
        self._closing = True
        self.transport.loseConnection()
        if self.primary is not None:
            self.primary.abortConnection()

    def abort(self) -> None:
        """Drop the replica's connection at once."""
        self._closing = True
        self.transport.abortConnection()

    def close(self) -> None:
        """The primary's side ended: so does the replica's."""
        if self.open and not self._closing:
            self._closing = True
            self.transport.loseConnection()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.closed_by_replica = not self._closing
        self.open = False
        if self.primary is not None:
            self.primary.abortConnection()
        self._proxy.closed(self)


class FaultyProxy:
    """
    Listens on a free loopback port and relays every connection to the
    primary's port. Faults: L{cut_after}, L{stall_after}, L{stall}, L{refuse}, L{inject}, L{go_down_on};
    L{resume} goes back to relaying faithfully.
    """

    def __init__(self, primary_port: int, reactor: Any = None) -> None:
        if reactor is None:
            from twisted.internet import reactor
        self.reactor = reactor
        self.primary_port = primary_port
        self.stalled = False
        self.refusing = False
        #: every connection ever made, in order
        self.pairs: list[Pair] = []
        self.cuts = 0
        self._cut_in: Optional[int] = None
        self._stall_in: Optional[int] = None
        self._down_marker: Optional[bytes] = None
        self._port: Optional[IListeningPort] = None
        self._changed: list[Deferred[None]] = []

    async def start(self) -> FaultyProxy:
        factory = Factory.forProtocol(lambda: Pair(self))
        endpoint = TCP4ServerEndpoint(self.reactor, 0, interface="127.0.0.1")
        self._port = await endpoint.listen(factory)
        return self

    @property
    def url(self) -> str:
        """The proxy's URL, with the trailing slash of a primary URL."""
        assert self._port is not None
        return f"http://127.0.0.1:{self._port.getHost().port}/"  # type: ignore[attr-defined]

    @property
    def open_pairs(self) -> list[Pair]:
        return [pair for pair in self.pairs if pair.open]

    def cut_after(self, count: int) -> None:
        """Pass C{count} more bytes from the primary, then cut every connection (once)."""
        self._cut_in = count

    def stall_after(self, count: int) -> None:
        """Pass C{count} more bytes from the primary, then L{stall}."""
        self._stall_in = count

    def stall(self) -> None:
        """Stop reading from the primary, on open and new connections, closing nothing."""
        self.stalled = True
        for pair in self.open_pairs:
            pair.pause()

    def refuse(self) -> None:
        """Close new connections at once; open ones go on."""
        self.refusing = True

    def inject(self, data: bytes) -> None:
        """Write C{data} to every open replica connection now, as if the primary sent it."""
        for pair in self.open_pairs:
            pair.send(data)

    def resume(self) -> None:
        """Relay faithfully again: no stall, no refusal, no pending cut."""
        self.stalled = self.refusing = False
        self._cut_in = self._stall_in = None
        self._down_marker = None
        for pair in self.open_pairs:
            pair.resume()

    def go_down_on(self, marker: bytes) -> None:
        """Once a client sends C{marker}, drop every connection and refuse new ones (until L{resume})."""
        self._down_marker = marker

    def down_on(self, requested: bytes) -> bool:
        """Whether the bytes a client sent so far make the proxy go down (it does, at once)."""
        if self._down_marker is None or self._down_marker not in requested:
            return False
        self._down_marker = None
        self.refusing = True
        self.cuts += 1
        for each in self.open_pairs:
            each.abort()
        return True

    def forward(self, pair: Pair, data: bytes) -> None:
        if self._stall_in is not None:
            if len(data) >= self._stall_in:
                data, self._stall_in = data[: self._stall_in], None
                self.stall()
            else:
                self._stall_in -= len(data)
        if self._cut_in is None or len(data) < self._cut_in:
            if self._cut_in is not None:
                self._cut_in -= len(data)
            pair.send(data)
            return
        pair.send(data[: self._cut_in])
        self._cut_in = None
        self.cuts += 1
        for each in self.open_pairs:
            each.cut()

    def opened(self, pair: Pair) -> None:
        self.pairs.append(pair)
        self._notify()

    def closed(self, pair: Pair) -> None:
        self._notify()

    def changed(self) -> Deferred[None]:
        """Fires when a connection is next opened or closed."""
        d: Deferred[None] = Deferred()
        self._changed.append(d)
        return d

    def _notify(self) -> None:
        waiting, self._changed = self._changed, []
        for d in waiting:
            d.callback(None)

    async def stop(self) -> None:
        """Stop listening and drop every connection."""
        for pair in self.open_pairs:
            pair.abort()
        if self._port is not None:
            await self._port.stopListening()
