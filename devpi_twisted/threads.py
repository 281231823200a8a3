"""Running blocking work off the reactor thread."""

from __future__ import annotations

from typing import Callable, Protocol, TypeVar

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorFromThreads
from twisted.internet.threads import deferToThreadPool
from twisted.python.threadpool import ThreadPool

T = TypeVar("T")



class Runner(Protocol):
    """Runs a blocking callable somewhere that is not the reactor thread."""

    def __call__(self, work: Callable[[], T], /) -> Deferred[T]: ...


def pool_runner(reactor: IReactorFromThreads, pool: ThreadPool) -> Runner:
    """A L{Runner} that runs each callable in C{pool}."""

    def run(f: Callable[[], T]) -> Deferred[T]:
        return deferToThreadPool(reactor, pool, f)

    return run
