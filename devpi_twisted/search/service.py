"""The search index as a service: its writer thread, its database, the indexer following the store."""

from __future__ import annotations

from typing import Any, Optional

from twisted.application.service import Service
from twisted.internet.defer import Deferred, ensureDeferred
from twisted.logger import Logger
from twisted.python.threadpool import ThreadPool

from devpi_twisted.mirror.projects import MirrorProjects
from devpi_twisted.model import keys
from devpi_twisted.model.indexes import MIRROR
from devpi_twisted.search.indexer import Indexer
from devpi_twisted.search.interface import ISearchIndex
from devpi_twisted.store.changelog import Store


class SearchService(Service):
    """Starts the indexer (and the mirror lists already on disk) with the server; closes the index on stop."""

    def __init__(
        self,
        indexer: Indexer,
        index: ISearchIndex,
        writer: ThreadPool,
        store: Store,
        projects: MirrorProjects,
        log: Logger,
    ) -> None:
        self._indexer = indexer
        self._index = index
        self._writer = writer
        self._store = store
        self._projects = projects
        self._log = log
        self._started: Optional[Deferred[Any]] = None

    def startService(self) -> None:
        super().startService()
        self._writer.start()
        self._started = ensureDeferred(self._start())
        self._started.addErrback(lambda failure: self._log.failure("search index did not start", failure))

    async def _start(self) -> None:
        await self._indexer.start()
        for username in self._store.children(keys.USERS):
            for indexname in self._store.children(keys.indexes_of(username)):
                config = self._store.get(keys.index(username, indexname)) or {}
                if config.get("type") == MIRROR and not config.get("mirror_no_project_list"):
                    await self._projects.load_cached(f"{username}/{indexname}")

    def stopService(self) -> None:
        super().stopService()
        self._indexer.stop()
        self._writer.stop()
        self._index.close()
