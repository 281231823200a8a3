"""The changelog store: state in memory, each transaction committed as one serial."""

from __future__ import annotations

import json
from typing import Any, Callable, Generic, NamedTuple, Optional, TypeVar

from twisted.internet.defer import CancelledError, Deferred, DeferredLock
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from devpi_twisted.store.interface import Changes, IChangelogBackend
from devpi_twisted.threads import Runner

T = TypeVar("T")
_log = Logger()

#: Called in the reactor thread after each commit with (serial, changes).
CommitListener = Callable[[int, Changes], None]


def encode_value(value: Any) -> str:
    """The canonical JSON text of a value, as the store keeps it."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _parent_and_name(key: str) -> tuple[str, str]:
    parent, _, name = key.rpartition("/")
    return parent, name


class ReadOnlyStore(Exception):
    """This store only applies commits replicated from a primary."""


class Entry(NamedTuple):
    """One commit as replicated: its serial, timestamp and changes."""

    serial: int
    timestamp: float
    changes: Changes


class Committed(NamedTuple, Generic[T]):
    """What a transaction returned, and the serial the store is at after it."""

    result: T
    serial: int


class Transaction:
    """
    Reads the committed state plus this transaction's own writes, and collects
    writes. Runs in the reactor thread; values are plain JSON data.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self.changes: Changes = {}
        self._before: list[Callable[[], object]] = []
        self._after: list[Callable[[], object]] = []

    def get(self, key: str, default: Any = None) -> Any:
        if key in self.changes:
            text = self.changes[key]
            return default if text is None else json.loads(text)
        return self._store.get(key, default)

    def children(self, parent: str) -> list[str]:
        names = set(self._store.children(parent))
        for key, text in self.changes.items():
            key_parent, name = _parent_and_name(key)
            if key_parent == parent:
                if text is None:
                    names.discard(name)
                else:
                    names.add(name)
        return sorted(names)

    def set(self, key: str, value: Any) -> None:
        self.changes[key] = encode_value(value)

    def delete(self, key: str) -> None:
        self.changes[key] = None

    def before_commit(self, effect: Callable[[], object]) -> None:
        """
        Run C{effect} in the commit thread just before the changes are
        committed (e.g. publish a blob they refer to); if it raises, nothing
        is committed. Effects run only when the transaction changed keys.
        """
        self._before.append(effect)

    def after_commit(self, effect: Callable[[], object]) -> None:
        """
        Run C{effect} in the commit thread right after the commit (e.g.
        remove a blob nothing refers to any more); a failure is logged.
        """
        self._after.append(effect)

    def commit_to(self, backend: IChangelogBackend, serial: int, timestamp: float) -> None:
        """Commit as C{serial} with the side effects around it; blocks."""
        for effect in self._before:
            effect()
        backend.commit(serial, timestamp, self.changes)
        for effect in self._after:
            try:
                effect()
            except Exception:
                _log.failure("after-commit effect of serial {serial} failed", serial=serial)


class Store:
    """
    The current value of every key, held in memory and read without waiting;
    writes are serialised and committed by C{backend} in a thread, each as
    one new serial, and applied in memory only once durable.
    """

    def __init__(
        self, backend: IChangelogBackend, run: Runner, clock: IReactorTime
    ) -> None:
        self._backend = backend
        self._run = run
        self._clock = clock
        self._lock = DeferredLock()
        self._listeners: list[CommitListener] = []
        self._waiting: dict[int, list[Deferred[None]]] = {}
        #: Set on replicas: only L{apply} changes the store.
        self.read_only = False
        self.serial, self.last_commit_timestamp, self._values = backend.load()
        self._children: dict[str, set[str]] = {}
        for key in self._values:
            parent, name = _parent_and_name(key)
            self._children.setdefault(parent, set()).add(name)

    def get(self, key: str, default: Any = None) -> Any:
        """The committed value of C{key} (a fresh copy), or C{default}."""
        text = self._values.get(key)
        return default if text is None else json.loads(text)

    def children(self, parent: str) -> list[str]:
        """The sorted names C{n} for which the key C{parent/n} has a value."""
        return sorted(self._children.get(parent, ()))

    def subscribe(self, listener: CommitListener) -> Callable[[], None]:
        """Call C{listener} after every commit; returns the unsubscribe call."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    async def transact(self, work: Callable[[Transaction], T]) -> Committed[T]:
        """
        Run C{work} on a new transaction once all earlier ones have finished
        and commit what it wrote as one serial, in the writer thread. If
        C{work} raises or the commit fails, nothing changes. Raises
        L{ReadOnlyStore} on a replica.
        """
        if self.read_only:
            raise ReadOnlyStore("this server is a replica: changes are made on the primary")
        await self._lock.acquire()
        try:
            txn = Transaction(self)
            result = work(txn)
            if txn.changes:
                serial, timestamp = self.serial + 1, self._clock.seconds()
                await self._run(lambda: txn.commit_to(self._backend, serial, timestamp))
                self._apply(serial, timestamp, txn.changes)
            return Committed(result, self.serial)
        finally:
            self._lock.release()

    def transact_now(self, work: Callable[[Transaction], T]) -> Committed[T]:
        """
        Like L{transact}, but commit in the calling thread: only for start-up
        and offline admin commands, before the reactor runs.
        """
        txn = Transaction(self)
        result = work(txn)
        if txn.changes:
            serial, timestamp = self.serial + 1, self._clock.seconds()
            txn.commit_to(self._backend, serial, timestamp)
            self._apply(serial, timestamp, txn.changes)
        return Committed(result, self.serial)

    async def apply(
        self, entries: list[Entry], after: Optional[Callable[[], T]] = None
    ) -> Optional[T]:
        """
        Commit C{entries} (consecutive serials from a primary, starting at the
        next serial) with their own serials and timestamps, in the writer
        thread, all or none; then run C{after} there and return its result
        (None if it failed: that is logged).
        """
        await self._lock.acquire()
        try:
            if not entries or entries[0].serial != self.serial + 1:
                first = entries[0].serial if entries else None
                raise ValueError(f"replicated serial {first} does not follow {self.serial}")

            def commit() -> Optional[T]:
                self._backend.commit_many(entries)
                if after is None:
                    return None
                try:
                    return after()
                except Exception:
                    _log.failure("after-apply effect failed")
                    return None

            result = await self._run(commit)
            for entry in entries:
                self._apply(entry.serial, entry.timestamp, entry.changes)
            return result
        finally:
            self._lock.release()

    def entries(self, since: int, limit: int) -> list[tuple[int, float, str]]:
        """Up to C{limit} committed entries from C{since} on, as stored; blocks."""
        return self._backend.entries(since, limit)

    def reached(self, serial: int) -> Deferred[None]:
        """Fires once the store is at C{serial} or beyond (cancellable)."""
        if self.serial >= serial:
            d: Deferred[None] = Deferred()
            d.callback(None)
            return d

        def cancel(d: Deferred[None]) -> None:
            waiting = self._waiting.get(serial, [])
            if d in waiting:
                waiting.remove(d)
                if not waiting:
                    del self._waiting[serial]

        d = Deferred(cancel)
        self._waiting.setdefault(serial, []).append(d)
        return d

    async def reached_within(self, serial: int, seconds: float) -> bool:
        """Whether the store is at C{serial} or beyond within C{seconds}."""
        reached = self.reached(serial)
        timer = self._clock.callLater(seconds, reached.cancel)
        try:
            await reached
        except CancelledError:
            return False
        finally:
            if timer.active():
                timer.cancel()
        return True

    def _apply(self, serial: int, timestamp: float, changes: Changes) -> None:
        for key, text in changes.items():
            parent, name = _parent_and_name(key)
            if text is None:
                self._values.pop(key, None)
                siblings = self._children.get(parent)
                if siblings is not None:
                    siblings.discard(name)
                    if not siblings:
                        del self._children[parent]
            else:
                self._values[key] = text
                self._children.setdefault(parent, set()).add(name)
        self.serial = serial
        self.last_commit_timestamp = timestamp
        for waiter in self._waiting.pop(serial, ()):
            waiter.callback(None)
        for listener in list(self._listeners):
            try:
                listener(serial, changes)
            except Exception:
                _log.failure("commit listener {listener!r} failed", listener=listener)

    def close(self) -> None:
        """Release the backend."""
        self._backend.close()
