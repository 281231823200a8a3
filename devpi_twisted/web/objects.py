"""Serving blobs that are no local file: streamed from the blob store in threads, or redirected to a presigned URL."""

from __future__ import annotations

from typing import Any, BinaryIO, Optional

from twisted.internet.defer import ensureDeferred
from twisted.logger import Logger
from twisted.web import http, server
from twisted.web.server import Request
from twisted.web.resource import Resource

from devpi_twisted.store.blobs import BlobStoreUnavailable, IBlobStore
from devpi_twisted.threads import Runner
from devpi_twisted.web.conditional import (
    CACHE_CONTROL,
    Unsatisfiable,
    not_modified,
    range_applies,
    single_range,
)
from devpi_twisted.web.producers import WholeFileProducer
from devpi_twisted.web.replies import blob_store_status, error_reply

_log = Logger()

#: Bytes read from the object store per thread call while sending.
CHUNK = 1024 * 1024
#: A redirect to a presigned URL is not to be cached by proxies (it expires).
REDIRECT_CACHE_CONTROL = b"private, no-store"


class ThreadedBodyProducer(WholeFileProducer):
    """
    Sends a blob's body as a push producer: each chunk is read in a thread,
    the next only once the transport takes more, so at most one chunk per
    download is held in memory.
    """

    def __init__(self, request: Request, body: BinaryIO, run: Runner, sha256: str) -> None:
        super().__init__(request, body)
        self._run = run
        self._sha256 = sha256

    def _send(self) -> None:
        if self._paused or self._writing or self._done:
            return
        self._writing = True
        self._run(lambda: self._file.read(CHUNK)).addCallbacks(self._got, self._failed)

    def _got(self, data: bytes) -> None:
        self._writing = False
        if self._done:
            return
        if not data:
            self._end()
            return
        self._request.write(data)
        self._send()

    def _failed(self, failure: Any) -> None:
        self._writing = False
        _log.error("sending blob {sha256} broke off: {error}", sha256=self._sha256, error=failure.value)
        self._finish()
        self._request.unregisterProducer()
        self._request.transport.abortConnection()  # type: ignore[union-attr]  # the client sees a short body

    def _finish(self) -> None:
        self._done = True
        self._run(self._file.close)


class ObjectFile(Resource):
    """
    One blob of an object store served as the release file it is stored
    for: ETag, Last-Modified, conditional requests and a single Range as
    a local file gets; with C{redirect_expiry}, a 302 to a presigned URL.
    """

    isLeaf = True

    def __init__(
        self,
        blobs: IBlobStore,
        run: Runner,
        relpath: str,
        content_type: str,
        sha256: str,
        last_modified: Optional[str],
        redirect_expiry: Optional[int] = None,
    ) -> None:
        super().__init__()
        self._blobs = blobs
        self._run = run
        self.relpath = relpath
        self.type = content_type
        self.etag = sha256
        self.last_modified = last_modified
        self._redirect_expiry = redirect_expiry

    def render_GET(self, request: Request) -> int:
        ensureDeferred(self._render(request)).addErrback(
            lambda failure: _log.failure("serving {relpath}", failure, relpath=self.relpath)
        )
        return server.NOT_DONE_YET

    render_HEAD = render_GET

    async def _render(self, request: Request) -> None:
        try:
            await self._reply(request)
            return
        except BlobStoreUnavailable as error:
            status = blob_store_status(error)
            message = f"{self.relpath}: {error}"
        except FileNotFoundError:
            _log.error("stored file {relpath} is missing its blob {sha256}", relpath=self.relpath, sha256=self.etag)
            status, message = 500, f"the stored data of {self.relpath} is missing on the server"
        for name in (b"etag", b"last-modified", b"accept-ranges", b"cache-control", b"content-length"):
            request.responseHeaders.removeHeader(name)
        request.write(error_reply(request, status, message))
        request.finish()

    async def _reply(self, request: Request) -> None:
        request.setHeader(b"etag", b'"%s"' % self.etag.encode("ascii"))
        if self.last_modified:
            request.setHeader(b"last-modified", self.last_modified.encode("ascii"))
        if not_modified(request, self.etag, self.last_modified):
            request.setHeader(b"cache-control", CACHE_CONTROL)
            request.setResponseCode(http.NOT_MODIFIED)
            request.finish()
            return
        if self._redirect_expiry is not None:
            expiry = self._redirect_expiry
            url = await self._run(lambda: self._blobs.presigned_url(self.etag, self.type, expiry))
            if url is not None:
                request.setResponseCode(http.FOUND)
                request.setHeader(b"location", url.encode("ascii"))
                request.setHeader(b"cache-control", REDIRECT_CACHE_CONTROL)
                request.finish()
                return
        size = await self._run(lambda: self._blobs.size(self.etag))
        if size is None:
            raise FileNotFoundError(self.etag)
        request.setHeader(b"accept-ranges", b"bytes")
        request.setHeader(b"cache-control", CACHE_CONTROL)
        request.setHeader(b"content-type", self.type.encode("ascii"))
        wanted = request.getHeader(b"range") if range_applies(request, self.etag, self.last_modified) else None
        try:
            part = single_range(wanted, size)
        except Unsatisfiable:
            request.setResponseCode(http.REQUESTED_RANGE_NOT_SATISFIABLE)
            request.setHeader(b"content-range", b"bytes */%d" % size)
            request.setHeader(b"content-length", b"0")
            request.finish()
            return
        first, last = (0, size - 1) if part is None else part
        if part is not None:
            request.setResponseCode(http.PARTIAL_CONTENT)
            request.setHeader(b"content-range", b"bytes %d-%d/%d" % (first, last, size))
        request.setHeader(b"content-length", b"%d" % (last + 1 - first if size else 0))
        if request.method == b"HEAD" or size == 0:
            request.finish()
            return
        body = await self._run(lambda: self._blobs.open(self.etag, first, last))
        ThreadedBodyProducer(request, body, self._run, self.etag).start()
