"""Always warm: mirror pages clients used recently are revalidated in the background before they expire."""

from __future__ import annotations

from typing import Any, Optional

from twisted.application.service import Service
from twisted.internet.defer import Deferred, DeferredSemaphore, gatherResults
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from devpi_twisted.mirror.pages import MirrorPages
from devpi_twisted.mirror.upstream import UpstreamClient, UpstreamError, host_of
from devpi_twisted.model import indexes, keys, mirrors
from devpi_twisted.model.errors import NotFound
from devpi_twisted.model.records import IndexConfig
from devpi_twisted.store.changelog import Store

#: Seconds between two looks for pages about to expire.
INTERVAL = 30.0
DAY = 86400.0


class Warmer(Service):
    """
    Every L{INTERVAL} seconds, revalidates the mirror pages asked for in the
    last C{days} whose freshness ends before the next look (plus the time a
    fetch may take), at most C{concurrency} at a time, so that an install
    never waits on upstream for a page it used recently. A host that asked
    to be left alone (Retry-After) is skipped until then; while a host is
    down, one page per look probes it.
    """

    def __init__(
        self,
        store: Store,
        pages: MirrorPages,
        client: UpstreamClient,
        clock: IReactorTime,
        log: Logger,
        *,
        days: float,
        concurrency: int,
    ) -> None:
        self._store = store
        self._pages = pages
        self._client = client
        self._clock = clock
        self._log = log
        self._window = days * DAY
        self._slots = DeferredSemaphore(concurrency)
        self._running: set[tuple[str, str]] = set()
        self._loop = LoopingCall(self.look)
        self._loop.clock = clock
        #: the revalidations of the last look, for a caller to wait on
        self.last: Deferred[Any] = gatherResults([])

    def startService(self) -> None:
        super().startService()
        self._loop.start(INTERVAL, now=False).addErrback(
            lambda failure: self._log.failure("the mirror warmer stopped", failure)
        )

    def stopService(self) -> Optional[Deferred[Any]]:
        super().stopService()
        if self._loop.running:
            self._loop.stop()
        return None

    def due(self) -> list[tuple[str, IndexConfig, str]]:
        """The (mirror, config, project) to revalidate now, the soonest to expire first."""
        now = self._clock.seconds()
        horizon = now + INTERVAL + 2 * self._client.timeout
        found = []
        for name, project in self._pages.checks.used_since(now - self._window):
            if (name, project) in self._running:
                continue
            username, _, indexname = name.partition("/")
            config = self._store.get(keys.index(username, indexname))
            if config is None or config["type"] != indexes.MIRROR:
                continue
            if mirrors.get_page(self._store, username, indexname, project) is None:
                continue
            expires = self._pages.expires_at(name, config, project)
            if expires <= horizon:
                found.append((expires, name, config, project))
        found.sort(key=lambda item: item[0])
        return [(name, config, project) for _, name, config, project in found]

    def look(self) -> Deferred[Any]:
        """Start revalidating what is due (the loop's step); fires when they are done."""
        probing: set[str] = set()
        started = []
        for name, config, project in self.due():
            host = host_of(mirrors.upstream_url(config))
            if self._client.asked_to_wait(host) > 0 or host in probing:
                continue
            if host in self._client.outage():
                probing.add(host)  # down: one page finds out whether it is back
            self._running.add((name, project))
            started.append(self._slots.run(self._revalidate, name, config, project))
        self.last = gatherResults(started, consumeErrors=True)
        return self.last

    async def _revalidate(self, name: str, config: IndexConfig, project: str) -> None:
        try:
            host = host_of(mirrors.upstream_url(config))
            if self._client.asked_to_wait(host) > 0:
                return
            await self._pages.revalidate(name, config, project)
        except (NotFound, UpstreamError) as error:
            self._log.debug("warming {index} {project}: {error}", index=name, project=project, error=error)
        finally:
            self._running.discard((name, project))
