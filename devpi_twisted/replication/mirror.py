"""On a replica, mirror pages are refreshed by the primary: it fetches and commits, the stream brings them."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from devpi_twisted.mirror.pages import NOT_FOUND_EXPIRY, MirrorPages
from devpi_twisted.mirror.parse import ACCEPT
from devpi_twisted.mirror.upstream import UpstreamError, UpstreamNotFound
from devpi_twisted.model.errors import NotFound
from devpi_twisted.model.records import IndexConfig
from devpi_twisted.replication.status import reported_serial


class PrimaryMirrorPages(MirrorPages):
    """
    Mirror pages as a replica keeps them fresh: by asking the primary for the
    page (which refreshes it there if needed) and waiting until the serial
    the primary answered with has been applied here. The client given is
    the one for the primary; C{primary_url} ends with C{/}.
    """

    def __init__(self, primary_url: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._primary_url = primary_url

    async def _refresh(
        self, name: str, config: IndexConfig, project: str, cached: bool
    ) -> bool:
        key = (name, project)
        url = f"{self._primary_url}{name}/+simple/{quote(project, safe='')}/"
        try:
            fetched = await self._client.fetch(url, ACCEPT)
        except UpstreamNotFound:
            self._missing_until[key] = self._clock.seconds() + NOT_FOUND_EXPIRY
            raise NotFound(f"The project {project} does not exist.")
        except UpstreamError as error:
            return self._failed(key, cached, error)
        serial = reported_serial(fetched.headers)
        if serial is not None and not await self._store.reached_within(serial, self._patience):
            return self._failed(key, cached, UpstreamError(f"serial {serial} of {name}/{project} did not arrive"))
        self._fresh(key, config)
        if fetched.headers.getRawHeaders(b"pragma") == [b"no-cache"]:
            self._stale.add(key)
            return True
        return False
