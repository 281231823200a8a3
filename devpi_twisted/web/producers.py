"""Sending file bodies without blocking: push producers for a whole file, and sendfile straight from the page cache."""

from __future__ import annotations

import os
from typing import Any, BinaryIO, Optional

from twisted.internet import tcp
from twisted.web.server import Request


#: Bytes read and written per step when sending a file (Twisted's default is 64 KiB).
PRODUCER_BUFFER = 512 * 1024


class WholeFileProducer:
    """
    Sends a whole file as a push producer: it writes until the transport
    asks it to pause, with no cooperator round trip per chunk (Twisted's
    static producers are pull producers, driven one chunk per tick).
    """

    def __init__(self, request: Request, file: BinaryIO) -> None:
        self._request = request
        self._file = file
        self._paused = False
        self._writing = False
        self._done = False

    def start(self) -> None:
        """Register with the request and send."""
        self._request.registerProducer(self, True)
        self._send()

    def _send(self) -> None:
        if self._writing:
            return
        self._writing = True
        try:
            while not self._paused and not self._done:
                data = self._file.read(PRODUCER_BUFFER)
                if not data:
                    self._end()
                    return
                self._request.write(data)
        finally:
            self._writing = False

    def _end(self) -> None:
        """All sent: close the file and finish the reply."""
        self._finish()
        self._request.unregisterProducer()
        self._request.finish()

    def _finish(self) -> None:
        self._done = True
        self._file.close()

    def pauseProducing(self) -> None:
        self._paused = True

    def resumeProducing(self) -> None:
        self._paused = False
        self._send()

    def stopProducing(self) -> None:
        if not self._done:
            self._finish()


class SendfileProducer:
    """
    Sends a whole file with os.sendfile straight from the page cache to the
    socket of a plain TCP transport, once the transport's own buffer (the
    headers) has been flushed: no byte passes through Python. Whenever the
    socket is full it waits for the transport to drain and resume it.
    """

    #: Most bytes sent in one go before other connections get a turn.
    STEP = 4 * 1024 * 1024

    def __init__(self, request: Request, file: BinaryIO, transport: Any) -> None:
        self._request = request
        self._file = file
        self._transport = transport
        self._offset = 0
        self._size = os.fstat(file.fileno()).st_size
        self._done = False

    @classmethod
    def usable(cls, request: Request) -> Optional[Any]:
        """The transport to send to, when it is a plain TCP connection; else None."""
        transport = getattr(getattr(request, "channel", None), "transport", None)
        if not isinstance(transport, tcp.Connection) or not hasattr(os, "sendfile"):
            return None
        if not all(hasattr(transport, name) for name in ("dataBuffer", "offset", "_tempDataLen")):
            return None
        return transport

    def start(self) -> None:
        """Send the headers, then the file once they are on their way."""
        self._request.registerProducer(self, True)
        self._request.write(b"")
        self._wait_for_transport()

    def _wait_for_transport(self) -> None:
        # the transport resumes its (paused) producer once its buffer is empty
        # and the socket writable again; the channel passes that on to us
        self._transport.producerPaused = True
        self._transport.startWriting()

    def _transport_idle(self) -> bool:
        t = self._transport
        return len(t.dataBuffer) - t.offset <= 0 and not t._tempDataLen

    def pauseProducing(self) -> None:
        pass

    def resumeProducing(self) -> None:
        if self._done:
            return
        if not self._transport_idle():
            return self._wait_for_transport()
        budget = self.STEP
        while budget > 0:
            count = min(budget, self._size - self._offset)
            try:
                sent = os.sendfile(
                    self._transport.fileno(), self._file.fileno(), self._offset, count
                )
            except BlockingIOError:
                break
            except OSError:
                self.stopProducing()
                return
            self._offset += sent
            budget -= sent
            self._request.sentLength += sent
            if self._offset >= self._size or sent == 0:
                self._finish()
                return
        self._request.channel.resetTimeout()
        self._wait_for_transport()

    def _finish(self) -> None:
        self.stopProducing()
        self._request.unregisterProducer()
        self._request.finish()

    def stopProducing(self) -> None:
        if not self._done:
            self._done = True
            self._file.close()
