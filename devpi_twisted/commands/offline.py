"""A server directory opened by a command: locked (commits in the calling thread), or read-only beside a server."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, TypeVar

from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.interfaces import IReactorTime

from devpi_twisted.serverdir import (
    BLOBS,
    STORE,
    ServerDir,
    ServerDirError,
    check_serverdir,
    open_serverdir,
)
from devpi_twisted.store.blobs import FileBlobStore
from devpi_twisted.store.changelog import Store
from devpi_twisted.store.sqlite import SQLiteBackend

T = TypeVar("T")


def run_here(work: Callable[[], T]) -> "Deferred[T]":
    """Run C{work} in the calling thread (offline commands have no reactor)."""
    return maybeDeferred(work)


S = TypeVar("S", bound="_OpenedServer")


@dataclass
class _OpenedServer:
    """The store and blobs of a server directory."""

    path: str
    store: Store
    blobs: FileBlobStore

    def close(self) -> None:
        """Close the store."""
        self.store.close()

    def __enter__(self: S) -> S:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _open_store(path: str, create: bool) -> Store:
    """The store of the server directory at C{path}; unless C{create}, it must exist."""
    if not create and not os.path.exists(os.path.join(path, STORE)):
        raise ServerDirError(f"{path} holds no store ({STORE})")
    from twisted.internet import reactor  # for its clock: offline commands do not run it

    return Store(SQLiteBackend(os.path.join(path, STORE)), run_here, IReactorTime(reactor))


@dataclass
class OfflineServer(_OpenedServer):
    """The store and blobs of a locked server directory; use C{store.transact_now}."""

    serverdir: ServerDir

    def close(self) -> None:
        """Close the store and release the server directory's lock."""
        super().close()
        self.serverdir.close()


def open_offline(path: str, create: bool = True) -> OfflineServer:
    """
    Open and lock the server directory at C{path}: created if missing or
    empty (as the server does) when C{create}, else it must hold a store.
    Raises L{ServerDirError} when it cannot be used, e.g. while a server
    runs on it.
    """
    serverdir = open_serverdir(path, create)
    try:
        store = _open_store(serverdir.path, create)
    except BaseException:
        serverdir.close()
        raise
    return OfflineServer(serverdir.path, store, FileBlobStore(serverdir.join(BLOBS)), serverdir)


class ReadOnlyServer(_OpenedServer):
    """The store and blobs of a server directory opened without its lock: read, and write only blobs."""


def open_readonly(path: str) -> ReadOnlyServer:
    """
    Read the state of the existing server directory at C{path} without
    taking its lock, so while a server may run on it (SQLite in WAL mode
    lets readers be; blobs are immutable). Never commit to its store.
    Raises L{ServerDirError} when there is no server directory.
    """
    path = check_serverdir(path, create=False)
    return ReadOnlyServer(path, _open_store(path, create=False), FileBlobStore(os.path.join(path, BLOBS)))
