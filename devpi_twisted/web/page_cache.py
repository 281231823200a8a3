"""Render once, serve many: simple pages as bytes, dropped by the commits they depend on."""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Hashable, Optional

from twisted.internet.interfaces import IReactorTime

from devpi_twisted.metrics import Metrics
from devpi_twisted.store.changelog import Store
from devpi_twisted.store.interface import Changes

#: Key kinds whose change alters the pages of the project named in the key.
_PROJECT_KINDS = ("project", "version", "mirror")


@dataclass(frozen=True)
class Page:
    """A rendered page, its strong ETag, and how long it may be served."""

    body: bytes
    etag: bytes
    #: None: until a commit changes it; else until upstream must be asked again.
    fresh_until: Optional[float] = None
    #: Built from cached upstream data that could not be refreshed.
    stale: bool = False
    #: Headers that go with the page (a mirror's X-PyPI-Last-Serial).
    headers: tuple[tuple[bytes, bytes], ...] = ()


def make_etag(body: bytes) -> bytes:
    """A strong ETag derived from a page's bytes."""
    return b'"' + hashlib.sha256(body).hexdigest()[:32].encode() + b'"'


class PageCache:
    """
    Pages by key, each tied to a project (or None for project lists).
    A commit that changes an index config drops everything; one that
    changes a project's records (or a file of it) drops that project's
    pages and all lists. Pages built from mirrors also expire.
    """

    def __init__(
        self,
        store: Store,
        clock: IReactorTime,
        max_pages: int = 20000,
        metrics: Optional[Metrics] = None,
    ) -> None:
        self._clock = clock
        metrics = Metrics() if metrics is None else metrics
        self._hits = metrics.counter(
            "devpi_page_cache_hits_total", "Simple pages served from the page cache."
        )
        self._misses = metrics.counter(
            "devpi_page_cache_misses_total", "Simple pages rendered for the page cache."
        )
        self._pages: OrderedDict[Hashable, Page] = OrderedDict()
        self._project_of: dict[Hashable, Optional[str]] = {}
        self._keys_by_project: dict[Optional[str], set[Hashable]] = {}
        self._max_pages = max_pages
        store.subscribe(self._invalidate)

    def peek(self, key: Hashable) -> Optional[Page]:
        """The cached page for C{key}, if there is one that has not expired."""
        page = self._fresh(key)
        if page is not None:
            self._hits.inc()
        return page

    def _fresh(self, key: Hashable) -> Optional[Page]:
        page = self._pages.get(key)
        if page is not None and page.fresh_until is not None:
            if page.fresh_until <= self._clock.seconds():
                return None
        return page

    def get(
        self,
        key: Hashable,
        project: Optional[str],
        render: Callable[[], bytes],
        fresh_until: Optional[float] = None,
        stale: bool = False,
        headers: Callable[[], tuple[tuple[bytes, bytes], ...]] = tuple,
    ) -> Page:
        """The cached page for C{key}, rendering it with C{render} when missing or expired."""
        page = self._fresh(key)
        if page is not None and page.stale == stale:
            self._hits.inc()
        else:
            self._misses.inc()
            body = render()
            page = Page(body, make_etag(body), fresh_until, stale, headers())
            self._drop(key)
            self._pages[key] = page
            self._project_of[key] = project
            self._keys_by_project.setdefault(project, set()).add(key)
            if len(self._pages) > self._max_pages:
                self._drop(next(iter(self._pages)))
        return page

    def _drop(self, key: Hashable) -> None:
        if self._pages.pop(key, None) is not None:
            project = self._project_of.pop(key)
            self._keys_by_project[project].discard(key)

    def drop_project(self, project: Optional[str]) -> None:
        """Forget every page of C{project} (None: the project lists)."""
        for key in self._keys_by_project.pop(project, ()):
            self._pages.pop(key, None)
            self._project_of.pop(key, None)

    def _invalidate(self, serial: int, changes: Changes) -> None:
        for key, value in changes.items():
            parts = key.split("/")
            if parts[0] == "index":
                self._pages.clear()
                self._project_of.clear()
                self._keys_by_project.clear()
                return
            if parts[0] in _PROJECT_KINDS and len(parts) > 3:
                self.drop_project(parts[3])
                self.drop_project(None)
            elif parts[0] == "file" and value is not None:
                self.drop_project(json.loads(value).get("project"))
