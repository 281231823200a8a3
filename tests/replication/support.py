"""Primaries and replicas for replication tests: starting them, polling /+status, uploads, store digests."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Mapping, Optional

import treq
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.task import deferLater
from twisted.trial.unittest import FailTest, TestCase

from devpi_twisted.commands.offline import open_offline
from devpi_twisted.model import keys, users
from devpi_twisted.options import Options
from devpi_twisted.serverdir import BLOBS, SECRET, STORE
from devpi_twisted.store.blobs import is_digest
from devpi_twisted.store.changelog import Entry, Transaction
from tests.integration.test_twistd import TWISTD, TwistdProtocol, clean_environ
from tests.support import RunningServer, devpi_auth, result_of, server_options
from tests.web.forms import form_body, twine_fields

#: Where server directories go when it exists (in memory).
SHM = "/dev/shm"
#: C{twistd devpi} arguments of a primary with a short heartbeat.
PRIMARY = ("--role", "primary", "--replication-heartbeat", "0.2")


def primary_options(serverdir: str, *args: str) -> Options:
    """Options for a primary in C{serverdir} on a free loopback port."""
    return server_options(serverdir, *PRIMARY, *args)


def replica_arguments(primary_url: str, primary_dir: str) -> tuple[str, ...]:
    """Arguments making a server a replica of C{primary_url}, sharing C{primary_dir}'s secret."""
    return ("--primary-url", primary_url, "--secretfile", os.path.join(primary_dir, SECRET))


def replica_options(serverdir: str, primary_url: str, primary_dir: str) -> Options:
    """Options for a replica of the primary at C{primary_url} (sharing C{primary_dir}'s secret)."""
    return server_options(serverdir, *replica_arguments(primary_url, primary_dir))


async def get_json(url: str) -> Any:
    """The C{result} of a JSON GET of C{url}."""
    response = await treq.get(url, headers={"Accept": "application/json"}, persistent=False)
    body = await response.content()
    if response.code != 200:
        raise AssertionError(f"GET {url}: {response.code} {body[:300]!r}")
    return json.loads(body)["result"]


async def status(url: str) -> dict[str, Any]:
    """The C{/+status} of the server at C{url} (no trailing slash)."""
    return await get_json(url + "/+status")  # type: ignore[no-any-return]


async def wait_for(condition: Callable[[], Awaitable[bool]], what: str, seconds: float = 20.0) -> None:
    """Poll C{condition} until it holds; raise AssertionError after C{seconds}."""
    deadline = time.monotonic() + seconds
    while not await condition():
        if time.monotonic() > deadline:
            raise FailTest(f"timed out after {seconds:g}s waiting for {what}")
        await deferLater(reactor, 0.05, lambda: None)


async def wait_in_sync(primary_url: str, replicas: Mapping[str, str], seconds: float = 20.0) -> int:
    """
    Wait until every replica (url -> serverdir) has the primary's serial and
    every blob its store refers to; return that serial.
    """
    target = (await status(primary_url))["serial"]
    seen: dict[str, str] = {}

    async def synced() -> bool:
        for url, serverdir in replicas.items():
            current = await status(url)
            missing = len(referenced_blobs(serverdir) - blob_names(serverdir))
            seen[url] = (
                f"serial {current['serial']}, {missing} blobs missing, {current['replication-blobs-pending']}"
                f" pending, error {current['replication-error']!r}, blob errors {current['replication-errors']}"
            )
            if current["serial"] != target or current["replication-blobs-pending"] or missing:
                return False
        return True

    try:
        await wait_for(synced, f"the replicas to reach serial {target} with all blobs", seconds)
    except FailTest as failure:
        raise FailTest(f"{failure}; the replicas: {seen}") from None
    return target  # type: ignore[no-any-return]


def add_users_offline(serverdir: str, count: int, size: int = 500, batch: int = 500) -> int:
    """
    Commit C{count} new users (each its own serial, a description of C{size}
    characters) to the stopped server in C{serverdir}; its serial after.
    """
    with open_offline(serverdir) as server:
        store = server.store
        pwhash = store.get(keys.user("root"))["pwhash"]
        entries: list[Entry] = []
        for n in range(count):
            txn = Transaction(store)
            now = time.time()
            users.create_user(txn, f"user{n}", pwhash, {"description": f"{n:x}" * (size // 4)}, now)
            entries.append(Entry(store.serial + 1 + len(entries), now, txn.changes))
            if len(entries) == batch or n == count - 1:
                result_of(Deferred.fromCoroutine(store.apply(entries)))
                entries = []
        return store.serial


def _read(serverdir: str, query: str) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(f"file:{os.path.join(serverdir, STORE)}?mode=ro", uri=True)
    try:
        return list(db.execute(query))
    finally:
        db.close()


def changelog_rows(serverdir: str) -> list[tuple[int, float, str]]:
    """Every stored commit: (serial, timestamp, changes as stored)."""
    return _read(serverdir, "SELECT serial, timestamp, changes FROM changelog ORDER BY serial")  # type: ignore[return-value]


def kv_rows(serverdir: str) -> list[tuple[str, int, str]]:
    """Every current key: (key, serial of its last change, value)."""
    return _read(serverdir, "SELECT key, serial, value FROM kv ORDER BY key")  # type: ignore[return-value]


def replayed(rows: list[tuple[int, float, str]]) -> list[tuple[str, int, str]]:
    """The kv rows that replaying C{rows} from nothing gives."""
    values: dict[str, tuple[int, str]] = {}
    for serial, _, changes in rows:
        for key, value in json.loads(changes).items():
            if value is None:
                values.pop(key, None)
            else:
                values[key] = (serial, json.dumps(value, sort_keys=True))
    return sorted((key, serial, value) for key, (serial, value) in values.items())


def normalized_kv(serverdir: str) -> list[tuple[str, int, str]]:
    """L{kv_rows} with each value re-encoded as L{replayed} encodes it."""
    return [
        (key, serial, json.dumps(json.loads(value), sort_keys=True))
        for key, serial, value in kv_rows(serverdir)
    ]


def _blob_paths(serverdir: str) -> dict[str, str]:
    """The path of each published blob file (temp files left out), by file name."""
    root = os.path.join(serverdir, BLOBS)
    found = {}
    for directory, dirnames, names in os.walk(root):
        if directory == root and "tmp" in dirnames:
            dirnames.remove("tmp")
        for name in names:
            if is_digest(name):  # not the store-id
                found[name] = os.path.join(directory, name)
    return found


def blob_names(serverdir: str) -> set[str]:
    """The file names (sha256 by design) of the published blobs."""
    return set(_blob_paths(serverdir))


def blob_files(serverdir: str) -> dict[str, str]:
    """The sha256 of each published blob file's bytes, by file name."""
    found = {}
    for name, path in _blob_paths(serverdir).items():
        with open(path, "rb") as f:
            found[name] = hashlib.sha256(f.read()).hexdigest()
    return found


def referenced_blobs(serverdir: str) -> set[str]:
    """The sha256 of every blob the store refers to."""
    return {key[len("blob/"):] for (key,) in _read(serverdir, "SELECT key FROM kv WHERE key LIKE 'blob/%'")}


@dataclass(frozen=True)
class Snapshot:
    """What must be equal on a primary and its replicas."""

    serial: int
    changelog: str
    kv: str
    blobs: str

    @classmethod
    def of(cls, serverdir: str, blobs: Optional[set[str]] = None) -> Snapshot:
        """The digests of C{serverdir}'s store and blobs (only C{blobs} if given)."""
        rows = changelog_rows(serverdir)
        files = blob_files(serverdir)
        if blobs is not None:
            files = {name: digest for name, digest in files.items() if name in blobs}
        return cls(
            serial=rows[-1][0] if rows else -1,
            changelog=_digest(rows),
            kv=_digest(kv_rows(serverdir)),
            blobs=_digest(sorted(files.items())),
        )


def _digest(rows: Any) -> str:
    return hashlib.sha256(repr(rows).encode()).hexdigest()


async def login(url: str, username: str, password: str) -> dict[str, str]:
    """Log in at the server at C{url}; the X-Devpi-Auth header to send from now on."""
    response = await treq.post(
        url + "/+login",
        json={"user": username, "password": password},
        headers={"Accept": "application/json"},
        persistent=False,
    )
    body = json.loads(await response.content())
    if response.code != 200:
        raise AssertionError(f"login as {username}: {response.code} {body}")
    return devpi_auth(username, body["result"]["password"])


async def send(url: str, method: str, path: str, auth: Mapping[str, str], body: Any = None) -> int:
    """A JSON request; its status code (the body is read and dropped)."""
    response = await treq.request(
        method,
        url + path,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Accept": "application/json", "Content-Type": "application/json", **auth},
        persistent=False,
    )
    await response.content()
    return response.code  # type: ignore[no-any-return]


async def upload(url: str, index: str, wheel: str, auth: Mapping[str, str]) -> int:
    """Upload the wheel at C{wheel} to C{index} as twine does; the status code."""
    with open(wheel, "rb") as f:
        content = f.read()
    body, content_type = form_body(twine_fields(wheel), {"content": (os.path.basename(wheel), content)})
    response = await treq.post(
        f"{url}/{index}/",
        data=body,
        headers={**auth, "Content-Type": content_type},
        persistent=False,
    )
    await response.content()
    return response.code  # type: ignore[no-any-return]


class ServersCase(TestCase):
    """
    Servers in the reactor or as twistd processes, each in its own directory,
    all stopped in cleanup. The directories are in memory where there is
    /dev/shm: fsync costs nothing there, and these tests are about
    replication, not the disk.
    """

    timeout = 60

    def setUp(self) -> None:
        if os.path.isdir(SHM):
            self.base = tempfile.mkdtemp(prefix="devpi-twisted-replication-", dir=SHM)
            self.addCleanup(shutil.rmtree, self.base)  # runs after the servers stopped
        else:
            self.base = os.path.abspath(self.mktemp())
            os.makedirs(self.base)
        self.servers: list[RunningServer] = []
        self.addCleanup(self._stop_all)
        self.primary_dir = os.path.join(self.base, "primary")
        self._replicas = 0

    def new_replica_dir(self) -> str:
        """A new directory for a replica."""
        self._replicas += 1
        return os.path.join(self.base, f"replica{self._replicas}")

    async def _stop_all(self) -> None:
        for server in reversed(self.servers):
            await server.stop()

    async def start(self, server: RunningServer) -> RunningServer:
        """Start C{server} in the reactor, to be stopped in cleanup."""
        self.servers.append(server)
        return await server.start()

    async def start_primary(self, *args: str) -> RunningServer:
        """The primary in C{primary_dir} (with C{args}), in the reactor."""
        return await self.start(RunningServer(primary_options(self.primary_dir, *args)))

    async def start_replica(self, primary_url: str, serverdir: Optional[str] = None) -> tuple[RunningServer, str]:
        """A replica (in a new directory unless given), in the reactor; and its directory."""
        serverdir = serverdir or self.new_replica_dir()
        server = await self.start(RunningServer(replica_options(serverdir, primary_url, self.primary_dir)))
        return server, serverdir

    def twistd_devpi(self, serverdir: str, *args: str) -> TwistdProtocol:
        """A C{twistd -n devpi} process on C{serverdir}, killed in cleanup if still running."""
        protocol = TwistdProtocol()
        workdir = os.path.abspath(self.mktemp())
        os.makedirs(workdir)
        reactor.spawnProcess(  # type: ignore[attr-defined]
            protocol,
            sys.executable,
            [*TWISTD, "-n", "--pidfile=", "devpi", "--serverdir", serverdir, *args],
            env=clean_environ(),
            path=workdir,
        )

        def kill() -> Optional[Deferred[None]]:
            protocol.listening.addErrback(lambda _: None)
            return self.kill(protocol) if protocol.running else None

        self.addCleanup(kill)
        return protocol

    def replica_args(self, primary_url: str) -> tuple[str, ...]:
        """C{twistd devpi} arguments for a replica of C{primary_url} on a free port."""
        return (*replica_arguments(primary_url, self.primary_dir), "--listen", "tcp:0:interface=127.0.0.1")

    def kill(self, protocol: TwistdProtocol) -> Deferred[None]:
        """SIGKILL the process; fires once it has ended."""
        protocol.transport.signalProcess("KILL")  # type: ignore[union-attr]
        return protocol.ended

    def assertIdentical(self, replica_dir: str, primary_orphans: bool = False) -> None:
        """
        The replica's changelog, current values and blobs are the primary's
        (its blobs the store refers to, with C{primary_orphans}).
        """
        primary_rows, replica_rows = changelog_rows(self.primary_dir), changelog_rows(replica_dir)
        self.assertEqual([row[0] for row in replica_rows], list(range(len(replica_rows))))
        self.assertEqual(replica_rows, primary_rows)
        self.assertEqual(normalized_kv(replica_dir), replayed(replica_rows))
        primary_blobs = referenced_blobs(self.primary_dir) if primary_orphans else None
        self.assertEqual(Snapshot.of(replica_dir), Snapshot.of(self.primary_dir, primary_blobs))
