"""The fixture of the mirror fault and cache tests: real servers, a fake upstream, log capture."""

from __future__ import annotations

import hashlib
import html
import json
import time
from typing import Any, Optional

from twisted.internet import reactor
from twisted.internet.defer import Deferred, ensureDeferred, gatherResults
from twisted.internet.task import deferLater
from twisted.logger import globalLogPublisher
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase

from tests.dists.archives import make_wheel
from tests.mirror.fake_upstream import FakeFile, FakeUpstream
from tests.support import Reply, RunningServer, basic_auth, server_options

JSON = {"Accept": "application/vnd.pypi.simple.v1+json"}
HTML = {"Accept": "text/html"}
ANY = {"Accept": "*/*"}
ROOT = basic_auth("root", "")
#: upstream requests give up after 1 s, and are tried twice
FAST = ("--request-timeout", "1", "--upstream-max-retries", "1")
Headers = Optional[dict[str, str]]


def sleep(seconds: float) -> Deferred[None]:
    """Wait for real (the reactor runs meanwhile)."""
    return deferLater(reactor, seconds, lambda: None)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def message(reply: Reply) -> str:
    """The text of an error reply, JSON (its message) or HTML (its text, unescaped)."""
    if "json" in (reply.header("Content-Type") or ""):
        return str(json.loads(reply.body)["message"])
    return html.unescape(reply.body.decode("utf-8", "replace"))


class MirrorCase(TestCase):
    """
    A fake upstream with C{hello-pkg} (a wheel, serial 100), log events
    captured in C{self.events}; L{serve} starts a server with a mirror
    C{root/up} of it. Cleanup releases stalls, waits for the server's
    background upstream work, then stops server and upstream.
    """

    timeout = 20

    async def setUp(self) -> None:
        self.upstream = FakeUpstream()
        await self.upstream.start()
        self.addCleanup(self.upstream.stop)
        self.events: list[dict[str, Any]] = []
        observer = self.events.append
        globalLogPublisher.addObserver(observer)
        self.addCleanup(globalLogPublisher.removeObserver, observer)
        path = make_wheel(self.mktemp(), "hello-pkg", "1.0", requires_python=">=3.8")
        self.wheel = FakeFile.from_path(path, requires_python=">=3.8")
        self.upstream.add_project("hello-pkg", [self.wheel], serial=100)

    async def serve(
        self, *args: str, serverdir: Optional[str] = None, mirror: Optional[dict[str, Any]] = None
    ) -> RunningServer:
        """
        A started server (FAST timeouts, then C{args}), with a mirror
        C{root/up} of the fake upstream configured with C{mirror} unless None.
        """
        server = RunningServer(server_options(serverdir or self.mktemp(), *FAST, *args))
        await server.start()
        self.addCleanup(self.stop_server, server)
        if mirror is not None:
            config = {"type": "mirror", "mirror_url": self.upstream.simple_url, **mirror}
            await self.make_index(server, "root/up", config)
        return server

    async def make_index(self, server: RunningServer, name: str, config: dict[str, Any]) -> None:
        reply = await server.request("PUT", f"/{name}", config, headers=ROOT)
        self.assertEqual(reply.code, 200, reply)

    async def stop_server(self, server: RunningServer) -> None:
        """Stop C{server} once its upstream work has ended (again: nothing)."""
        if not server.service.running:
            return
        self.upstream.release()
        try:
            await self.settle(server)
        finally:
            await server.stop()

    async def settle(self, server: RunningServer, limit: float = 5.0) -> None:
        """
        Wait until the server has no upstream fetch, refresh or download in
        progress (some go on in the background after the reply was sent).
        """
        ctx = server.service.getServiceNamed("web")._site.resource._ctx
        pages, files, lists = ctx.mirrors.pages, ctx.mirrors.files, ctx.mirrors.projects

        def busy() -> bool:
            client = pages._client
            return client.busy() or pages.busy() or files.busy() or lists.busy()

        deadline = time.monotonic() + limit
        while busy() and time.monotonic() < deadline:
            await sleep(0.02)
        self.assertFalse(busy(), "the server's upstream work did not end")

    async def get(self, server: RunningServer, path: str, headers: Headers = None) -> Reply:
        return await server.request("GET", path, headers=headers or ANY)

    async def attempt(self, server: RunningServer, path: str, headers: Headers = None) -> Any:
        """A GET whose connection may be cut: its L{Reply}, or the L{Failure}."""
        try:
            return await self.get(server, path, headers)
        except Exception:
            return Failure()

    async def failed_upstream_attempts(self, server: RunningServer) -> int:
        """Upstream attempts that failed so far (each retry counts), from the server's C{/+metrics}."""
        metrics = (await self.get(server, "/+metrics")).body.decode()
        return sum(
            int(float(line.rsplit(" ", 1)[1]))
            for line in metrics.splitlines()
            if line.startswith("devpi_upstream_errors_total{")
        )

    def many(
        self, server: RunningServer, path: str, count: int, headers: Headers = None
    ) -> Deferred[list[Reply]]:
        """C{count} concurrent GETs of C{path}."""
        return gatherResults(
            [ensureDeferred(self.get(server, path, headers)) for _ in range(count)],
            consumeErrors=True,
        )

    async def file_url(
        self, server: RunningServer, project: str, filename: str, index: str = "root/up"
    ) -> str:
        """The server path of a file listed on a project's page."""
        page = await self.get(server, f"/{index}/+simple/{project}/", JSON)
        self.assertEqual(page.code, 200, page)
        for entry in page.json["files"]:
            if entry["filename"] == filename:
                return "/" + entry["url"].split("../../../../", 1)[1].split("#", 1)[0]
        self.fail(f"{filename} is not on {page.json}")

    def logged(self, text: str) -> list[dict[str, Any]]:
        """Captured events whose format contains C{text}."""
        return [e for e in self.events if text in (e.get("log_format") or "")]
