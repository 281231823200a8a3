"""Mirror project pages: fetched from upstream, kept fresh, stored only when they change."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Optional
from urllib.parse import quote

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from devpi_twisted.mirror.checks import PageChecks
from devpi_twisted.mirror.flights import Flights, patiently
from devpi_twisted.mirror.parse import ACCEPT, UpstreamPageError, parse_project_page
from devpi_twisted.mirror.upstream import UpstreamClient, UpstreamError, UpstreamNotFound
from devpi_twisted.model import mirrors
from devpi_twisted.model.errors import NotFound
from devpi_twisted.model.records import IndexConfig
from devpi_twisted.store.changelog import Store
from devpi_twisted.threads import Runner

#: After a failed refresh, how long the cached page is served before upstream is asked again.
RETRY_AFTER_FAILURE = 30.0
#: How long "upstream has no such project" is believed.
NOT_FOUND_EXPIRY = 60.0

Key = tuple[str, str]


class MirrorPages:
    """
    Keeps the cached upstream pages of mirror indexes fresh. Freshness is
    per process (as in devpi): after a restart every page is revalidated on
    first use. Concurrent refreshes of one page share one upstream fetch.
    """

    def __init__(
        self,
        store: Store,
        client: UpstreamClient,
        clock: IReactorTime,
        io: Runner,
        default_expiry: float,
        offline: bool,
        log: Logger,
        patience: float = 5.0,
        checks: Optional[PageChecks] = None,
    ) -> None:
        self._store = store
        self._client = client
        self._clock = clock
        self._io = io
        self._default_expiry = default_expiry
        self._offline = offline
        self._log = log
        self._patience = patience
        self._fresh_until: dict[Key, float] = {}
        self._missing_until: dict[Key, float] = {}
        self._etags: dict[Key, str] = {}
        self._stale: set[Key] = set()
        self._flights: Flights[Key, bool] = Flights(log)
        self.checks = PageChecks(clock, io, None) if checks is None else checks

    @property
    def offline(self) -> bool:
        """Whether upstream is never contacted (--offline-mode)."""
        return self._offline

    def busy(self) -> bool:
        """Whether upstream work is in progress (some goes on after a reply)."""
        return self._flights.busy()

    def outages(self) -> dict[str, float]:
        """The upstream hosts whose last fetch failed, and since when (clock seconds)."""
        return self._client.outage()

    def fresh_until(self, name: str, project: str) -> float:
        """Until when the cached page counts as fresh (0 if it must be refreshed)."""
        return self._fresh_until.get((name, project), 0.0)

    def expires_at(self, name: str, config: IndexConfig, project: str) -> float:
        """When the cached page stops being fresh (0 if never confirmed), in this or an earlier run."""
        until = self._fresh_until.get((name, project))
        if until is not None:
            return until
        checked = self.checks.checked_at((name, project))
        return 0.0 if checked is None else checked + mirrors.cache_expiry(config, self._default_expiry)

    async def revalidate(self, name: str, config: IndexConfig, project: str) -> None:
        """
        Ask upstream for a page now, fresh or not (the warmer, before it
        expires); joins a refresh in flight. Raises as L{refresh}.
        """
        username, _, indexname = name.partition("/")
        cached = mirrors.get_page(self._store, username, indexname, project) is not None
        await self._flights.join(
            (name, project), lambda: self._refresh(name, config, project, cached)
        )

    def forget(self, name: str, project: str) -> None:
        """Make the next use of this page ask upstream (the refresh button)."""
        self._fresh_until.pop((name, project), None)
        self._missing_until.pop((name, project), None)
        self._etags.pop((name, project), None)
        self._stale.discard((name, project))
        self.checks.forget((name, project))

    async def refresh(self, name: str, config: IndexConfig, project: str) -> bool:
        """
        Make sure the page of C{project} on mirror C{name} is fresh; returns
        whether the cached page is served stale (upstream failed or offline).
        Raises L{NotFound} when upstream has no such project (or nothing is
        cached offline) and L{UpstreamError} when it failed with nothing cached.
        """
        key = (name, project)
        username, _, indexname = name.partition("/")
        cached = mirrors.get_page(self._store, username, indexname, project) is not None
        await self.checks.load()
        self.checks.used(key)
        now = self._clock.seconds()
        if cached and key not in self._fresh_until and self.checks.checked_at(key) is not None:
            # confirmed before a restart: fresh until its expiry, as if never stopped
            self._fresh_until[key] = self.expires_at(name, config, project)
        if self._offline:
            if not cached:
                raise NotFound(f"The project {project} does not exist (offline).")
            return True
        if self._fresh_until.get(key, 0.0) > now:
            return key in self._stale
        if self._missing_until.get(key, 0.0) > now:
            raise NotFound(f"The project {project} does not exist.")
        waiter = self._flights.join(key, lambda: self._refresh(name, config, project, cached))
        if not cached:
            return await waiter
        # a cached page is never held up long by a slow or failing upstream:
        # it is served stale and the refresh goes on in the background
        limit = 0.0 if self._client.outage() else self._patience
        return await patiently(self._clock, waiter, limit, True)

    async def _refresh(
        self, name: str, config: IndexConfig, project: str, cached: bool
    ) -> bool:
        key = (name, project)
        username, _, indexname = name.partition("/")
        # quoted: a "#" or "?" in an odd name must not make it another project's URL
        url = mirrors.upstream_url(config) + quote(project, safe="") + "/"
        try:
            fetched = await self._client.fetch(url, ACCEPT, self._etags.get(key))
            if fetched.code == 304:
                self._fresh(key, config)
                return False
            content_type = (fetched.headers.getRawHeaders(b"content-type") or [b""])[0]
            page = await self._io(
                lambda: parse_project_page(fetched.body, content_type.decode("latin-1"), fetched.url)
            )
        except UpstreamNotFound:
            self._missing_until[key] = self._clock.seconds() + NOT_FOUND_EXPIRY
            raise NotFound(f"The project {project} does not exist.")
        except (UpstreamError, UpstreamPageError) as error:
            return self._failed(key, cached, error)
        serial = _serial(fetched.headers)
        record = mirrors.get_page(self._store, username, indexname, project)
        if (
            record is not None
            and serial < record["serial"]
            and not config.get("mirror_ignore_serial_header")
        ):
            message = f"upstream sent serial {serial} for {project}, older than the cached {record['serial']}"
            return self._failed(key, cached, UpstreamError(message))
        links = [_plain(asdict(link)) for link in page.links]
        await self._store.transact(
            lambda txn: mirrors.store_page(
                txn, username, indexname, project, links, serial, page.status
            )
        )
        etags = fetched.headers.getRawHeaders(b"etag")
        if etags:
            self._etags[key] = etags[0].decode("latin-1")
        self._fresh(key, config)
        return False

    def _fresh(self, key: Key, config: IndexConfig) -> None:
        expiry = mirrors.cache_expiry(config, self._default_expiry)
        self._fresh_until[key] = self._clock.seconds() + expiry
        self._stale.discard(key)
        self.checks.checked(key)

    def _failed(self, key: Key, cached: bool, error: Exception) -> bool:
        if not cached:
            raise error if isinstance(error, UpstreamError) else UpstreamError(str(error))
        self._log.debug("serving cached {index} {project}: {error}", index=key[0], project=key[1], error=error)
        self._fresh_until[key] = self._clock.seconds() + RETRY_AFTER_FAILURE
        self._stale.add(key)
        return True


def _serial(headers: Any) -> int:
    value = (headers.getRawHeaders(b"x-pypi-last-serial") or [b"-1"])[0]
    try:
        return int(value)
    except ValueError:
        return -1


def _plain(link: dict[str, Any]) -> dict[str, Any]:
    """A link as JSON data (tuples as lists)."""
    return {key: list(value) if isinstance(value, tuple) else value for key, value in link.items()}
