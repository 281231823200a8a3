"""Single flight: work that runs once per key at a time, every caller sharing its outcome."""

from __future__ import annotations

from typing import Any, Callable, Coroutine, Generic, Hashable, TypeVar

from twisted.internet.defer import Deferred, ensureDeferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


class Flights(Generic[K, T]):
    """The flights in progress, by key; owned by the service that starts them."""

    def __init__(self, log: Logger) -> None:
        self._log = log
        self._waiting: dict[K, list[Deferred[T]]] = {}

    def busy(self) -> bool:
        """Whether any work is in progress."""
        return bool(self._waiting)

    def running(self, key: K) -> bool:
        """Whether work for C{key} is in progress."""
        return key in self._waiting

    def join(self, key: K, start: Callable[[], Coroutine[Any, Any, T]]) -> Deferred[T]:
        """The outcome of the work for C{key}, starting it with C{start()} if none runs."""
        waiter: Deferred[T] = Deferred()
        waiters = self._waiting.get(key)
        if waiters is not None:
            waiters.append(waiter)
            return waiter
        self._waiting[key] = [waiter]
        # the waiter is in place first: work that ends at once still reaches it
        ensureDeferred(start()).addBoth(self._land, key)
        return waiter

    def _land(self, result: Any, key: K) -> None:
        waiters = [waiter for waiter in self._waiting.pop(key) if not waiter.called]
        if isinstance(result, Failure) and not waiters:
            self._log.failure("background work for {key} failed", result, key=key)
        for waiter in waiters:
            if isinstance(result, Failure):
                waiter.errback(result)
            else:
                waiter.callback(result)


def patiently(clock: IReactorTime, waiter: Deferred[T], limit: float, meanwhile: T) -> Deferred[T]:
    """C{waiter}, or C{meanwhile} if it has not fired within C{limit} seconds (the work goes on)."""

    def give_up() -> None:
        if not waiter.called:
            waiter.callback(meanwhile)

    timer = clock.callLater(limit, give_up)

    def stop_timer(result: Any) -> Any:
        if timer.active():
            timer.cancel()
        return result

    return waiter.addBoth(stop_timer)
