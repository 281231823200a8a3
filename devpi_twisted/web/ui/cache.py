"""UI pages rendered once per store serial: bytes with strong ETags, the most recent kept."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Awaitable, Callable, Hashable, Optional

from twisted.internet.interfaces import IReactorTime

from devpi_twisted.store.changelog import Store
from devpi_twisted.web.page_cache import Page, make_etag


@dataclass(frozen=True)
class _Entry:
    serial: int
    page: Page


class RenderCache:
    """
    Rendered pages by key; a page is served while the store is at the serial
    it was rendered at (and, for pages built from upstream lists, until
    C{fresh_until}); after that the next request renders it again.
    """

    def __init__(self, store: Store, clock: IReactorTime, size: int = 2000) -> None:
        self._store = store
        self._clock = clock
        self._size = size
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()

    async def get(
        self,
        key: Hashable,
        render: Callable[[], Awaitable[bytes]],
        fresh_for: Optional[float] = None,
    ) -> Page:
        """The page for C{key}, rendered by C{render} when missing or out of date."""
        serial = self._store.serial
        entry = self._entries.get(key)
        if entry is not None and entry.serial == serial:
            until = entry.page.fresh_until
            if until is None or until > self._clock.seconds():
                self._entries.move_to_end(key)
                return entry.page
        body = await render()
        until = None if fresh_for is None else self._clock.seconds() + fresh_for
        page = Page(body, make_etag(body), until)
        # rendered from the state at C{serial}: a commit meanwhile makes the next request render again
        self._entries[key] = _Entry(serial, page)
        self._entries.move_to_end(key)
        if len(self._entries) > self._size:
            self._entries.popitem(last=False)
        return page
