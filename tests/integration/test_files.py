"""A stored release file downloaded from the real server over a loopback socket."""

from __future__ import annotations

import os
from typing import Optional

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.protocol import Protocol
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase
from twisted.web.client import Agent, HTTPConnectionPool, readBody
from twisted.web.http_headers import Headers

from devpi_twisted.model import releases
from devpi_twisted.model.releases import StoredBlob
from devpi_twisted.serverdir import BLOBS, STORE
from devpi_twisted.store.blobs import FileBlobStore
from devpi_twisted.store.changelog import Store, Transaction
from devpi_twisted.store.sqlite import SQLiteBackend
from tests.support import RunningServer, devpi_auth, run_inline, server_options

SDIST = "hello_pkg-1.0.tar.gz"
SIZE = 5 * 1024 * 1024 + 123


class RawExchange(Protocol):
    """Sends one request and collects the raw response until the server closes."""

    def __init__(self, request: bytes) -> None:
        self._request = request
        self._data: list[bytes] = []
        self.done: Deferred[bytes] = Deferred()

    def connectionMade(self) -> None:
        self.transport.write(self._request)  # type: ignore[union-attr]

    def dataReceived(self, data: bytes) -> None:
        self._data.append(data)

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
        self.done.callback(b"".join(self._data))


class DownloadOverSocketTests(TestCase):
    """alice/dev with a 5 MB sdist, stored while the server was stopped."""

    async def asyncSetUp(self) -> None:
        self.serverdir = os.path.abspath(self.mktemp())
        self.data = os.urandom(SIZE)
        server = await self.start()
        root = await self.login(server, "root", "")
        await server.request("PUT", "/alice", {"password": "secret"}, headers=root)
        alice = await self.login(server, "alice", "secret")
        created = await server.request("PUT", "/alice/dev", {}, headers=alice)
        self.assertEqual(created.code, 200, created)
        await server.stop()
        self.relpath = self.store_offline(self.data)
        self.server = await self.start()
        self.addCleanup(self.server.stop)
        self.pool = HTTPConnectionPool(reactor, persistent=False)
        self.agent = Agent(reactor, pool=self.pool)

    def setUp(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self.asyncSetUp())

    async def start(self) -> RunningServer:
        return await RunningServer(server_options(self.serverdir)).start()

    async def login(self, server: RunningServer, username: str, password: str) -> dict[str, str]:
        reply = await server.request("POST", "/+login", {"user": username, "password": password})
        self.assertEqual(reply.code, 200, reply)
        return devpi_auth(username, reply.json["result"]["password"])

    def store_offline(self, data: bytes) -> str:
        """Write the blob and its entry straight into the stopped server's directory."""
        writer = FileBlobStore(os.path.join(self.serverdir, BLOBS)).writer()
        writer.write(data)
        blob = StoredBlob(SDIST, writer.commit(), len(data))
        store = Store(SQLiteBackend(os.path.join(self.serverdir, STORE)), run_inline, reactor)
        try:

            def add(txn: Transaction) -> releases.Outcome:
                metadata = {"name": "hello-pkg", "version": "1.0"}
                return releases.add_release_file(
                    txn, "alice", "dev", metadata, blob, "alice", reactor.seconds()
                )

            return store.transact_now(add).result.relpath
        finally:
            store.close()

    async def fetch(self, headers: Optional[dict[bytes, list[bytes]]] = None) -> tuple[object, bytes]:
        """GET the file with a plain agent (no decoding, headers as sent)."""
        url = f"{self.server.url}/{self.relpath}".encode()
        response = await self.agent.request(b"GET", url, Headers(headers or {}))
        return response, await readBody(response)

    async def test_five_megabytes_arrive_intact(self) -> None:
        response, body = await self.fetch()
        self.assertEqual(response.code, 200)  # type: ignore[attr-defined]
        self.assertEqual(response.length, SIZE)  # type: ignore[attr-defined]
        self.assertEqual(len(body), SIZE)
        self.assertTrue(body == self.data, "the downloaded bytes differ")
        headers = response.headers  # type: ignore[attr-defined]
        self.assertEqual(headers.getRawHeaders(b"content-type"), [b"application/x-tar"])
        self.assertIsNone(headers.getRawHeaders(b"content-encoding"))
        self.assertIsNone(headers.getRawHeaders(b"transfer-encoding"))

    async def test_range_over_the_socket(self) -> None:
        start, end = 4 * 1024 * 1024, 4 * 1024 * 1024 + 99_999
        response, body = await self.fetch({b"range": [f"bytes={start}-{end}".encode()]})
        self.assertEqual(response.code, 206)  # type: ignore[attr-defined]
        self.assertTrue(body == self.data[start : end + 1], "the range differs")
        self.assertEqual(
            response.headers.getRawHeaders(b"content-range"),  # type: ignore[attr-defined]
            [f"bytes {start}-{end}/{SIZE}".encode()],
        )

    async def test_not_modified_has_no_body_and_no_zero_length(self) -> None:
        etag = (await self.fetch())[0].headers.getRawHeaders(b"etag")[0]  # type: ignore[attr-defined]
        port = int(self.server.url.rsplit(":", 1)[1])
        exchange = RawExchange(
            b"GET /%s HTTP/1.1\r\nHost: 127.0.0.1\r\nIf-None-Match: %s\r\n"
            b"Connection: close\r\n\r\n" % (self.relpath.encode(), etag)
        )
        await connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", port), exchange)
        raw = await exchange.done
        head, _, body = raw.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 304 "), head)
        self.assertEqual(body, b"")
        self.assertNotIn(b"content-length: 0", head.lower())
        self.assertIn(b"etag: " + etag.lower(), head.lower())

    async def test_keep_alive_serves_files_back_to_back_on_one_connection(self) -> None:
        """Whole files go out with sendfile: headers and bodies must not mix."""
        calls: list[int] = []
        real_sendfile = os.sendfile

        def counting_sendfile(*args: int) -> int:
            calls.append(args[3])
            return real_sendfile(*args)

        self.patch(os, "sendfile", counting_sendfile)
        pool = HTTPConnectionPool(reactor, persistent=True)
        pool.maxPersistentPerHost = 1
        self.addCleanup(pool.closeCachedConnections)
        agent = Agent(reactor, pool=pool)
        url = f"{self.server.url}/{self.relpath}".encode()
        for _ in range(3):
            response = await agent.request(b"GET", url)
            body = await readBody(response)
            self.assertEqual(response.code, 200)
            self.assertTrue(body == self.data, "the downloaded bytes differ")
            status = await agent.request(b"GET", f"{self.server.url}/+api".encode())
            self.assertEqual(status.code, 200)
            await readBody(status)
        self.assertTrue(calls, "the files were not sent with sendfile")

    async def test_a_client_leaving_midway_does_not_disturb_the_server(self) -> None:
        port = int(self.server.url.rsplit(":", 1)[1])

        class Leaver(Protocol):
            def __init__(self) -> None:
                self.received = 0
                self.left: Deferred[int] = Deferred()

            def connectionMade(self) -> None:
                self.transport.write(  # type: ignore[union-attr]
                    b"GET /%s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % relpath
                )

            def dataReceived(self, data: bytes) -> None:
                self.received += len(data)
                if self.received > 100_000 and not self.left.called:
                    self.transport.abortConnection()  # type: ignore[union-attr]
                    self.left.callback(self.received)

        relpath = self.relpath.encode()
        leaver = Leaver()
        await connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", port), leaver)
        self.assertLess(await leaver.left, SIZE)
        response, body = await self.fetch()
        self.assertEqual(response.code, 200)  # type: ignore[attr-defined]
        self.assertTrue(body == self.data, "the downloaded bytes differ")
