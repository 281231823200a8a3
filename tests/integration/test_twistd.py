"""The real command lines: `twistd -n devpi` and `twistd -ny devpi.tac` as subprocesses."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from typing import Any, Optional

import treq
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.error import ProcessDone, ProcessTerminated
from twisted.internet.protocol import ProcessProtocol
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TAC = os.path.join(REPO, "devpi.tac")
TWISTD = [sys.executable, "-c", "from twisted.scripts.twistd import run; run()"]
LISTENING = re.compile(rb"listening on 127\.0\.0\.1:(\d+)\)")


def clean_environ(**extra: str) -> dict[str, str]:
    """
    This environment without pip's and devpi-twisted's variables (so no extra
    index and no stray server option leaks in), plus C{extra}.
    """
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("PIP_", "DEVPI_TWISTED_"))
    }
    env["PIP_CONFIG_FILE"] = os.devnull
    env.update(extra)
    return env


def free_port() -> int:
    """A loopback port that nothing listened on a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TwistdProtocol(ProcessProtocol):
    """Collects a twistd's output and tells when it listens and when it ends."""

    def __init__(self) -> None:
        self.output = b""
        self.port: Optional[int] = None
        self.listening: Deferred[int] = Deferred()
        #: fires (with None) once the process has ended; C{reason} says how
        self.ended: Deferred[None] = Deferred()
        self.reason: Optional[Failure] = None
        self.running = True

    def childDataReceived(self, childFD: int, data: bytes) -> None:
        self.output += data
        match = LISTENING.search(self.output)
        if match and self.port is None:
            self.port = int(match.group(1))
            self.listening.callback(self.port)

    def processEnded(self, reason: Failure) -> None:
        self.running = False
        if self.port is None:
            self.listening.errback(
                AssertionError(f"twistd ended before listening:\n{self.output.decode()}")
            )
        self.reason = reason
        self.ended.callback(None)

    async def end(self) -> Failure:
        """Wait for the process to end and tell how it ended."""
        await self.ended
        assert self.reason is not None
        return self.reason


class TwistdTestCase(TestCase):
    """Runs twistd processes, each killed and reaped in cleanup."""

    timeout = 60

    def setUp(self) -> None:
        self.workdir = os.path.abspath(self.mktemp())
        os.makedirs(self.workdir)  # twistd writes twistd.pid into its cwd
        self.serverdir = os.path.join(self.workdir, "server")

    def spawn(self, args: list[str], env: Optional[dict[str, str]] = None) -> TwistdProtocol:
        protocol = TwistdProtocol()
        transport = reactor.spawnProcess(  # type: ignore[attr-defined]
            protocol,
            sys.executable,
            TWISTD + args,
            env=env if env is not None else clean_environ(),
            path=self.workdir,
        )

        def kill() -> Optional[Deferred[None]]:
            protocol.listening.addErrback(lambda _: None)  # the test has failed already
            if not protocol.running:
                return None
            transport.signalProcess("KILL")
            return protocol.ended

        self.addCleanup(kill)
        return protocol

    def twistd_devpi(self, *args: str) -> TwistdProtocol:
        return self.spawn(["-n", "devpi", "--serverdir", self.serverdir, *args])

    async def get_json(self, url: str) -> tuple[int, Any]:
        response = await treq.get(url, headers={"Accept": "application/json"}, persistent=False)
        return response.code, await response.json()

    async def stop(self, protocol: TwistdProtocol) -> Failure:
        # a served request shows the main loop (and its SIGTERM handler) runs:
        # the service starts listening a moment before the handler is installed
        code, body = await self.get_json(f"http://127.0.0.1:{protocol.port}/+api")
        self.assertEqual(code, 200, body)
        protocol.transport.signalProcess("TERM")  # type: ignore[union-attr]
        return await protocol.end()

    def assertStoppedGracefully(self, protocol: TwistdProtocol, reason: Failure) -> None:
        """
        The server shut down in order: exit code 0, or (twistd's convention
        since Twisted 20.3) SIGTERM raised again once the shutdown is done.
        """
        if not isinstance(reason.value, ProcessDone):
            self.assertIsInstance(reason.value, ProcessTerminated, str(reason.value))
            self.assertEqual(
                (reason.value.exitCode, reason.value.signal),
                (None, signal.SIGTERM),
                protocol.output.decode(),
            )
        self.assertIn(b"Received SIGTERM, shutting down.", protocol.output)
        self.assertIn(b"Server Shut Down.", protocol.output)
        self.assertNotIn(b"Traceback", protocol.output)


class TwistdPluginTests(TwistdTestCase):
    async def test_serves_the_api_logs_where_and_stops_on_sigterm(self) -> None:
        # offline: a GET of root/pypi must not fetch the public PyPI's project list
        process = self.twistd_devpi("--listen", "tcp:0:interface=127.0.0.1", "--offline-mode")
        port = await process.listening
        url = f"http://127.0.0.1:{port}/"
        self.assertIn(f"serving {url}".encode(), process.output)
        self.assertIn(f"data in {self.serverdir}".encode(), process.output)
        code, body = await self.get_json(url + "+api")
        self.assertEqual(code, 200, body)
        self.assertEqual(body["result"]["login"], url + "+login")
        code, body = await self.get_json(url + "root/pypi")
        self.assertEqual((code, body["result"]["type"]), (200, "mirror"))
        self.assertStoppedGracefully(process, await self.stop(process))
        self.assertIn(b"Server Shut Down", process.output)
        self.assertFalse(os.path.exists(os.path.join(self.workdir, "twistd.pid")))

    async def test_listens_on_a_chosen_port(self) -> None:
        port = free_port()
        process = self.twistd_devpi("--listen", f"tcp:{port}:interface=127.0.0.1")
        self.assertEqual(await process.listening, port)
        code, _ = await self.get_json(f"http://127.0.0.1:{port}/+api")
        self.assertEqual(code, 200)
        self.assertStoppedGracefully(process, await self.stop(process))

    async def test_host_and_port_options(self) -> None:
        port = free_port()
        process = self.twistd_devpi("--host", "127.0.0.1", "--port", str(port))
        self.assertEqual(await process.listening, port)
        self.assertStoppedGracefully(process, await self.stop(process))

    async def test_restart_keeps_the_data(self) -> None:
        process = self.twistd_devpi("--listen", "tcp:0:interface=127.0.0.1")
        port = await process.listening
        response = await treq.put(
            f"http://127.0.0.1:{port}/alice",
            json={"password": "secret"},
            headers={"Accept": "application/json"},
            persistent=False,
        )
        self.assertEqual(response.code, 201, await response.text())
        await response.content()
        self.assertStoppedGracefully(process, await self.stop(process))
        again = self.twistd_devpi("--listen", "tcp:0:interface=127.0.0.1")
        port = await again.listening
        code, body = await self.get_json(f"http://127.0.0.1:{port}/")
        self.assertEqual(sorted(body["result"]), ["alice", "root"])
        self.assertStoppedGracefully(again, await self.stop(again))

    async def test_a_foreign_serverdir_is_refused_with_a_clear_message(self) -> None:
        os.makedirs(self.serverdir)
        with open(os.path.join(self.serverdir, "notes.txt"), "w") as f:
            f.write("someone else's")
        process = self.twistd_devpi("--listen", "tcp:0:interface=127.0.0.1")
        reason = await protocol_end(process)
        self.assertIsInstance(reason.value, ProcessTerminated)
        self.assertNotEqual(reason.value.exitCode, 0)
        self.assertIn(b"not a devpi-twisted server directory", process.output)
        self.assertNotIn(b"Traceback", process.output)
        self.assertIn(self.serverdir.encode(), process.output)
        self.assertEqual(os.listdir(self.serverdir), ["notes.txt"])

    async def test_a_second_twistd_on_the_same_serverdir_is_refused(self) -> None:
        first = self.twistd_devpi("--listen", "tcp:0:interface=127.0.0.1")
        await first.listening
        second = self.spawn(
            ["--pidfile", "second.pid", "-n", "devpi", "--serverdir", self.serverdir,
             "--listen", "tcp:0:interface=127.0.0.1"]
        )
        reason = await protocol_end(second)
        self.assertIsInstance(reason.value, ProcessTerminated)
        self.assertNotEqual(reason.value.exitCode, 0)
        self.assertIn(b"in use by another devpi-twisted process", second.output)
        self.assertNotIn(b"Traceback", second.output)
        self.assertTrue(first.running)
        self.assertStoppedGracefully(first, await self.stop(first))

    def test_help_lists_the_devpi_plugin(self) -> None:
        result = subprocess.run(
            TWISTD + ["--help"],
            env=clean_environ(),
            cwd=self.workdir,
            capture_output=True,
            timeout=60,
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertRegex(result.stdout, rb"\n\s+devpi\s+devpi-twisted: ")

    def test_devpi_help_lists_the_options(self) -> None:
        result = subprocess.run(
            TWISTD + ["devpi", "--help"],
            env=clean_environ(),
            cwd=self.workdir,
            capture_output=True,
            timeout=60,
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        for option in (b"--serverdir", b"--listen", b"--root-passwd", b"--max-request-body-size"):
            self.assertIn(option, result.stdout)


class TacTests(TwistdTestCase):
    async def test_tac_file_configured_by_environment_serves(self) -> None:
        process = self.spawn(
            ["-ny", TAC],
            env=clean_environ(
                DEVPI_TWISTED_SERVERDIR=self.serverdir,
                DEVPI_TWISTED_LISTEN="tcp:0:interface=127.0.0.1",
            ),
        )
        port = await process.listening
        self.assertIn(f"data in {self.serverdir}".encode(), process.output)
        code, body = await self.get_json(f"http://127.0.0.1:{port}/")
        self.assertEqual(code, 200, body)
        self.assertEqual(list(body["result"]), ["root"])
        self.assertTrue(os.path.exists(os.path.join(self.serverdir, ".nodeinfo")))
        self.assertStoppedGracefully(process, await self.stop(process))

    async def test_tac_file_refuses_a_foreign_serverdir(self) -> None:
        os.makedirs(self.serverdir)
        with open(os.path.join(self.serverdir, "notes.txt"), "w") as f:
            f.write("someone else's")
        process = self.spawn(
            ["-ny", TAC],
            env=clean_environ(
                DEVPI_TWISTED_SERVERDIR=self.serverdir,
                DEVPI_TWISTED_LISTEN="tcp:0:interface=127.0.0.1",
            ),
        )
        reason = await protocol_end(process)
        self.assertIsInstance(reason.value, ProcessTerminated)
        self.assertNotEqual(reason.value.exitCode, 0)
        self.assertIn(b"not a devpi-twisted server directory", process.output)
        self.assertNotIn(b"Traceback", process.output)


async def protocol_end(protocol: TwistdProtocol) -> Failure:
    """Wait for a process that is expected to end by itself; its listening must not fire."""
    protocol.listening.addErrback(lambda _: None)
    return await protocol.end()
