"""A server directory opened by a command while no server runs: the store commits in the calling thread."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, TypeVar

from twisted.internet.defer import Deferred, maybeDeferred

from devpi_twisted.serverdir import BLOBS, STORE, ServerDir, open_serverdir
from devpi_twisted.store.blobs import FileBlobStore
from devpi_twisted.store.changelog import Store
from devpi_twisted.store.sqlite import SQLiteBackend

T = TypeVar("T")


class WallClock:
    """The time, for a store used outside the reactor."""

    def seconds(self) -> float:
        return time.time()


def run_here(work: Callable[[], T]) -> "Deferred[T]":
    """Run C{work} in the calling thread (offline commands have no reactor)."""
    return maybeDeferred(work)


@dataclass
class OfflineServer:
    """The store and blobs of a locked server directory; use C{store.transact_now}."""

    serverdir: ServerDir
    store: Store
    blobs: FileBlobStore

    def close(self) -> None:
        """Close the store and release the server directory's lock."""
        self.store.close()
        self.serverdir.close()

    def __enter__(self) -> OfflineServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def open_offline(path: str) -> OfflineServer:
    """
    Open and lock the server directory at C{path} (created if missing or
    empty, as the server does). Raises L{ServerDirError} when it cannot be
    used, e.g. while a server runs on it.
    """
    serverdir = open_serverdir(path)
    try:
        store = Store(SQLiteBackend(serverdir.join(STORE)), run_here, WallClock())  # type: ignore[arg-type]
    except BaseException:
        serverdir.close()
        raise
    return OfflineServer(serverdir, store, FileBlobStore(serverdir.join(BLOBS)))
