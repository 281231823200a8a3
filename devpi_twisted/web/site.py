"""The twisted.web site: a request that refuses bodies above a size limit."""

from __future__ import annotations

from typing import Any, Optional

from twisted.web import server
from twisted.web.resource import IResource

from devpi_twisted.web.replies import error_reply


class LimitedRequest(server.Request):
    """
    A request whose body is discarded, not stored, once it grows past the
    site's C{max_body_size}; it is then answered with 413. Form bodies are
    left unparsed (Twisted would read them whole into memory).
    """

    _body_size = 0
    _too_large = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # uploads are parsed as a stream by the upload route, never into memory
        kwargs["parsePOSTFormSubmission"] = False
        super().__init__(*args, **kwargs)

    def _limit(self) -> int:
        return self.channel.site.max_body_size  # type: ignore[no-any-return]

    def gotLength(self, length: Optional[int]) -> None:
        if length is not None and length > self._limit():
            self._too_large = True
        super().gotLength(None if self._too_large else length)

    def handleContentChunk(self, data: bytes) -> None:
        self._body_size += len(data)
        if self._body_size > self._limit():
            self._too_large = True
        if not self._too_large:
            super().handleContentChunk(data)

    def process(self) -> None:
        if not self._too_large:
            return super().process()
        self.setHeader(b"connection", b"close")
        self.write(
            error_reply(self, 413, f"request body larger than {self._limit()} bytes")
        )
        self.finish()


class DevpiSite(server.Site):
    """A site serving C{resource} with a request body size limit."""

    requestFactory = LimitedRequest

    def __init__(self, resource: IResource, max_body_size: int) -> None:
        super().__init__(resource)
        self.max_body_size = max_body_size
