"""When each mirror page was last confirmed with upstream, and last asked for: kept across restarts."""

from __future__ import annotations

import json
import os
from typing import Optional

from twisted.application.service import Service
from twisted.internet.defer import Deferred, DeferredLock, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorTime

from devpi_twisted.threads import Runner

#: Seconds between a change and its being written (changes in between are written together).
SAVE_DELAY = 2.0
#: Pages neither confirmed nor asked for in this many seconds are forgotten when the file is written.
RETAIN = 90 * 86400.0

Key = tuple[str, str]


class PageChecks:
    """
    Per mirror page (index name, project): when upstream last confirmed it
    (clock seconds) and when a client last asked for it. Kept in memory and
    written to one JSON file in C{directory} a moment after changes, so a
    restarted server neither asks upstream before a page's expiry nor
    forgets which pages are in use. Without a C{directory}, memory only.
    """

    def __init__(self, clock: IReactorTime, io: Runner, directory: Optional[str]) -> None:
        self._clock = clock
        self._io = io
        self._path = None if directory is None else os.path.join(directory, "checks.json")
        self._checked: dict[Key, float] = {}
        self._used: dict[Key, float] = {}
        self._loaded = directory is None
        self._save: Optional[IDelayedCall] = None
        self._loading = DeferredLock()

    async def load(self) -> None:
        """Read the file once (later calls do nothing; concurrent ones wait for it)."""
        if not self._loaded:
            await self._loading.run(self._load)

    async def _load(self) -> None:
        if self._loaded:
            return
        data = await self._io(self._read)
        self._loaded = True
        for name, projects in data.items():
            for project, (checked, used) in projects.items():
                self._checked.setdefault((name, project), checked)
                self._used.setdefault((name, project), used)

    def checked_at(self, key: Key) -> Optional[float]:
        """When upstream last confirmed the page, if ever."""
        return self._checked.get(key)

    def used_at(self, key: Key) -> float:
        """When a client last asked for the page (0 if never)."""
        return self._used.get(key, 0.0)

    def used_since(self, since: float) -> list[Key]:
        """The pages asked for at or after C{since}."""
        return [key for key, used in self._used.items() if used >= since]

    def checked(self, key: Key) -> None:
        """Upstream confirmed the page now."""
        self._checked[key] = self._clock.seconds()
        self._changed()

    def used(self, key: Key) -> None:
        """A client asked for the page now."""
        self._used[key] = self._clock.seconds()
        self._changed()

    def forget(self, key: Key) -> None:
        """The page must be asked for again (the refresh button)."""
        self._checked.pop(key, None)
        self._changed()

    def _changed(self) -> None:
        if self._path is not None and (self._save is None or not self._save.active()):
            self._save = self._clock.callLater(SAVE_DELAY, self._write_later)

    def _write_later(self) -> Deferred[None]:
        cutoff = self._clock.seconds() - RETAIN
        for key in [k for k in self._checked.keys() | self._used.keys()
                    if max(self._checked.get(k, 0.0), self._used.get(k, 0.0)) < cutoff]:
            self._checked.pop(key, None)
            self._used.pop(key, None)
        data: dict[str, dict[str, list[float]]] = {}
        for key in self._checked.keys() | self._used.keys():
            data.setdefault(key[0], {})[key[1]] = [self._checked.get(key, 0.0), self._used.get(key, 0.0)]
        return self._io(lambda: self._write(data))

    def _read(self) -> dict[str, dict[str, list[float]]]:
        assert self._path is not None
        try:
            with open(self._path, "rb") as f:
                data = json.load(f)
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _write(self, data: dict[str, dict[str, list[float]]]) -> None:
        assert self._path is not None
        os.makedirs(os.path.dirname(self._path), exist_ok=True)
        temp = self._path + ".tmp"
        with open(temp, "w") as f:
            json.dump(data, f)
        os.replace(temp, self._path)

    def flush(self) -> Deferred[None]:
        """Write a pending change now (the service stops)."""
        if self._save is None or not self._save.active():
            return succeed(None)
        self._save.cancel()
        return self._write_later()


class PageChecksService(Service):
    """Writes the page checks that are still pending when the server stops."""

    def __init__(self, checks: PageChecks) -> None:
        self._checks = checks

    def stopService(self) -> Deferred[None]:
        super().stopService()
        return self._checks.flush()
