"""Render once, serve many: simple pages as bytes, dropped by the commits they depend on."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Hashable, Optional

from devpi_twisted.store.changelog import Store
from devpi_twisted.store.interface import Changes

#: Key kinds whose change alters the pages of the project named in the key.
_PROJECT_KINDS = ("project", "version")


@dataclass(frozen=True)
class Page:
    """A rendered page and its strong ETag."""

    body: bytes
    etag: bytes


def make_page(body: bytes) -> Page:
    """A page with an ETag derived from its bytes."""
    return Page(body, b'"' + hashlib.sha256(body).hexdigest()[:32].encode() + b'"')


class PageCache:
    """
    Pages by key, each tied to a project (or None for project lists).
    A commit that changes an index config drops everything; one that
    changes a project's records drops that project's pages and all lists.
    """

    def __init__(self, store: Store, max_pages: int = 20000) -> None:
        self._pages: OrderedDict[Hashable, Page] = OrderedDict()
        self._keys_by_project: dict[Optional[str], set[Hashable]] = {}
        self._max_pages = max_pages
        store.subscribe(self._invalidate)

    def peek(self, key: Hashable) -> Optional[Page]:
        """The cached page for C{key}, if there is one."""
        return self._pages.get(key)

    def get(
        self, key: Hashable, project: Optional[str], render: Callable[[], bytes]
    ) -> Page:
        """The cached page for C{key}, rendering it with C{render} on a miss."""
        page = self._pages.get(key)
        if page is None:
            page = make_page(render())
            self._pages[key] = page
            self._keys_by_project.setdefault(project, set()).add(key)
            if len(self._pages) > self._max_pages:
                self._drop(next(iter(self._pages)))
        return page

    def _drop(self, key: Hashable) -> None:
        self._pages.pop(key, None)
        for keys in self._keys_by_project.values():
            keys.discard(key)

    def _drop_project(self, project: Optional[str]) -> None:
        for key in self._keys_by_project.pop(project, ()):
            self._pages.pop(key, None)

    def _invalidate(self, serial: int, changes: Changes) -> None:
        for key in changes:
            parts = key.split("/")
            if parts[0] == "index":
                self._pages.clear()
                self._keys_by_project.clear()
                return
            if parts[0] in _PROJECT_KINDS and len(parts) > 3:
                self._drop_project(parts[3])
                self._drop_project(None)
