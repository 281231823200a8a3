"""A server directory opened by a command: locked (commits in the calling thread), or read-only beside a server."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Callable, TypeVar

from twisted.internet.defer import Deferred, maybeDeferred

from devpi_twisted.serverdir import (
    BLOBS,
    LOCK,
    NODEINFO,
    STORE,
    ServerDir,
    ServerDirError,
    _read_nodeinfo,
    open_serverdir,
)
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


def existing_serverdir(path: str) -> str:
    """
    The absolute path of the devpi-twisted server directory at C{path};
    raises L{ServerDirError} when there is none (nothing is created).
    """
    path = os.path.abspath(os.path.expanduser(path))
    if not os.path.isdir(path):
        raise ServerDirError(f"there is no server directory at {path}")
    if not os.path.exists(os.path.join(path, NODEINFO)) and set(os.listdir(path)) <= {LOCK}:
        raise ServerDirError(f"{path} is empty: create a server with devpi-twisted init")
    _read_nodeinfo(path)
    if not os.path.exists(os.path.join(path, STORE)):
        raise ServerDirError(f"{path} holds no store ({STORE})")
    return path


@dataclass
class ReadOnlyServer:
    """The store and blobs of a server directory opened without its lock: read, and write only blobs."""

    path: str
    store: Store
    blobs: FileBlobStore

    def close(self) -> None:
        """Close the store."""
        self.store.close()

    def __enter__(self) -> ReadOnlyServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def open_readonly(path: str) -> ReadOnlyServer:
    """
    Read the state of the existing server directory at C{path} without
    taking its lock, so while a server may run on it (SQLite in WAL mode
    lets readers be; blobs are immutable). Never commit to its store.
    Raises L{ServerDirError} when there is no server directory.
    """
    path = existing_serverdir(path)
    store = Store(SQLiteBackend(os.path.join(path, STORE)), run_here, WallClock())  # type: ignore[arg-type]
    return ReadOnlyServer(path, store, FileBlobStore(os.path.join(path, BLOBS)))
