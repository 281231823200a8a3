"""End to end: pip and uv install through a mirror of a fake upstream PyPI, then without it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from typing import Any, Callable, Optional, TypeVar

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.protocol import ProcessProtocol
from twisted.internet.threads import deferToThread
from twisted.python.failure import Failure
from twisted.trial.unittest import SkipTest, TestCase

from tests.dists.archives import make_wheel
from tests.e2e.support import (
    INSTALL_TIMEOUT,
    IndexApi,
    ServerProcess,
    fresh_venv,
    installed_versions,
    installer_environ,
    next_to_python,
)
from tests.e2e.test_devpi_client import TWISTD, clean_environ
from tests.mirror.fake_upstream import FakeFile, FakeUpstream

T = TypeVar("T")
UV = next_to_python("uv")
ROOT = ("root", "")
ALICE = ("alice", "secret")
#: pkg-01 requires pkg-02, ..., pkg-19 requires pkg-20
CHAIN = [f"pkg-{i:02d}" for i in range(1, 21)]
#: what the server logs when an upstream request fails for good
UPSTREAM_FAILING = "is failing"
#: the Cache-Control of a mirror page served stale (upstream could not be asked)
STALE = "no-cache"


class MirrorServerProcess(ServerProcess):
    """`twistd -n devpi` on C{workdir}/server with extra options, logging to C{logname}."""

    def __init__(self, workdir: str, *options: str, logname: str = "server.log") -> None:
        self.serverdir = os.path.join(workdir, "server")
        self.logfile = os.path.join(workdir, logname)
        with open(self.logfile, "wb") as log:
            self.process = subprocess.Popen(
                TWISTD
                + ["-n", "devpi", "--serverdir", self.serverdir,
                   "--listen", "tcp:0:interface=127.0.0.1", *options],
                cwd=workdir,
                env=clean_environ(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.url = f"http://127.0.0.1:{self._wait_for_port()}"


class _Output(ProcessProtocol):
    """Collects a process's stdout and stderr together; C{ended} fires with its exit code."""

    def __init__(self) -> None:
        self.output: list[bytes] = []
        self.ended: Deferred[Optional[int]] = Deferred()

    def connectionMade(self) -> None:
        self.transport.closeStdin()  # type: ignore[union-attr]

    def outReceived(self, data: bytes) -> None:
        self.output.append(data)

    errReceived = outReceived

    def processEnded(self, reason: Failure) -> None:
        self.ended.callback(reason.value.exitCode)


async def run_in_reactor(args: list[str], env: dict[str, str], cwd: str) -> tuple[Optional[int], str]:
    """
    Run C{args} without blocking the reactor (the fake upstream lives in it);
    its exit code and output. Killed after L{INSTALL_TIMEOUT}.
    """
    protocol = _Output()
    process = reactor.spawnProcess(protocol, args[0], args, env=env, path=cwd)  # type: ignore[attr-defined]
    killer = reactor.callLater(INSTALL_TIMEOUT, process.signalProcess, "KILL")  # type: ignore[attr-defined]
    try:
        code = await protocol.ended
    finally:
        if killer.active():
            killer.cancel()
    return code, b"".join(protocol.output).decode("utf-8", "replace")


def blocking(f: Callable[..., T], *args: Any, **kwargs: Any) -> Deferred[T]:
    """Call C{f} in a thread: the server may need the fake upstream to answer it."""
    return deferToThread(f, *args, **kwargs)


class MirrorInstallCase(TestCase):
    """A mirror index root/up of a fake upstream; installers go through it."""

    timeout = 600

    async def setUp(self) -> None:
        self.workdir = os.path.abspath(self.mktemp())
        self.dists = os.path.join(self.workdir, "dists")
        os.makedirs(os.path.join(self.workdir, "home"))
        self.env = installer_environ(os.path.join(self.workdir, "home"))
        self.upstream = FakeUpstream()
        await self.upstream.start()
        self.addCleanup(self.upstream.stop)
        self.start_server()
        mirror = {"type": "mirror", "mirror_url": self.upstream.simple_url}
        await self.ok("PUT", "/root/up", mirror, auth=ROOT)

    def start_server(self, *options: str, logname: str = "server.log") -> None:
        self.server = MirrorServerProcess(self.workdir, *options, logname=logname)
        self.addCleanup(self.server.stop)
        self.api = IndexApi(self.server.url)
        self.addCleanup(self.api.close)

    def restart_server(self, *options: str, logname: str) -> None:
        """Stop the server and start it again on the same server directory."""
        self.server.stop()
        self.api.close()
        self.start_server(*options, logname=logname)

    async def ok(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        return await blocking(self.api.ok, method, path, body, **kwargs)

    def add_upstream_wheel(self, name: str, requires: list[str]) -> FakeFile:
        file = FakeFile.from_path(make_wheel(self.dists, name, "1.0", requires_dist=requires))
        self.upstream.add_project(name, [file])
        return file

    def add_upstream_chain(self) -> list[FakeFile]:
        return [
            self.add_upstream_wheel(name, CHAIN[i + 1 : i + 2])
            for i, name in enumerate(CHAIN)
        ]

    def venv(self, name: str) -> str:
        return fresh_venv(os.path.join(self.workdir, name))

    async def pip_install(self, python: str, index_url: str, *requirements: str) -> str:
        return await self.run_ok(
            sys.executable, "-m", "pip", "--python", python,
            "--disable-pip-version-check", "--no-cache-dir", "--isolated",
            "install", "--index-url", index_url, *requirements,
        )

    async def uv_install(self, python: str, index_url: str, *requirements: str) -> str:
        return await self.run_ok(
            UV, "pip", "install", "--no-cache", "--python", python,
            "--index-url", index_url, *requirements,
        )

    async def run_ok(self, *args: str) -> str:
        code, output = await run_in_reactor(list(args), self.env, self.workdir)
        self.assertEqual(
            code, 0, f"{' '.join(args)} failed:\n{output}\nserver log:\n{self.server.log()}"
        )
        return output

    def upstream_paths(self) -> Counter[str]:
        """How often upstream was asked for each path (the mirror's probes for .metadata files it lacks aside)."""
        return Counter(
            request.path
            for request in self.upstream.requests
            if not (request.path.endswith(".metadata") and request.status == 404)
        )

    def assertFetchedOnce(self, names: list[str], files: list[FakeFile]) -> None:
        """Upstream saw the pages of C{names} and C{files}, each once, and nothing else."""
        expected = Counter(
            [f"/simple/{name}/" for name in names] + [f"/files/{file.filename}" for file in files]
        )
        self.assertEqual(self.upstream_paths(), expected)

    def assertChainInstalled(self, python: str) -> None:
        self.assertEqual(installed_versions(python), {name: "1.0" for name in CHAIN})

    async def assertServedFromCache(self, page: str) -> None:
        """The server tried no upstream request, and serves C{page} as fresh, not stale."""
        failing = [line for line in self.server.log().splitlines() if UPSTREAM_FAILING in line]
        self.assertEqual(failing, [])
        response = await blocking(self.api.request, "GET", page)
        self.assertEqual(response.status_code, 200)
        self.assertNotIn(STALE, response.headers.get("Cache-Control", ""))



class MirrorInstallTests(MirrorInstallCase):
    """Installs through root/up, from upstream, from the cache, and for user alice's stage."""

    async def install_chain_twice(
        self, install: Callable[[str, str, str], Any], index_url: str
    ) -> None:
        """
        Install pkg-01 (and so the whole chain) through the mirror from the
        upstream; then again into a new venv with the upstream down.
        """
        files = self.add_upstream_chain()
        first = self.venv("first")
        await install(first, index_url, "pkg-01")
        self.assertChainInstalled(first)
        self.assertFetchedOnce(CHAIN, files)

        await self.upstream.down()
        second = self.venv("second")
        await install(second, index_url, "pkg-01")
        self.assertChainInstalled(second)
        await self.assertServedFromCache("/root/up/+simple/pkg-20/")

    async def test_pip_installs_a_chain_once_from_upstream_then_from_cache(self) -> None:
        await self.install_chain_twice(self.pip_install, f"{self.server.url}/root/up/+simple/")

    async def test_uv_installs_a_chain_from_the_index_root_then_from_cache(self) -> None:
        if not os.path.exists(UV):
            raise SkipTest(f"uv is not installed next to {sys.executable}")
        await self.install_chain_twice(self.uv_install, f"{self.server.url}/root/up/")

    async def upload_app_to_stage(self) -> FakeFile:
        """alice/dev (bases root/up) gets app 1.0, requiring dep, which only upstream has."""
        dep = self.add_upstream_wheel("dep", [])
        await self.ok("PUT", "/alice", {"password": ALICE[1], "email": "alice@example.com"})
        await self.ok("PUT", "/alice/dev", {"bases": ["root/up"]}, auth=ALICE)
        app = make_wheel(self.dists, "app", "1.0", requires_dist=["dep>=1.0"])
        await blocking(self.api.upload_ok, "alice/dev", app, ALICE)
        return dep

    async def test_pip_installs_from_a_stage_a_dependency_only_upstream_has(self) -> None:
        dep = await self.upload_app_to_stage()
        python = self.venv("venv")
        await self.pip_install(python, f"{self.server.url}/alice/dev/+simple/", "app")
        self.assertEqual(installed_versions(python), {"app": "1.0", "dep": "1.0"})
        # app is alice's own: its page shadows the mirror's, which is never asked
        self.assertFetchedOnce(["dep"], [dep])

    async def test_offline_server_installs_what_it_cached(self) -> None:
        await self.upload_app_to_stage()
        index_url = f"{self.server.url}/alice/dev/+simple/"
        await self.pip_install(self.venv("online"), index_url, "app")
        before = len(self.upstream.requests)

        self.restart_server("--offline-mode", logname="offline.log")
        python = self.venv("offline")
        await self.pip_install(python, f"{self.server.url}/alice/dev/+simple/", "app")
        self.assertEqual(installed_versions(python), {"app": "1.0", "dep": "1.0"})
        # the upstream is up all along, yet hears nothing from an offline server
        self.assertTrue(self.upstream.is_up)
        self.assertEqual(self.upstream.requests[before:], [])
