"""Serving stored files: +f/ downloads, their metadata, PEP 658 .metadata files, deletion."""

from __future__ import annotations

import mimetypes
from typing import Any, BinaryIO, Optional, Union

from twisted.logger import Logger
from twisted.web import http, server, static
from twisted.web.resource import IResource
from twisted.web.server import Request

from devpi_twisted.model import acl, indexes, keys, releases, serving
from devpi_twisted.model.errors import NotFound, PermissionDenied
from devpi_twisted.web.conditional import CACHE_CONTROL, not_modified, range_applies
from devpi_twisted.web.context import WebContext
from devpi_twisted.web.incoming import authenticate, has_arg, permission
from devpi_twisted.web.objects import ObjectFile
from devpi_twisted.web.producers import PRODUCER_BUFFER, SendfileProducer, WholeFileProducer
from devpi_twisted.web.replies import (
    error_reply,
    message_reply,
    result_reply,
    wants_json,
)
from devpi_twisted.web.routing import route_map
from devpi_twisted.web.transactions import commit

_log = Logger()

#: What C{.metadata} files (a wheel's METADATA, RFC 822 style text) are served as.
METADATA_TYPE = "text/plain; charset=utf-8"
#: A C{Range} with more parts than this, or parts adding up to more than the
#: file, is ignored and the whole file sent (no amplification by overlapping ranges).
MAX_RANGES = 16

#: The content types of what is served at a release file's path plus a suffix.
_ATTACHED_TYPES = {
    serving.METADATA_SUFFIX: METADATA_TYPE,
    releases.PROVENANCE_SUFFIX: "application/json",
}


def content_type(filename: str) -> str:
    """devpi's content type for a file name; a compression suffix is not an encoding."""
    return mimetypes.guess_type(filename)[0] or "application/octet-stream"


class StoredFile(static.File):
    """
    One blob served as the release file it is stored for: type, ETag and
    Last-Modified come from the file entry, not from the blob's file. It is
    a leaf, so klein renders it for the whole remaining path. Single and
    multiple C{Range} requests and the streaming producers are L{static.File}'s.
    """

    isLeaf = True

    def __init__(
        self,
        path: str,
        relpath: str,
        content_type: str,
        sha256: str,
        last_modified: Optional[str],
    ) -> None:
        super().__init__(path, defaultType="application/octet-stream")
        self.relpath = relpath
        # set here, static.File would otherwise guess type *and* encoding (.gz)
        self.type = content_type  # type: ignore[assignment]  # static.File declares type = None
        self.encoding = None
        self.etag = sha256
        self.last_modified = last_modified

    def render_GET(self, request: Request) -> Union[bytes, int]:
        """Send the blob (or the requested ranges, or 304), streamed from disk."""
        self.restat(False)
        try:
            if not self.isfile():
                raise FileNotFoundError(self.path)
            opened: BinaryIO = self.openForReading()
        except OSError:
            _log.error(
                "stored file {relpath} is missing its blob {path}",
                relpath=self.relpath,
                path=self.path,
            )
            return error_reply(
                request, 500, f"the stored data of {self.relpath} is missing on the server"
            )
        request.setHeader(b"accept-ranges", b"bytes")
        request.setHeader(b"etag", b'"%s"' % self.etag.encode("ascii"))
        request.setHeader(b"cache-control", CACHE_CONTROL)
        if self.last_modified:
            request.setHeader(b"last-modified", self.last_modified.encode("ascii"))
        if not_modified(request, self.etag, self.last_modified):
            opened.close()
            request.setResponseCode(http.NOT_MODIFIED)
            # finished here: returning b"" would make twisted add Content-Length: 0
            request.finish()
            return server.NOT_DONE_YET
        if request.method == b"HEAD":
            self._setContentHeaders(request)
            opened.close()
            return b""
        self.makeProducer(request, opened).start()
        return server.NOT_DONE_YET

    render_HEAD = render_GET


    def _too_many_ranges(self, request: Request) -> bool:
        """Ranges that would make the reply larger than the file are not served."""
        try:
            ranges = self._parseRangeHeader(request.getHeader(b"range"))
        except ValueError:
            return False
        if len(ranges) <= 1:
            return False
        total = sum(self._rangeToOffsetAndSize(start, end)[1] for start, end in ranges)
        return len(ranges) > MAX_RANGES or total > self.getFileSize()

    def makeProducer(self, request: Request, fileForReading: BinaryIO) -> Any:
        if request.getHeader(b"range") is None or (
            not range_applies(request, self.etag, self.last_modified) or self._too_many_ranges(request)
        ):
            self._setContentHeaders(request)
            request.setResponseCode(http.OK)
            transport = SendfileProducer.usable(request)
            if transport is not None:
                return SendfileProducer(request, fileForReading, transport)
            return WholeFileProducer(request, fileForReading)
        producer = super().makeProducer(request, fileForReading)
        producer.bufferSize = PRODUCER_BUFFER
        return producer

    def _rangeToOffsetAndSize(self, start: Optional[int], end: Optional[int]) -> tuple[int, int]:
        size = self.getFileSize()
        if start is None and end is not None:
            # a suffix: static.File gives a negative offset when it is longer than the file
            return (0, 0) if end == 0 or size == 0 else (max(size - end, 0), min(end, size))
        result: tuple[int, int] = super()._rangeToOffsetAndSize(start, end)
        return result

    def _doMultipleRangeRequest(self, request: Request, byteRanges: list[Any]) -> Any:
        rangeInfo = super()._doMultipleRangeRequest(request, byteRanges)
        # static.File returns ([], b"") when nothing is satisfiable, which its
        # producer cannot iterate: send the empty 416 body instead
        return rangeInfo if isinstance(rangeInfo, list) else [(b"", 0, 0)]


async def blob_resource(
    ctx: WebContext,
    relpath: str,
    type_: str,
    sha256: str,
    last_modified: Optional[str],
    redirect: bool = True,
) -> IResource:
    """
    The blob C{sha256} served as C{relpath}: a local file, or streamed from
    (or, with C{redirect} and C{--blob-redirect}, redirected to) the object
    store; on a replica fetched first if need be.
    """
    await ctx.ensure_blob(sha256)
    path = ctx.blobs.local_path(sha256)
    if path is not None:
        return StoredFile(path, relpath, type_, sha256, last_modified)
    expiry = ctx.blob_redirect if redirect else None
    return ObjectFile(ctx.blobs, ctx.io, relpath, type_, sha256, last_modified, expiry)


def file_meta(entry: dict[str, Any]) -> dict[str, Any]:
    """devpi's C{releasefilemeta} result for a file entry."""
    return {
        "last_modified": entry.get("last_modified"),
        "hash_spec": f"sha256={entry['sha256']}",
        "hashes": {"sha256": entry["sha256"]},
        "project": entry.get("project"),
        "version": entry.get("version"),
    }


class FileRoutes:
    """The C{+f/} and C{+e/} routes: download, file metadata, deletion."""

    app = route_map()

    def __init__(self, ctx: WebContext) -> None:
        self._ctx = ctx

    async def _stored(self, relpath: str, sha256: str, entry: dict[str, Any], type_: str) -> IResource:
        return await blob_resource(self._ctx, relpath, type_, sha256, entry.get("last_modified"))

    async def _from_mirror(self, request: Request, source: serving.Source, username: str, indexname: str, relpath: str) -> bool:
        """
        Fetch a file of a mirror index that is not stored yet; True when the
        reply is complete (the download was streamed, or a redirect upstream).
        """
        ctx = self._ctx
        name = f"{username}/{indexname}"
        config = indexes.get_index(ctx.store, username, indexname)
        if source is serving.Source.MIRROR_METADATA:
            await ctx.mirrors.files.fetch_metadata(name, config, relpath[: -len(serving.METADATA_SUFFIX)])
            return False
        if source is serving.Source.EXTERNAL:
            _, link = await ctx.mirrors.files.find(name, config, relpath)
            request.setResponseCode(302)
            request.setHeader(b"location", link["url"].encode())
            return True
        streaming = request.method == b"GET" and not wants_json(request)
        return await ctx.mirrors.files.fetch(name, config, relpath, request if streaming else None)

    @app.route("/<name:username>/<name:indexname>/+f/<path:rest>", methods=["GET"])
    def get_file(self, request: Request, username: str, indexname: str, rest: str) -> Any:
        return self._serve(request, username, indexname, f"{username}/{indexname}/+f/{rest}")

    @app.route("/<name:username>/<name:indexname>/+e/<path:rest>", methods=["GET"])
    def get_mirror_file(self, request: Request, username: str, indexname: str, rest: str) -> Any:
        return self._serve(request, username, indexname, f"{username}/{indexname}/+e/{rest}")

    async def _serve(self, request: Request, username: str, indexname: str, relpath: str) -> Any:
        ctx = self._ctx
        source = serving.file_source(ctx.store, username, indexname, relpath, ctx.replication.replica is not None)
        if source is serving.Source.PRIMARY:
            assert ctx.replication.replica is not None
            await ctx.replication.replica.forwarder.relay(request, wait_for_serial=False)
            return None
        if source is not serving.Source.STORE and await self._from_mirror(request, source, username, indexname, relpath):
            return None
        entry = ctx.store.get(keys.file(relpath))
        suffix = serving.attached_suffix(relpath)
        if entry is None and suffix is not None:
            entry, digest = serving.attached(ctx.store, relpath)
            return await self._stored(relpath, digest, entry, _ATTACHED_TYPES[suffix])
        if entry is None:
            raise NotFound(f"no such file: {relpath}")
        if wants_json(request):
            return result_reply(request, "releasefilemeta", file_meta(entry))
        filename = relpath.rsplit("/", 1)[-1]
        return await self._stored(relpath, entry["sha256"], entry, content_type(filename))

    @app.route("/<name:username>/<name:indexname>/+f/<path:rest>", methods=["DELETE"])
    async def delete_file(self, request: Request, username: str, indexname: str, rest: str) -> bytes:
        ctx = self._ctx
        relpath = f"{username}/{indexname}/+f/{rest}"
        auth = await authenticate(ctx, request)
        config = indexes.get_index(ctx.store, username, indexname)
        with permission(auth):
            if not acl.may_delete_entries(auth.identity, username, config):
                raise PermissionDenied(f"no permission to delete {relpath}")
        force = has_arg(request, b"force")
        await commit(
            ctx,
            request,
            lambda txn: releases.delete_file(txn, username, indexname, relpath, force),
        )
        return message_reply(request, f"package '{relpath}' deleted")
