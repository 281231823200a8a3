"""Receiving an HTTP response body piece by piece, with a way to abandon it."""

from __future__ import annotations

from typing import Any, cast

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IPushProducer
from twisted.internet.protocol import Protocol, connectionDone
from twisted.python.failure import Failure
from twisted.web.client import ResponseDone
from twisted.web.http import PotentialDataLoss


def body_producer(protocol: Protocol) -> IPushProducer:
    """What a protocol given to C{IResponse.deliverBody} reads from: its transport, a push producer."""
    return cast(IPushProducer, protocol.transport)


class BodyReceiver(Protocol):
    """Hands each piece of a body to C{received}; C{done} fires at its end, or when L{stop}ped."""

    def __init__(self, received: Any) -> None:
        self._received = received
        self.done: Deferred[None] = Deferred()

    def dataReceived(self, data: bytes) -> None:
        if not self.done.called:
            try:
                self._received(data)
            except BaseException:
                self.stop(Failure())

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        if self.done.called:
            return
        if reason.check(ResponseDone, PotentialDataLoss):
            self.done.callback(None)
        else:
            self.done.errback(reason)

    def stop(self, reason: Failure) -> None:
        """Abandon the body (the connection is closed) and fail with C{reason}."""
        if not self.done.called:
            body_producer(self).stopProducing()
            self.done.errback(reason)
