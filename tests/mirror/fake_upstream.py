"""A fake upstream PyPI: twisted.web serving simple pages and files a test made, able to fail, stall or lie."""

from __future__ import annotations

import hashlib
import html
import json
import os
import random
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Callable, Iterator, Optional, Union
from urllib.parse import quote, unquote

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import Version
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IDelayedCall, IListeningPort, IPushProducer, IReactorTCP
from twisted.python.failure import Failure
from twisted.web.http import HTTPChannel, Request
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Site
from zope.interface import implementer

JSON_V1 = "application/vnd.pypi.simple.v1+json"
HTML_V1 = "application/vnd.pypi.simple.v1+html"
TEXT_HTML = "text/html"
#: media ranges a client may ask for, and what is sent for each
_ACCEPTED = {
    JSON_V1: JSON_V1,
    "application/vnd.pypi.simple.latest+json": JSON_V1,
    HTML_V1: HTML_V1,
    "application/vnd.pypi.simple.latest+html": HTML_V1,
    TEXT_HTML: TEXT_HTML,
}
#: ties between equally wanted types: JSON first, but a bare */* gets PyPI's default, HTML
_PREFERENCE = (JSON_V1, HTML_V1, TEXT_HTML)
_WILDCARD_PREFERENCE = (TEXT_HTML, HTML_V1, JSON_V1)
LAST_MODIFIED = "Mon, 01 Jan 2024 00:00:00 GMT"
#: bytes generated per step for files made from a size
CHUNK = 64 * 1024


def normalize(name: str) -> str:
    """A project name as PEP 503 normalizes it."""
    return str(canonicalize_name(name))


@dataclass(frozen=True)
class FakeFile:
    """A release file upstream lists and serves.

    Give either C{data}, or a C{size} whose deterministic bytes are generated as they
    are sent (neither: 1 KiB is generated). Treat as immutable: hashes are cached.

    @ivar yanked: C{True}, or the reason as a string (PEP 592).
    @ivar core_metadata: served at the file URL plus C{.metadata} and advertised (PEP 658).
    @ivar hash_in_url: advertise the sha256 (C{#sha256=} in HTML, C{hashes} in JSON).
    @ivar wrong_hash: advertise a sha256 that is not the file's.
    @ivar upload_time: ISO 8601 text for PEP 700's C{upload-time}.
    """

    filename: str
    data: Optional[bytes] = None
    size: Optional[int] = None
    requires_python: Optional[str] = None
    yanked: Union[bool, str] = False
    core_metadata: Optional[bytes] = None
    hash_in_url: bool = True
    wrong_hash: bool = False
    upload_time: Optional[str] = None
    content_type: Optional[str] = None
    last_modified: str = LAST_MODIFIED
    #: PEP 740: the provenance URL the pages give (None: none)
    provenance: Optional[str] = None
    #: the pages advertise C{core_metadata} (when False it is only served, as PyPI's files host does)
    advertise_metadata: bool = True

    def __post_init__(self) -> None:
        if self.data is not None and self.size is not None and self.size != len(self.data):
            raise ValueError(f"{self.filename}: size {self.size} but {len(self.data)} bytes")

    @classmethod
    def from_path(cls, path: str, **options: Any) -> FakeFile:
        """A file read from disk (e.g. one C{make_wheel} wrote), named after it."""
        with open(path, "rb") as f:
            data = f.read()
        return cls(os.path.basename(path), data, **options)

    @property
    def length(self) -> int:
        if self.data is not None:
            return len(self.data)
        return 1024 if self.size is None else self.size

    def chunks(self) -> Iterator[bytes]:
        """The content, piece by piece (generated ones are never held whole)."""
        if self.data is not None:
            yield self.data
            return
        rng = random.Random(f"fake-upstream:{self.filename}")
        remaining = self.length
        while remaining > 0:
            chunk = rng.randbytes(min(CHUNK, remaining))
            remaining -= len(chunk)
            yield chunk

    def content(self) -> bytes:
        """The whole content (for tests to compare with)."""
        return b"".join(self.chunks())

    @cached_property
    def sha256(self) -> str:
        """The real sha256 of the content."""
        digest = hashlib.sha256()
        for chunk in self.chunks():
            digest.update(chunk)
        return digest.hexdigest()

    @property
    def advertised_sha256(self) -> str:
        """The sha256 the pages claim: the real one unless C{wrong_hash}."""
        if self.wrong_hash:
            return hashlib.sha256(b"not " + self.sha256.encode()).hexdigest()
        return self.sha256

    @property
    def metadata_sha256(self) -> Optional[str]:
        if self.core_metadata is None:
            return None
        return hashlib.sha256(self.core_metadata).hexdigest()

    @property
    def version(self) -> Optional[str]:
        """The version in the file name, if it is a wheel or sdist name packaging parses."""
        try:
            if self.filename.endswith(".whl"):
                return str(parse_wheel_filename(self.filename)[1])
            return str(parse_sdist_filename(self.filename)[1])
        except (InvalidWheelFilename, InvalidSdistFilename):
            return None

    @property
    def mime_type(self) -> str:
        if self.content_type is not None:
            return self.content_type
        if self.filename.endswith((".whl", ".zip", ".egg")):
            return "application/zip"
        if self.filename.endswith(".tar.gz"):
            return "application/x-tar"
        return "application/octet-stream"


@dataclass
class FakeProject:
    """A project's page: its name as added, its files, and the serial upstream reports."""

    name: str
    files: list[FakeFile]
    #: sent as X-PyPI-Last-Serial (and C{_last-serial}); None sends no serial
    serial: Optional[int]
    #: link files as C{../../files/...} instead of absolute URLs (None: the upstream's choice)
    relative_links: Optional[bool] = None
    #: PEP 792: C{archived}, C{quarantined}, C{deprecated} or C{active} (None: not said)
    status: Optional[str] = None
    status_reason: Optional[str] = None

    @property
    def normalized(self) -> str:
        return normalize(self.name)


@dataclass
class RecordedRequest:
    """One request as upstream saw it."""

    method: str
    path: str
    query: str
    #: lower-cased header name -> values
    headers: dict[str, list[str]]
    #: the status sent (None while unanswered, or if the connection went first)
    status: Optional[int] = None
    #: the kind of misbehaviour that answered it, if any
    misbehaviour: Optional[str] = None

    def header(self, name: str) -> Optional[str]:
        values = self.headers.get(name.lower())
        return None if not values else values[0]


@dataclass(eq=False)
class Misbehaviour:
    """A rule making upstream misbehave for paths starting with C{prefix}."""

    kind: str
    prefix: str
    #: requests left before the rule is dropped (None: forever)
    times: Optional[int] = None
    status: int = 200
    retry_after: Optional[str] = None
    body: bytes = b""
    content_type: str = "text/html"
    at_bytes: int = 0
    bytes_per_tick: int = 0
    tick: float = 0.0
    #: requests it has answered so far
    hits: int = 0


@dataclass
class _Reply:
    status: int
    headers: dict[str, str]
    length: int = 0
    chunks: Callable[[], Iterator[bytes]] = lambda: iter(())

    @classmethod
    def of(cls, status: int, body: bytes, content_type: str, **headers: str) -> _Reply:
        return cls(status, {"Content-Type": content_type, **headers}, len(body), lambda: iter([body]))


def _cut(chunks: Iterator[bytes], limit: int) -> Iterator[bytes]:
    for chunk in chunks:
        if limit <= 0:
            return
        yield chunk[:limit]
        limit -= len(chunk)


def _rechunk(chunks: Iterator[bytes], size: int) -> Iterator[bytes]:
    buffer = b""
    for chunk in chunks:
        buffer += chunk
        while len(buffer) >= size:
            yield buffer[:size]
            buffer = buffer[size:]
    if buffer:
        yield buffer


def negotiate(accept: Optional[str]) -> Optional[str]:
    """The content type for a simple page asked for with C{accept}; None if none is acceptable.

    Each type gets the q of the most specific range naming it (RFC 9110 12.5.1); the
    highest q wins, ties going to the more specific range, then to JSON, except that a
    bare C{*/*} gets PyPI's default, C{text/html}. No Accept header: C{text/html}.
    """
    if not accept or not accept.strip():
        return TEXT_HTML
    ranges: list[tuple[str, float]] = []
    for item in accept.split(","):
        media, *params = [part.strip() for part in item.split(";")]
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if media:
            ranges.append((media.lower(), q))
    best: Optional[tuple[float, int, int]] = None
    choice: Optional[str] = None
    for offer in _PREFERENCE:
        match = _q_of(ranges, offer)
        if match is None or match[0] <= 0:
            continue
        q, specificity = match
        preference = _WILDCARD_PREFERENCE if specificity == 0 else _PREFERENCE
        score = (q, specificity, -preference.index(offer))
        if best is None or score > best:
            best, choice = score, offer
    return choice


def _q_of(ranges: list[tuple[str, float]], offer: str) -> Optional[tuple[float, int]]:
    """The q and specificity (2 exact, 1 C{type/*}, 0 C{*/*}) of the range deciding C{offer}."""
    found: Optional[tuple[float, int]] = None
    for asked, q in ranges:
        if _ACCEPTED.get(asked) == offer:
            specificity = 2
        elif asked == "*/*":
            specificity = 0
        elif asked.endswith("/*") and offer.startswith(asked[:-1]):
            specificity = 1
        else:
            continue
        if found is None or (specificity, q) > (found[1], found[0]):
            found = (q, specificity)
    return found


class _Channel(HTTPChannel):
    """An HTTP connection that tells its site when it opens and closes."""

    factory: _Site

    def connectionMade(self) -> None:
        super().connectionMade()
        self.factory.channels.add(self)

    def connectionLost(self, reason: Failure) -> None:  # type: ignore[override]
        try:
            super().connectionLost(reason)
        finally:
            self.factory.channel_closed(self)


class _Site(Site):
    """A site that keeps its connections, to close them all, and logs nothing."""

    protocol = _Channel  # type: ignore[assignment]

    def __init__(self, resource: Resource, reactor: Any) -> None:
        super().__init__(resource, timeout=None, reactor=reactor)
        self.channels: set[_Channel] = set()
        self._all_closed: list[Deferred[None]] = []

    def log(self, request: Request) -> None:
        pass

    def channel_closed(self, channel: _Channel) -> None:
        self.channels.discard(channel)
        if not self.channels:
            waiting, self._all_closed = self._all_closed, []
            for d in waiting:
                d.callback(None)

    def close_all(self) -> Deferred[None]:
        """Abort every open connection; fires when all are closed."""
        if not self.channels:
            return succeed(None)
        d: Deferred[None] = Deferred()
        self._all_closed.append(d)
        for channel in list(self.channels):
            channel.transport.abortConnection()  # type: ignore[union-attr]
        return d


@implementer(IPushProducer)
class _BodySender:
    """Writes a body as fast as the connection takes it, or C{per_tick} bytes a tick."""

    def __init__(
        self,
        exchange: _Exchange,
        chunks: Iterator[bytes],
        close_after: bool,
        per_tick: Optional[int] = None,
        tick: float = 0.0,
    ) -> None:
        self._exchange = exchange
        self._request = exchange.request
        self._chunks = _rechunk(chunks, per_tick) if per_tick else chunks
        self._close_after = close_after
        self._per_tick = per_tick
        self._tick = tick
        self._paused = False
        self._pumping = False
        self._call: Optional[IDelayedCall] = None
        self.done = False

    def start(self) -> None:
        self._request.registerProducer(self, True)
        if self._per_tick:
            self._step()
        else:
            self._pump()

    def pauseProducing(self) -> None:
        self._paused = True

    def resumeProducing(self) -> None:
        self._paused = False
        if self._per_tick:
            if self._call is None:
                self._step()
        else:
            self._pump()

    def stopProducing(self) -> None:
        self.stop()

    def stop(self) -> None:
        self.done = True
        self._cancel()

    def _cancel(self) -> None:
        if self._call is not None:
            self._exchange.upstream._delayed.discard(self._call)
            if self._call.active():
                self._call.cancel()
            self._call = None

    def _pump(self) -> None:
        if self._pumping:
            return
        self._pumping = True
        try:
            while not self._paused and not self.done:
                chunk = next(self._chunks, None)
                if chunk is None:
                    self._finish()
                else:
                    self._request.write(chunk)
        finally:
            self._pumping = False

    def _step(self) -> None:
        self._cancel()
        if self.done or self._paused:
            return
        chunk = next(self._chunks, None)
        if chunk is None:
            self._finish()
            return
        self._request.write(chunk)
        if not self.done:
            upstream = self._exchange.upstream
            self._call = upstream.reactor.callLater(self._tick, self._step)  # type: ignore[attr-defined]
            upstream._delayed.add(self._call)

    def _finish(self) -> None:
        self.done = True
        self._request.unregisterProducer()
        if self._close_after:
            self._request.loseConnection()
        else:
            self._request.finish()


class _Exchange:
    """A request being answered, and what must stop if its connection goes."""

    def __init__(self, upstream: FakeUpstream, request: Request, record: RecordedRequest) -> None:
        self.upstream = upstream
        self.request = request
        self.record = record
        self.sender: Optional[_BodySender] = None
        self.gone = False
        request.notifyFinish().addErrback(self._lost)

    def _lost(self, reason: Failure) -> None:
        self.gone = True
        if self.sender is not None:
            self.sender.stop()
        self.upstream._unpark(self)


class _Root(Resource):
    isLeaf = True

    def __init__(self, upstream: FakeUpstream) -> None:
        super().__init__()
        self._upstream = upstream

    def render(self, request: Request) -> Any:  # type: ignore[override]
        self._upstream._received(request)
        return NOT_DONE_YET


class FakeUpstream:
    """A PyPI-like simple index on 127.0.0.1 whose pages, files and failures a test controls.

        upstream = FakeUpstream()
        upstream.add_project("hello-pkg", [
            FakeFile.from_path(make_wheel(dir, "hello-pkg", "1.1"), requires_python=">=3.7"),
            FakeFile("hello_pkg-0.9.tar.gz", size=5_000_000, hash_in_url=False, yanked="broken"),
        ])
        base = await upstream.start()            # "http://127.0.0.1:PORT"
        self.addCleanup(upstream.stop)
        mirror_url = upstream.simple_url         # "http://127.0.0.1:PORT/simple/"

    Routes: C{/simple/} (project list), C{/simple/{name}/} (project page, PEP 691 JSON or
    PEP 503 HTML by the Accept header, with C{X-PyPI-Last-Serial}, C{ETag} and 304 for
    C{If-None-Match}; names that are not normalized get a 301 like PyPI), C{/files/{filename}}
    and C{/files/{filename}.metadata} (PEP 658 core metadata). A single C{Range} on a file
    gets a 206 unless C{serve_ranges} is False; files may carry PEP 740 provenance URLs and
    projects a PEP 792 status.

    Misbehaviour is switched on at run time per path prefix (C{"/"} for everything); the most
    recently added rule that matches a request's path wins, and a rule given C{times} is
    dropped after that many requests. Every request is recorded in C{requests}.
    """

    def __init__(
        self,
        reactor: Optional[IReactorTCP] = None,
        *,
        relative_links: bool = False,
        serve_json: bool = True,
    ) -> None:
        if reactor is None:
            from twisted.internet import reactor as global_reactor

            reactor = global_reactor  # type: ignore[assignment]
        self.reactor: IReactorTCP = reactor  # type: ignore[assignment]
        #: link files as C{../../files/...} (projects may override)
        self.relative_links = relative_links
        #: offer PEP 691 JSON; when False every page is text/html whatever the client accepts
        self.serve_json = serve_json
        #: send ETags and answer If-None-Match with 304
        self.send_etags = True
        #: answer a single C{Range} on a file with 206; when False the whole file is sent
        self.serve_ranges = True
        #: X-PyPI-Last-Serial of the project list (None: the highest project serial)
        self.list_serial: Optional[int] = None
        self.last_serial = 0
        self.projects: dict[str, FakeProject] = {}
        self.files: dict[str, FakeFile] = {}
        self.requests: list[RecordedRequest] = []
        self.rules: list[Misbehaviour] = []
        self.port = 0
        self.base_url = ""
        self._site = _Site(_Root(self), reactor)
        self._listening: Optional[IListeningPort] = None
        self._parked: list[_Exchange] = []
        self._park_waiters: list[tuple[int, Deferred[None]]] = []
        self._delayed: set[IDelayedCall] = set()

    # -- life cycle -------------------------------------------------------------------

    async def start(self) -> str:
        """Listen on a free loopback port; return the base URL C{http://127.0.0.1:PORT}."""
        self._listening = self.reactor.listenTCP(self.port, self._site, interface="127.0.0.1")
        self.port = self._listening.getHost().port  # type: ignore[attr-defined]
        self.base_url = f"http://127.0.0.1:{self.port}"
        return self.base_url

    async def stop(self) -> None:
        """Stop listening and close every connection (stalled ones too)."""
        for call in list(self._delayed):
            if call.active():
                call.cancel()
        self._delayed.clear()
        await self.down()

    async def down(self) -> None:
        """Stop listening and drop open connections: clients now get connection refused."""
        if self._listening is not None:
            listening, self._listening = self._listening, None
            await listening.stopListening()
        await self._site.close_all()

    async def up(self) -> None:
        """Listen again on the same port after L{down}."""
        if self._listening is None:
            self._listening = self.reactor.listenTCP(self.port, self._site, interface="127.0.0.1")

    @property
    def is_up(self) -> bool:
        return self._listening is not None

    @property
    def simple_url(self) -> str:
        return f"{self.base_url}/simple/"

    def project_url(self, name: str) -> str:
        return f"{self.base_url}/simple/{normalize(name)}/"

    def file_url(self, filename: str) -> str:
        return f"{self.base_url}/files/{quote(filename)}"

    # -- content ----------------------------------------------------------------------

    def add_project(
        self,
        name: str,
        files: Optional[list[FakeFile]] = None,
        *,
        serial: Optional[int] = None,
        relative_links: Optional[bool] = None,
        status: Optional[str] = None,
        status_reason: Optional[str] = None,
    ) -> FakeProject:
        """Add (or replace) a project page; it gets the next serial unless one is given."""
        files = list(files or [])
        project = FakeProject(
            name, files, self._next_serial(serial), relative_links, status, status_reason
        )
        self.projects[project.normalized] = project
        for file in files:
            self.files[file.filename] = file
        return project

    def add_file(self, name: str, file: FakeFile) -> FakeFile:
        """List one more file on a project's page (adding the project if new); bumps its serial."""
        project = self.projects.get(normalize(name))
        if project is None:
            self.add_project(name, [file])
        else:
            project.files.append(file)
            project.serial = self._next_serial(None)
            self.files[file.filename] = file
        return file

    def remove_project(self, name: str) -> None:
        """Drop a project from the index (its files stay downloadable, as on a CDN)."""
        del self.projects[normalize(name)]

    def project(self, name: str) -> FakeProject:
        return self.projects[normalize(name)]

    def set_serial(self, name: str, serial: Optional[int]) -> None:
        """Report C{serial} for a project from now on (lower than before to play a stale node)."""
        self.project(name).serial = serial

    def add_many(
        self, count: int, files_per_project: int = 1, *, prefix: str = "proj", size: int = 64
    ) -> list[str]:
        """Add C{count} projects C{prefix-N} with small generated sdists; return their names."""
        names = []
        for i in range(count):
            name = f"{prefix}-{i}"
            stem = name.replace("-", "_")
            files = [FakeFile(f"{stem}-1.{j}.tar.gz", size=size) for j in range(files_per_project)]
            self.add_project(name, files)
            names.append(name)
        return names

    def _next_serial(self, serial: Optional[int]) -> int:
        if serial is None:
            self.last_serial += 1
            return self.last_serial
        self.last_serial = max(self.last_serial, serial)
        return serial

    # -- misbehaviour -----------------------------------------------------------------

    def fail(
        self,
        path_prefix: str = "/",
        status: int = 500,
        times: Optional[int] = None,
        retry_after: Union[int, str, None] = None,
        body: Optional[bytes] = None,
    ) -> Misbehaviour:
        """Answer with C{status} (e.g. 500, 503, 429), with C{Retry-After} if given."""
        return self._add(
            Misbehaviour(
                "fail",
                path_prefix,
                times,
                status=status,
                retry_after=None if retry_after is None else str(retry_after),
                body=body if body is not None else f"fake upstream says {status}\n".encode(),
                content_type="text/plain",
            )
        )

    def stall(self, path_prefix: str = "/", times: Optional[int] = None) -> Misbehaviour:
        """Take requests and answer nothing until L{release} (or L{reset}, L{stop})."""
        return self._add(Misbehaviour("stall", path_prefix, times))

    def garbage(
        self,
        path_prefix: str = "/",
        body: bytes = b"<html><body><p>not what you wanted",
        content_type: str = "text/html",
        status: int = 200,
        times: Optional[int] = None,
    ) -> Misbehaviour:
        """Answer C{status} with C{body} as C{content_type}, whatever was asked."""
        return self._add(
            Misbehaviour(
                "garbage", path_prefix, times, status=status, body=body, content_type=content_type
            )
        )

    def truncate(self, path_prefix: str = "/", at_bytes: int = 0, times: Optional[int] = None) -> Misbehaviour:
        """Send the full Content-Length but close the connection after C{at_bytes} of the body."""
        return self._add(Misbehaviour("truncate", path_prefix, times, at_bytes=at_bytes))

    def redirect_loop(self, path_prefix: str = "/", times: Optional[int] = None) -> Misbehaviour:
        """Answer 302 with the request's own URL as Location."""
        return self._add(Misbehaviour("redirect_loop", path_prefix, times, status=302))

    def slow(
        self,
        path_prefix: str = "/",
        bytes_per_tick: int = 1024,
        tick: float = 0.01,
        times: Optional[int] = None,
    ) -> Misbehaviour:
        """Send bodies C{bytes_per_tick} at a time, one piece every C{tick} seconds."""
        return self._add(
            Misbehaviour("slow", path_prefix, times, bytes_per_tick=bytes_per_tick, tick=tick)
        )

    def heal(self, path_prefix: Optional[str] = None) -> None:
        """Drop the rules for exactly C{path_prefix} (all rules if None); stalled requests wait on."""
        self.rules = [r for r in self.rules if path_prefix is not None and r.prefix != path_prefix]

    def release(self, path_prefix: Optional[str] = None) -> int:
        """Drop stall rules under C{path_prefix} (all if None) and answer the requests they held.

        Released requests are answered normally. Returns how many were released.
        """
        prefix = path_prefix or ""
        self.rules = [r for r in self.rules if not (r.kind == "stall" and r.prefix.startswith(prefix))]
        released = [e for e in self._parked if e.record.path.startswith(prefix)]
        self._parked = [e for e in self._parked if e not in released]
        for exchange in released:
            if not exchange.gone:
                self._answer(exchange, None)
        return len(released)

    def reset(self) -> None:
        """Behave again: drop every rule, answer stalled requests, forget the request log."""
        self.rules.clear()
        self.release()
        self.requests.clear()

    @property
    def stalled(self) -> list[str]:
        """Paths of the requests being held by a stall."""
        return [exchange.record.path for exchange in self._parked]

    def wait_for_stalled(self, count: int = 1) -> Deferred[None]:
        """Fires once at least C{count} requests are being held."""
        d: Deferred[None] = Deferred()
        self._park_waiters.append((count, d))
        self._wake_park_waiters()
        return d

    def _add(self, rule: Misbehaviour) -> Misbehaviour:
        if not rule.prefix.startswith("/"):
            raise ValueError(f"path prefix must start with '/': {rule.prefix!r}")
        self.rules.append(rule)
        return rule

    def _match(self, path: str) -> Optional[Misbehaviour]:
        for rule in reversed(self.rules):
            if path.startswith(rule.prefix):
                rule.hits += 1
                if rule.times is not None:
                    rule.times -= 1
                    if rule.times <= 0:
                        self.rules.remove(rule)
                return rule
        return None

    def _unpark(self, exchange: _Exchange) -> None:
        if exchange in self._parked:
            self._parked.remove(exchange)

    def _wake_park_waiters(self) -> None:
        ready = [(n, d) for n, d in self._park_waiters if len(self._parked) >= n]
        self._park_waiters = [(n, d) for n, d in self._park_waiters if len(self._parked) < n]
        for _, d in ready:
            d.callback(None)

    # -- request log ------------------------------------------------------------------

    def requests_to(self, path: str, method: Optional[str] = None) -> list[RecordedRequest]:
        """The recorded requests for exactly C{path} (optionally only one method)."""
        return [
            r
            for r in self.requests
            if r.path == path and (method is None or r.method == method.upper())
        ]

    def hits(self, path: str, method: Optional[str] = None) -> int:
        """How many requests upstream got for exactly C{path}."""
        return len(self.requests_to(path, method))

    # -- answering --------------------------------------------------------------------

    def _received(self, request: Request) -> None:
        headers: dict[str, list[str]] = {}
        for name, values in request.requestHeaders.getAllRawHeaders():
            headers.setdefault(name.decode("latin-1").lower(), []).extend(
                v.decode("latin-1") for v in values
            )
        uri = request.uri.decode("latin-1")
        path, _, query = uri.partition("?")
        record = RecordedRequest(request.method.decode("latin-1"), path, query, headers)
        self.requests.append(record)
        exchange = _Exchange(self, request, record)
        rule = self._match(path)
        if rule is not None and rule.kind == "stall":
            record.misbehaviour = "stall"
            self._parked.append(exchange)
            self._wake_park_waiters()
            return
        self._answer(exchange, rule)

    def _answer(self, exchange: _Exchange, rule: Optional[Misbehaviour]) -> None:
        request, record = exchange.request, exchange.record
        if rule is not None:
            record.misbehaviour = rule.kind
        if rule is not None and rule.kind == "fail":
            extra = {} if rule.retry_after is None else {"Retry-After": rule.retry_after}
            reply = _Reply.of(rule.status, rule.body, rule.content_type, **extra)
        elif rule is not None and rule.kind == "garbage":
            reply = _Reply.of(rule.status, rule.body, rule.content_type)
        elif rule is not None and rule.kind == "redirect_loop":
            reply = _Reply.of(
                302, b"round and round\n", "text/plain", Location=self.base_url + request.uri.decode("latin-1")
            )
        else:
            reply = self._route(request, record)
        request.setResponseCode(reply.status)
        for name, value in reply.headers.items():
            request.setHeader(name, value)
        record.status = reply.status
        if reply.status == 304:
            request.finish()
            return
        request.setHeader("Content-Length", str(reply.length))
        if record.method == "HEAD":
            request.finish()
            return
        chunks = reply.chunks()
        close_after = False
        if rule is not None and rule.kind == "truncate" and rule.at_bytes < reply.length:
            chunks, close_after = _cut(chunks, rule.at_bytes), True
        slow = rule is not None and rule.kind == "slow"
        exchange.sender = _BodySender(
            exchange,
            chunks,
            close_after,
            per_tick=rule.bytes_per_tick if slow and rule else None,
            tick=rule.tick if slow and rule else 0.0,
        )
        exchange.sender.start()

    def _route(self, request: Request, record: RecordedRequest) -> _Reply:
        if record.method not in ("GET", "HEAD"):
            return _Reply.of(405, b"405 Method Not Allowed\n", "text/plain", Allow="GET, HEAD")
        path = record.path
        if path == "/simple":
            return self._moved("/simple/")
        if path == "/simple/":
            return self._project_list(request, record)
        if path.startswith("/simple/"):
            name = unquote(path[len("/simple/") :])
            bare = name[:-1] if name.endswith("/") else name
            if bare and "/" not in bare:
                if name != normalize(bare) + "/":
                    return self._moved(f"/simple/{normalize(bare)}/")
                project = self.projects.get(bare)
                if project is not None:
                    return self._project_page(request, record, project)
        if path.startswith("/files/"):
            return self._file(unquote(path[len("/files/") :]), record.header("range"))
        return _not_found()

    def _moved(self, path: str) -> _Reply:
        return _Reply.of(301, b"moved\n", "text/plain", Location=self.base_url + path)

    def _file(self, filename: str, asked_range: Optional[str] = None) -> _Reply:
        file = self.files.get(filename)
        span = _byte_range(asked_range, file.length) if file is not None and self.serve_ranges else None
        if file is not None and span is not None:
            first, last = span
            headers = {
                "Content-Type": file.mime_type,
                "Last-Modified": file.last_modified,
                "Content-Range": f"bytes {first}-{last}/{file.length}",
            }
            return _Reply(206, headers, last - first + 1, lambda: _slice(file.chunks(), first, last + 1))
        if file is not None:
            return _Reply(
                200,
                {"Content-Type": file.mime_type, "Last-Modified": file.last_modified},
                file.length,
                file.chunks,
            )
        if filename.endswith(".metadata"):
            file = self.files.get(filename[: -len(".metadata")])
            if file is not None and file.core_metadata is not None:
                return _Reply.of(200, file.core_metadata, "application/octet-stream")
        return _not_found()

    def _negotiated(
        self, request: Request, record: RecordedRequest, serial: Optional[int], render: Callable[[str], bytes]
    ) -> _Reply:
        content_type = negotiate(record.header("accept")) if self.serve_json else TEXT_HTML
        if content_type is None:
            return _Reply.of(406, b"406 Not Acceptable\n", "text/plain")
        body = render(content_type)
        headers = {"Content-Type": content_type, "Vary": "Accept"}
        if serial is not None:
            headers["X-PyPI-Last-Serial"] = str(serial)
        if self.send_etags:
            etag = '"%s"' % hashlib.sha256(body).hexdigest()[:20]
            headers["ETag"] = etag
            asked = [
                tag.strip().removeprefix("W/") for tag in (record.header("if-none-match") or "").split(",")
            ]
            if etag in asked or "*" in asked:
                return _Reply(304, headers)
        return _Reply(200, headers, len(body), lambda: iter([body]))

    def _project_list(self, request: Request, record: RecordedRequest) -> _Reply:
        serial = self.list_serial
        if serial is None:
            serials = [p.serial for p in self.projects.values() if p.serial is not None]
            serial = max(serials, default=0)
        projects = sorted(self.projects.values(), key=lambda p: p.normalized)

        def render(content_type: str) -> bytes:
            if content_type == JSON_V1:
                listing = []
                for p in projects:
                    item: dict[str, Any] = {"name": p.name}
                    if p.serial is not None:
                        item["_last-serial"] = p.serial
                    listing.append(item)
                return _json({"meta": {"api-version": "1.1", "_last-serial": serial}, "projects": listing})
            anchors = []
            for p in projects:
                href = f"{p.normalized}/" if self.relative_links else f"/simple/{p.normalized}/"
                anchors.append(f'    <a href="{html.escape(href)}">{html.escape(p.name)}</a><br/>')
            return _html("Simple index", anchors, serial)

        return self._negotiated(request, record, serial, render)

    def _project_page(self, request: Request, record: RecordedRequest, project: FakeProject) -> _Reply:
        relative = self.relative_links if project.relative_links is None else project.relative_links

        def url(file: FakeFile) -> str:
            return f"../../files/{quote(file.filename)}" if relative else self.file_url(file.filename)

        def render(content_type: str) -> bytes:
            if content_type == JSON_V1:
                return _json(self._project_json(project, url))
            anchors = []
            for file in project.files:
                href = url(file) + (f"#sha256={file.advertised_sha256}" if file.hash_in_url else "")
                attributes = [f'href="{html.escape(href)}"']
                if file.requires_python is not None:
                    attributes.append(f'data-requires-python="{html.escape(file.requires_python)}"')
                if file.yanked is not False:
                    reason = "" if file.yanked is True else str(file.yanked)
                    attributes.append(f'data-yanked="{html.escape(reason)}"')
                if file.metadata_sha256 is not None and file.advertise_metadata:
                    attributes.append(f'data-dist-info-metadata="sha256={file.metadata_sha256}"')
                    attributes.append(f'data-core-metadata="sha256={file.metadata_sha256}"')
                if file.provenance is not None:
                    attributes.append(f'data-provenance="{html.escape(file.provenance)}"')
                anchors.append(f"    <a {' '.join(attributes)}>{html.escape(file.filename)}</a><br/>")
            metas = {}
            if project.status is not None:
                metas["pypi:project-status"] = project.status
            if project.status_reason is not None:
                metas["pypi:project-status-reason"] = project.status_reason
            return _html(f"Links for {project.normalized}", anchors, project.serial, metas)

        return self._negotiated(request, record, project.serial, render)

    def _project_json(self, project: FakeProject, url: Callable[[FakeFile], str]) -> dict[str, Any]:
        meta: dict[str, Any] = {"api-version": "1.1"}
        if project.serial is not None:
            meta["_last-serial"] = project.serial
        versions = {v for v in (file.version for file in project.files) if v is not None}
        files = []
        for file in project.files:
            entry: dict[str, Any] = {
                "filename": file.filename,
                "url": url(file),
                "hashes": {"sha256": file.advertised_sha256} if file.hash_in_url else {},
                "requires-python": file.requires_python,
                "yanked": file.yanked,
                "size": file.length,
                "provenance": file.provenance,
            }
            if file.metadata_sha256 is not None and file.advertise_metadata:
                entry["core-metadata"] = {"sha256": file.metadata_sha256}
                entry["dist-info-metadata"] = {"sha256": file.metadata_sha256}
            else:
                entry["core-metadata"] = False
                entry["dist-info-metadata"] = False
            if file.upload_time is not None:
                entry["upload-time"] = file.upload_time
            files.append(entry)
        page = {
            "meta": meta,
            "name": project.normalized,
            "versions": sorted(versions, key=Version),
            "files": files,
        }
        if project.status is not None:
            meta["api-version"] = "1.4"
            page["project-status"] = {"status": project.status}
            if project.status_reason is not None:
                page["project-status"]["reason"] = project.status_reason
        return page


def _byte_range(header: Optional[str], length: int) -> Optional[tuple[int, int]]:
    """The first and last byte of a single C{bytes=} range within C{length}, else None."""
    if not header or not header.startswith("bytes=") or "," in header or length == 0:
        return None
    first, _, last = header[len("bytes=") :].strip().partition("-")
    try:
        if not first:
            return max(0, length - int(last)), length - 1
        return int(first), min(length - 1, int(last)) if last else length - 1
    except ValueError:
        return None


def _slice(chunks: Iterator[bytes], start: int, end: int) -> Iterator[bytes]:
    """The bytes from C{start} to C{end} of a chunked body."""
    at = 0
    for chunk in chunks:
        if at + len(chunk) > start and at < end:
            yield chunk[max(0, start - at) : end - at]
        at += len(chunk)
        if at >= end:
            return


def _not_found() -> _Reply:
    return _Reply.of(404, b"404 Not Found\n", "text/plain")


def _json(data: Any) -> bytes:
    return json.dumps(data, indent=1).encode()


def _html(
    title: str, anchors: list[str], serial: Optional[int], metas: Optional[dict[str, str]] = None
) -> bytes:
    lines = [
        "<!DOCTYPE html>",
        "<html>",
        "  <head>",
        '    <meta name="pypi:repository-version" content="1.1">',
        *(f'    <meta name="{n}" content="{html.escape(v)}">' for n, v in (metas or {}).items()),
        f"    <title>{html.escape(title)}</title>",
        "  </head>",
        "  <body>",
        f"    <h1>{html.escape(title)}</h1>",
        *anchors,
        "  </body>",
        "</html>",
    ]
    if serial is not None:
        lines.append(f"<!--SERIAL {serial}-->")
    return ("\n".join(lines) + "\n").encode()
