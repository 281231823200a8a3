"""Mirror files: fetched on first request, streamed to the client and the blob store at once."""

from __future__ import annotations

from typing import Any, Optional
from urllib.parse import urlsplit

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.client import ResponseFailed
from twisted.web.server import Request

from devpi_twisted.connections import abort_connection
from devpi_twisted.dists import filenames, metadata
from devpi_twisted.dists.errors import DistError
from devpi_twisted.mirror.bodies import BodyReceiver
from devpi_twisted.mirror.flights import Flights
from devpi_twisted.mirror.pages import MirrorPages
from devpi_twisted.mirror import ranged
from devpi_twisted.mirror.upstream import (
    FILE_ACCEPT,
    RangeRefused,
    UpstreamClient,
    UpstreamError,
    UpstreamNotFound,
    UpstreamTimeout,
    describe,
)
from devpi_twisted.model import keys, mirrors
from devpi_twisted.model.errors import NotFound
from devpi_twisted.model.releases import RELEASEFILE, StoredBlob, ref_blob
from devpi_twisted.model.state import StateWriter
from devpi_twisted.model.records import IndexConfig
from devpi_twisted.store.blobs import HashMismatch, IBlobStore, IBlobWriter, abort_all, finished_blob
from devpi_twisted.store.changelog import Store
from devpi_twisted.threads import Runner

_PASSED_HEADERS = (b"content-type", b"content-length", b"last-modified")
#: The kind of file entry of an upstream PEP 658 metadata file.
CORE_METADATA = "core-metadata"
#: The largest core metadata file taken from upstream.
MAX_METADATA = metadata.MAX_METADATA_SIZE


class HashMismatchError(UpstreamError):
    """The downloaded bytes do not have the hash the upstream page gave."""


def _record(
    txn: StateWriter,
    relpath: str,
    project: str,
    link: dict[str, Any],
    blob: StoredBlob,
    last_modified: Optional[str],
    rel: str = RELEASEFILE,
) -> None:
    entry: dict[str, Any] = {
        "sha256": blob.sha256,
        "size": blob.size,
        "last_modified": last_modified,
        "upload_time": link.get("upload_time"),
        "project": project,
        "version": filenames.version_from_filename(link["filename"]) or "",
        "rel": rel,
        "url": link["url"],
    }
    if blob.core_metadata_sha256 is not None:
        entry["core_metadata_sha256"] = blob.core_metadata_sha256
        ref_blob(txn, blob.core_metadata_sha256, relpath + ".metadata")
    txn.set(keys.file(relpath), entry)
    ref_blob(txn, blob.sha256, relpath)


class MirrorFiles:
    """Downloads mirror files once each (single flight), verifying their hashes."""

    def __init__(
        self,
        store: Store,
        blobs: IBlobStore,
        client: UpstreamClient,
        pages: MirrorPages,
        clock: IReactorTime,
        io: Runner,
        offline: bool,
        log: Logger,
    ) -> None:
        self._store = store
        self._blobs = blobs
        self._client = client
        self._pages = pages
        self._clock = clock
        self._io = io
        self._offline = offline
        self._log = log
        self._flights: Flights[str, None] = Flights(log)
        #: upstream hosts that answered a Range request with the whole file
        self._no_range: set[str] = set()
        #: upstream hosts without .metadata files beside the wheels their pages offer none for
        self._no_metadata_files: set[str] = set()

    def busy(self) -> bool:
        """Whether upstream work is in progress (some goes on after a reply)."""
        return self._flights.busy()

    async def find(
        self, name: str, config: IndexConfig, relpath: str
    ) -> tuple[str, dict[str, Any]]:
        """The (project, upstream link) of a mirror file path; fetches its page if needed."""
        username, _, indexname = name.partition("/")
        found = mirrors.find_link(self._store, username, indexname, relpath)
        if found is None:
            for project in mirrors.candidate_projects(relpath.rsplit("/", 1)[-1]):
                try:
                    await self._pages.refresh(name, config, project)
                except (NotFound, UpstreamError):
                    continue
                found = mirrors.find_link(self._store, username, indexname, relpath)
                if found is not None:
                    break
        if found is None:
            raise NotFound(f"no such file: {relpath}")
        return found

    async def fetch(
        self,
        name: str,
        config: IndexConfig,
        relpath: str,
        request: Optional[Request] = None,
    ) -> bool:
        """
        Download a mirror file into the store. With C{request}, stream the
        bytes to it while downloading and return True (the reply is done);
        a concurrent call for the same file waits for that download and
        returns False (the caller then serves the stored file).
        """
        if self._offline:
            raise NotFound(f"{relpath} is not cached and the server is offline")
        project, link = await self.find(name, config, relpath)
        streamed = request is not None and not self._flights.running(relpath)
        await self._flights.join(
            relpath,
            lambda: self._download(config, relpath, project, link, request if streamed else None),
        )
        return streamed

    async def _download(
        self,
        config: IndexConfig,
        relpath: str,
        project: str,
        link: dict[str, Any],
        request: Optional[Request],
    ) -> None:
        writer: IBlobWriter = await self._io(self._blobs.writer)
        try:
            response = await self._client.open(mirrors.with_credentials(link["url"], config))
        except BaseException as error:
            await self._io(writer.abort)
            if isinstance(error, UpstreamNotFound):
                raise NotFound(f"upstream has no {link['url']}")
            raise
        tail: Deferred[Any] = succeed(None)
        if request is not None:
            request.setResponseCode(200)
            for header in _PASSED_HEADERS:
                for value in response.headers.getRawHeaders(header, []):
                    request.setHeader(header, value)
            request.setHeader(b"x-accel-buffering", b"no")

        held_back = b""
        # a body that stops coming for the request timeout is given up
        patience = self._client.timeout

        def received(data: bytes) -> None:
            # the last chunk reaches the client only once the hash is verified
            nonlocal tail, held_back
            idle.reset(patience)
            if request is not None and held_back:
                request.write(held_back)
            held_back = data
            tail = tail.addCallback(lambda _: self._io(lambda: writer.write(data)))

        body = BodyReceiver(received)
        stalled = UpstreamTimeout(f"upstream {link['url']} sent nothing for {patience:g}s")
        idle = self._clock.callLater(patience, lambda: body.stop(Failure(stalled)))
        try:
            try:
                response.deliverBody(body)
                await body.done
            finally:
                if idle.active():
                    idle.cancel()
                await tail
            blob, writers = await self._io(lambda: self._finish(writer, link))
        except BaseException as error:
            self._log.error("download of {url} failed: {error}", url=link["url"], error=error)
            await self._io(writer.abort)
            if request is not None:
                abort_connection(request)
            if isinstance(error, ResponseFailed):  # cut off: a 502, not a server error
                message = f"upstream {link['url']} broke off the file: {describe(error)}"
                raise UpstreamError(message) from error
            raise
        if request is not None and held_back:
            request.write(held_back)
        last_modified = (response.headers.getRawHeaders(b"last-modified") or [b""])[0].decode(
            "latin-1"
        ) or None
        await self._commit(relpath, project, link, blob, writers, last_modified)

    async def _commit(
        self,
        relpath: str,
        project: str,
        link: dict[str, Any],
        blob: StoredBlob,
        writers: list[IBlobWriter],
        last_modified: Optional[str],
    ) -> None:
        """Record a verified download, publishing its blobs with the commit."""

        def store(txn: Any) -> None:
            _record(txn, relpath, project, link, blob, last_modified)
            for each in writers:
                txn.before_commit(each.publish)

        try:
            await self._store.transact(store)
        finally:
            await self._io(lambda: abort_all(writers))

    def has_metadata(self, relpath: str) -> bool:
        """Whether the core metadata of mirror file C{relpath} is stored (on its own or with it)."""
        if self._store.get(keys.file(relpath + ".metadata")) is not None:
            return True
        entry = self._store.get(keys.file(relpath))
        return entry is not None and bool(entry.get("core_metadata_sha256"))

    async def fetch_metadata(self, name: str, config: IndexConfig, relpath: str) -> None:
        """
        Make sure the PEP 658 metadata of mirror file C{relpath} (without
        C{.metadata}) is stored: the upstream's own C{.metadata} when its page
        offers one (hash-checked); else, for a wheel, its METADATA read with
        Range requests; else the whole wheel is downloaded (and kept).
        """
        if self.has_metadata(relpath):
            return
        if filenames.is_wheel(relpath) and self._store.get(keys.file(relpath)) is not None:
            raise NotFound(f"no metadata found in {relpath}")  # the stored file has none
        if self._offline:
            raise NotFound(f"{relpath}.metadata is not cached and the server is offline")
        project, link = await self.find(name, config, relpath)
        await self._flights.join(
            relpath + ".metadata", lambda: self._fetch_metadata(config, relpath, project, link)
        )
        if not self.has_metadata(relpath):
            raise NotFound(f"no metadata found in {relpath}")

    async def _fetch_metadata(
        self, config: IndexConfig, relpath: str, project: str, link: dict[str, Any]
    ) -> None:
        if self.has_metadata(relpath):
            return
        offered = link.get("core_metadata")
        expected = offered.get("sha256") if isinstance(offered, dict) else None
        url = mirrors.with_credentials(link["url"], config)
        wheel = filenames.is_wheel(link["filename"])
        host = urlsplit(link["url"]).netloc
        raw: Optional[bytes] = None
        if offered or (wheel and host not in self._no_metadata_files):
            raw = await self._upstream_metadata(url, link["filename"], host, bool(offered))
        if raw is None and wheel and host not in self._no_range:
            try:
                read = await ranged.read_wheel_metadata(self._client, url, link["filename"], self._io)
            except RangeRefused as refused:
                self._log.info("{reason}: reading whole wheels from it", reason=refused)
                self._no_range.add(host)
            else:
                if read.whole is not None:  # a small wheel: all of it came at once
                    await self._keep(relpath, project, link, read.whole, read.last_modified)
                    return
                raw = read.metadata
        if raw is None:
            if not wheel:
                raise NotFound(f"no metadata found in {relpath}")
            # the whole wheel, cached as usual: its METADATA is kept with it
            await self._flights.join(
                relpath, lambda: self._download(config, relpath, project, link, None)
            )
            return

        def write() -> IBlobWriter:
            try:
                return finished_blob(self._blobs, raw, expected)
            except HashMismatch as error:
                raise HashMismatchError(f"{link['url']}.metadata: {error}")

        writer = await self._io(write)
        meta = dict(link, filename=link["filename"] + ".metadata", url=link["url"] + ".metadata")
        blob = StoredBlob(meta["filename"], writer.digests()["sha256"], len(raw))

        def store(txn: Any) -> None:
            _record(txn, relpath + ".metadata", project, meta, blob, None, CORE_METADATA)
            txn.before_commit(writer.publish)

        try:
            await self._store.transact(store)
        finally:
            await self._io(writer.abort)

    async def _upstream_metadata(
        self, url: str, filename: str, host: str, offered: bool
    ) -> Optional[bytes]:
        """
        The upstream's C{.metadata} of a file; also tried where its page
        offers none (PyPI's files host has them all the same), then kept only
        if it names the file's project and version, and a failure only means
        trying the wheel instead. A host without them is not asked again.
        """
        try:
            raw = (await self._client.fetch(url + ".metadata", FILE_ACCEPT, max_size=MAX_METADATA)).body
        except UpstreamNotFound:
            if not offered:
                self._no_metadata_files.add(host)
            return None
        except UpstreamError:
            if offered:
                raise
            return None
        if offered:
            return raw

        def plausible() -> bool:
            try:
                meta = metadata.parse_core_metadata(raw)
                filenames.check_matches(filename, meta["name"], meta["version"])
            except DistError:
                return False
            return True

        if await self._io(plausible):
            return raw
        self._no_metadata_files.add(host)
        return None

    async def _keep(
        self,
        relpath: str,
        project: str,
        link: dict[str, Any],
        body: bytes,
        last_modified: Optional[str],
    ) -> None:
        """Store a file upstream sent whole, verified as a download is."""

        def write() -> tuple[StoredBlob, list[IBlobWriter]]:
            writer = self._blobs.writer()
            writer.write(body)
            return self._finish(writer, link)

        blob, writers = await self._io(write)
        await self._commit(relpath, project, link, blob, writers, last_modified)

    def _finish(
        self, writer: IBlobWriter, link: dict[str, Any]
    ) -> tuple[StoredBlob, list[IBlobWriter]]:
        """Verify the download against the page's hashes; keep a wheel's METADATA too."""
        digests = writer.digests()
        for algorithm, expected in link["hashes"].items():
            actual = digests.get(algorithm)
            if actual is not None and actual != expected.lower():
                writer.abort()
                raise HashMismatchError(
                    f"{link['url']} has {algorithm} {actual}, the upstream page says {expected}"
                )
        sha256 = writer.finish()
        writers = [writer]
        meta_sha256 = None
        if filenames.is_wheel(link["filename"]):
            try:
                raw = metadata.read_core_metadata(writer.temp_path, link["filename"])
            except DistError:
                raw = None
            if raw is not None:
                meta_writer = finished_blob(self._blobs, raw)
                meta_sha256 = meta_writer.digests()["sha256"]
                writers.append(meta_writer)
        return StoredBlob(link["filename"], sha256, writer.size, meta_sha256), writers
