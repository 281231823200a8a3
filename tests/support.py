"""Test fixtures: the app in memory, and the real server on a free port."""

from __future__ import annotations

import base64
import json
import os
import random
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Optional, TypeVar

import treq
from passlib.context import CryptContext
from treq.testing import StubTreq
from twisted.internet import _producer_helpers, reactor
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.task import Clock, Cooperator
from twisted.logger import Logger
from twisted.python.failure import Failure

from devpi_twisted.auth.passwords import PasswordHasher
from devpi_twisted.auth.tokens import TokenSigner
from devpi_twisted.metrics import Metrics
from devpi_twisted.mirror.upstream import UpstreamClient
from devpi_twisted.model.acl import Policy
from devpi_twisted.model.bootstrap import bootstrap
from devpi_twisted.options import Options
from devpi_twisted.search.indexer import Indexer
from devpi_twisted.search.sqlite import SQLiteSearch
from devpi_twisted.service import MirrorSettings, makeService, web_context
from devpi_twisted.store.blobs import FileBlobStore
from devpi_twisted.store.changelog import Store
from devpi_twisted.store.sqlite import SQLiteBackend
from devpi_twisted.web.app import make_resource
from devpi_twisted.web.context import ServerInfo
from devpi_twisted.web.site import LimitedRequest

T = TypeVar("T")
SECRET = b"s" * 40
UUID = "0123456789abcdef0123456789abcdef"
#: argon2 with tiny costs: real hashes, but fast enough for hundreds of tests.
CHEAP_ARGON2 = CryptContext(
    schemes=["argon2"], argon2__memory_cost=256, argon2__rounds=1, argon2__parallelism=1
)


def run_inline(f: Callable[[], T]) -> Deferred[T]:
    """A runner that runs the work at once, in the calling thread."""
    return maybeDeferred(f)


def result_of(d: Deferred[T]) -> T:
    """The result of a Deferred that has already fired (raising its failure)."""
    results: list[Any] = []
    d.addBoth(results.append)
    assert results, f"{d!r} has not fired"
    if isinstance(results[0], Failure):
        results[0].raiseException()
    return results[0]


def basic_auth(username: str, password: str) -> dict[str, str]:
    """An C{Authorization: Basic} header."""
    pair = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {pair}"}


def devpi_auth(username: str, token: str) -> dict[str, str]:
    """The C{X-Devpi-Auth} header devpi-client sends."""
    return {"X-Devpi-Auth": base64.b64encode(f"{username}:{token}".encode()).decode()}


class NoUpstream:
    """An HTTP client for MemoryServer's mirrors that must never be used."""

    def request(self, *args: Any, **kwargs: Any) -> Deferred[Any]:
        raise AssertionError("MemoryServer has no upstream: mirrors are offline")


class Reply:
    """A response with its body read."""

    def __init__(self, response: Any, body: bytes) -> None:
        self.code: int = response.code
        #: the status line's reason phrase (devpi puts upload errors there)
        self.phrase: str = response.phrase.decode("latin-1")
        self.headers = response.headers
        self.body = body
        # twisted's client keeps Content-Length out of C{headers}
        length = response.length
        self.length: Optional[int] = length if isinstance(length, int) else None

    def header(self, name: str) -> Optional[str]:
        value = self.headers.getRawHeaders(name)
        return None if value is None else value[0]

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    def __repr__(self) -> str:
        return f"<Reply {self.code} {self.body[:300]!r}>"


class _Step:
    """A cooperator step waiting to be run by hand."""

    def __init__(self, pending: list[_Step], step: Callable[[], None]) -> None:
        self._pending = pending
        self.step = step

    def cancel(self) -> None:
        if self in self._pending:
            self._pending.remove(self)


class HandCooperator:
    """
    A cooperator whose steps run when asked. twisted.web drives pull
    producers (C{static.File}'s) with the global cooperator, which needs a
    running reactor; during L{streaming} they are driven by this one instead.
    """

    def __init__(self) -> None:
        self._pending: list[_Step] = []
        self.cooperator = Cooperator(scheduler=self._schedule)

    def _schedule(self, step: Callable[[], None]) -> _Step:
        call = _Step(self._pending, step)
        self._pending.append(call)
        return call

    def run_pending(self) -> bool:
        """Run the steps scheduled so far; False if there were none."""
        pending, self._pending[:] = list(self._pending), []
        for call in pending:
            call.step()
        return bool(pending)

    @contextmanager
    def streaming(self) -> Iterator[None]:
        """Let this cooperator drive the pull producers of twisted.web."""
        original = _producer_helpers.cooperate  # type: ignore[attr-defined]
        _producer_helpers.cooperate = self.cooperator.cooperate  # type: ignore[attr-defined]
        try:
            yield
        finally:
            _producer_helpers.cooperate = original  # type: ignore[attr-defined]


class MemoryServer:
    """
    The klein app over a store in a temporary directory, driven through
    StubTreq with no socket and no threads: every call returns at once.
    """

    def __init__(
        self,
        path: str,
        restrict_modify: Optional[frozenset[str]] = None,
        root_password: str = "",
        max_body_size: int = 1024**3,
    ) -> None:
        os.makedirs(path, exist_ok=True)
        self.clock = Clock()
        self.clock.advance(1_800_000_000)
        self.store = Store(
            SQLiteBackend(os.path.join(path, "store.sqlite")), run_inline, self.clock
        )
        self.hasher = PasswordHasher(run_inline, CHEAP_ARGON2)
        pwhash = self.hasher.hash_now(root_password)
        self.store.transact_now(lambda txn: bootstrap(txn, pwhash, self.clock.seconds()))
        self.signer = TokenSigner(SECRET, self.clock)
        self.info = ServerInfo(
            uuid=UUID,
            role="standalone",
            serverdir=path,
            host="127.0.0.1",
            port=3141,
            outside_url=None,
            version="0.0.test",
        )
        self.blobs = FileBlobStore(os.path.join(path, "+blobs"))
        self.search_index = SQLiteSearch(os.path.join(path, "+search.sqlite"))
        self.search = Indexer(
            self.store, self.search_index, run_inline, run_inline,
            self.blobs, Logger(),
        )
        result_of(self.search.start())
        # in memory there is no upstream: mirrors serve only what tests store
        upstream = UpstreamClient(
            self.clock, NoUpstream(), rng=random.Random(0), log=Logger(), user_agent="test"
        )
        self.ctx = web_context(
            store=self.store,
            blobs=self.blobs,
            info=self.info,
            reactor=self.clock,
            io=run_inline,
            hasher=self.hasher,
            signer=self.signer,
            policy=Policy(restrict_modify),
            upstream=upstream,
            mirror=MirrorSettings(os.path.join(path, "+mirror-lists"), 1800, offline=True),
            log=Logger(),
            metrics=Metrics(),
            search=self.search,
        )
        self.http = StubTreq(make_resource(self.ctx))
        # requests as the real site makes them: size limit, form bodies left unparsed
        site = self.http._agent._serverFactory
        site.requestFactory = LimitedRequest
        site.max_body_size = max_body_size
        self.cooperator = HandCooperator()

    def close(self) -> None:
        self.search.stop()
        self.search_index.close()
        self.store.close()

    def request(
        self,
        method: str,
        path: str,
        json_body: Any = None,
        data: Optional[bytes] = None,
        headers: Optional[dict[str, str]] = None,
        accept_json: bool = True,
    ) -> Reply:
        """Send a request and return the reply, read whole."""
        headers = dict(headers or {})
        if accept_json:
            headers.setdefault("Accept", "application/json")
        if json_body is not None:
            data = json.dumps(json_body).encode()
            headers.setdefault("Content-Type", "application/json")
        with self.cooperator.streaming():
            d = self.http.request(
                method,
                "http://devpi.test" + path,
                data=data,
                headers=headers,
                allow_redirects=False,
            )
            self._pump(d)
            response = result_of(d)
            content = response.content()
            self._pump(content)
        return Reply(response, result_of(content))

    def _pump(self, d: Deferred[Any]) -> None:
        """Move bytes between client and app until C{d} fires or nothing moves."""
        fired: list[bool] = []

        def done(result: Any) -> Any:
            fired.append(True)
            return result

        d.addBoth(done)
        self.http.flush()
        while not fired and self.cooperator.run_pending():
            self.http.flush()

    def login(self, username: str, password: str) -> dict[str, str]:
        """Log in and return the X-Devpi-Auth header to send from now on."""
        reply = self.request("POST", "/+login", {"user": username, "password": password})
        assert reply.code == 200, reply
        return devpi_auth(username, reply.json["result"]["password"])

    def create_user(self, username: str, password: str = "secret") -> dict[str, str]:
        """Create a user and return its auth header."""
        reply = self.request("PUT", f"/{username}", {"password": password})
        assert reply.code == 201, reply
        return self.login(username, password)


def server_options(serverdir: str, *args: str) -> Options:
    """Options for a real server in C{serverdir} on a free loopback port."""
    options = Options(environ={})
    options.parseOptions(["--serverdir", serverdir, "--listen", "tcp:0:interface=127.0.0.1", *args])
    return options


class RunningServer:
    """The real service tree, listening on 127.0.0.1 with a free port."""

    def __init__(self, options: Options) -> None:
        self.service = makeService(options, reactor)
        self.url = ""

    async def start(self) -> RunningServer:
        self.service.startService()
        port = await self.service.getServiceNamed("web").listening
        self.url = f"http://127.0.0.1:{port.getHost().port}"
        return self

    async def stop(self) -> None:
        await maybeDeferred(self.service.stopService)

    async def request(
        self,
        method: str,
        path: str,
        json_body: Any = None,
        data: Optional[bytes] = None,
        headers: Optional[dict[str, str]] = None,
    ) -> Reply:
        headers = {"Accept": "application/json", **(headers or {})}
        if json_body is not None:
            data = json.dumps(json_body).encode()
        response = await treq.request(
            method, self.url + path, data=data, headers=headers, allow_redirects=False,
            persistent=False,
        )
        return Reply(response, await response.content())
