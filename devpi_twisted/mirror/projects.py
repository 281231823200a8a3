"""Mirror project lists: the upstream's names, kept in memory and on disk, refreshed after expiry."""

from __future__ import annotations

import json
import os
from typing import Any, Callable, Optional

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from devpi_twisted.mirror.flights import Flights, patiently
from devpi_twisted.mirror.parse import ACCEPT, UpstreamPageError, parse_project_list
from devpi_twisted.mirror.upstream import UpstreamClient, UpstreamError
from devpi_twisted.model import keys, mirrors
from devpi_twisted.model.records import IndexConfig
from devpi_twisted.store.changelog import Store
from devpi_twisted.threads import Runner

#: After a failed refresh, how long the cached list is used before upstream is asked again.
RETRY_AFTER_FAILURE = 60.0


class _Listing:
    def __init__(self, names: list[str], fresh_until: float, etag: Optional[str]) -> None:
        self.names = names
        self.fresh_until = fresh_until
        self.etag = etag


class MirrorProjects:
    """
    The project list of each mirror index. The list is not part of the
    changelog (PyPI's has hundreds of thousands of names and changes all the
    time): it lives in memory and in a file per index in C{directory}, so a
    restarted or offline server still knows it.
    """

    def __init__(
        self,
        store: Store,
        client: UpstreamClient,
        clock: IReactorTime,
        io: Runner,
        directory: str,
        default_expiry: float,
        offline: bool,
        log: Logger,
        list_url: Optional[Callable[[str, IndexConfig], str]] = None,
    ) -> None:
        self._store = store
        # where a mirror's list comes from: its upstream, or (replicas) the primary
        self._list_url = list_url or (lambda name, config: mirrors.upstream_url(config))
        self._client = client
        self._clock = clock
        self._io = io
        self._directory = directory
        self._default_expiry = default_expiry
        self._offline = offline
        self._log = log
        self._listings: dict[str, _Listing] = {}
        self._flights: Flights[str, None] = Flights(log)

    def busy(self) -> bool:
        """Whether upstream work is in progress (some goes on after a reply)."""
        return self._flights.busy()

    def _path(self, name: str) -> str:
        return os.path.join(self._directory, name.replace("/", "+") + ".json")

    def _cached_names(self, name: str) -> list[str]:
        """Projects whose pages this mirror has stored."""
        username, _, indexname = name.partition("/")
        return self._store.children(keys.mirror_pages_of(username, indexname))

    async def names(self, name: str, config: IndexConfig) -> list[str]:
        """The normalized names of the projects mirror C{name} offers."""
        if config.get("mirror_no_project_list"):
            return self._cached_names(name)
        listing = self._listings.get(name)
        if listing is None:
            listing = self._listings[name] = await self._io(lambda: self._load(name))
        if self._offline or listing.fresh_until > self._clock.seconds():
            return listing.names or self._cached_names(name)
        waiter = self._flights.join(name, lambda: self._refresh(name, config, listing))
        if listing.names:
            # a cached list is not held up by a slow or failing upstream (as pages are not)
            limit = 0.0 if self._client.outage() else self._client.timeout
            await patiently(self._clock, waiter, limit, None)
        else:
            await waiter
        return listing.names or self._cached_names(name)

    async def _refresh(self, name: str, config: IndexConfig, listing: _Listing) -> None:
        try:
            fetched = await self._client.fetch(self._list_url(name, config), ACCEPT, listing.etag)
            if fetched.code == 200:
                content_type = (fetched.headers.getRawHeaders(b"content-type") or [b""])[0]
                listing.names = await self._io(
                    lambda: parse_project_list(fetched.body, content_type.decode("latin-1"))
                )
                listing.etag = (fetched.headers.getRawHeaders(b"etag") or [b""])[0].decode() or None
                await self._io(lambda: self._save(name, listing.names))
            listing.fresh_until = self._clock.seconds() + mirrors.cache_expiry(
                config, self._default_expiry
            )
        except (UpstreamError, UpstreamPageError) as error:
            self._log.debug("using the cached project list of {index}: {error}", index=name, error=error)
            listing.fresh_until = self._clock.seconds() + RETRY_AFTER_FAILURE

    def _load(self, name: str) -> _Listing:
        try:
            with open(self._path(name), "rb") as f:
                names = json.load(f)
        except (OSError, ValueError):
            names = []
        return _Listing(names if isinstance(names, list) else [], 0.0, None)

    def _save(self, name: str, names: list[str]) -> None:
        os.makedirs(self._directory, exist_ok=True)
        temp = self._path(name) + ".tmp"
        with open(temp, "w") as f:
            json.dump(names, f)
        os.replace(temp, self._path(name))

