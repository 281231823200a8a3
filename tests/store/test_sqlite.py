"""SQLiteBackend: atomic, gap-free commits that survive the writer being killed."""

from __future__ import annotations

import json
import os
import sqlite3
import sys
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.error import ProcessTerminated
from twisted.internet.protocol import ProcessProtocol
from twisted.internet.task import deferLater
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase

import devpi_twisted
from devpi_twisted.store.sqlite import SerialConflict, SQLiteBackend, encode_changes

#: Commits forever: serial n sets "k" to n and "k<n>" to n. Prints "ready" first.
WRITER = """
import sys
from devpi_twisted.store.sqlite import SQLiteBackend
backend = SQLiteBackend(sys.argv[1])
n = backend.load()[0] + 1
sys.stdout.write("ready\\n")
sys.stdout.flush()
while True:
    backend.commit(n, float(n), {"k": str(n), "k%d" % n: str(n)})
    n += 1
"""

#: Where the writer imports devpi_twisted from: the same code as this test.
SOURCE = os.path.dirname(os.path.dirname(os.path.abspath(devpi_twisted.__file__)))


class WriterProtocol(ProcessProtocol):
    """Fires C{ready} when the writer has started, C{ended} when it is gone."""

    def __init__(self) -> None:
        self.ready: Deferred[None] = Deferred()
        self.ended: Deferred[BaseException] = Deferred()
        self.output = b""

    def outReceived(self, data: bytes) -> None:
        self.output += data
        if b"ready\n" in self.output and not self.ready.called:
            self.ready.callback(None)

    def errReceived(self, data: bytes) -> None:
        self.output += data

    def processEnded(self, reason: Failure) -> None:
        if not self.ready.called:
            self.ready.errback(AssertionError(f"writer died: {self.output!r}"))
        self.ended.callback(reason.value)


def replay(backend: SQLiteBackend) -> tuple[list[int], dict[str, str]]:
    """The serials of the changelog and the values replaying it gives."""
    serials: list[int] = []
    values: dict[str, str] = {}
    for serial, _, text in backend.entries(0, 1_000_000):
        serials.append(serial)
        for key, value in json.loads(text).items():
            if value is None:
                values.pop(key, None)
            else:
                values[key] = json.dumps(value)
    return serials, values


class SQLiteBackendTests(TestCase):
    def setUp(self) -> None:
        self.path = os.path.join(self.mktemp(), "store.sqlite")
        os.makedirs(os.path.dirname(self.path))
        self.backend = self.open()

    def open(self) -> SQLiteBackend:
        backend = SQLiteBackend(self.path)
        self.addCleanup(backend.close)
        return backend

    def test_empty_database_loads_as_serial_minus_one(self) -> None:
        self.assertEqual(self.backend.load(), (-1, 0.0, {}))
        self.assertEqual(self.backend.entries(0, 10), [])

    def test_commit_then_load(self) -> None:
        self.backend.commit(0, 10.5, {"a": "1", "b": '{"x":[1,2]}'})
        self.backend.commit(1, 11.5, {"c": '"text"'})
        expected = (1, 11.5, {"a": "1", "b": '{"x":[1,2]}', "c": '"text"'})
        self.assertEqual(self.backend.load(), expected)
        self.assertEqual(self.open().load(), expected)

    def test_deleted_keys_are_gone(self) -> None:
        self.backend.commit(0, 1.0, {"a": "1", "b": "2"})
        self.backend.commit(1, 2.0, {"a": None, "never-set": None})
        self.assertEqual(self.backend.load(), (1, 2.0, {"b": "2"}))

    def test_commit_not_following_last_serial_raises_and_writes_nothing(self) -> None:
        self.assertRaises(SerialConflict, self.backend.commit, 1, 1.0, {"a": "1"})
        self.backend.commit(0, 1.0, {"a": "1"})
        for serial in (0, 2, -1):
            self.assertRaises(
                SerialConflict, self.backend.commit, serial, 2.0, {"a": "2", "b": "3"}
            )
        self.assertEqual(self.backend.load(), (0, 1.0, {"a": "1"}))
        self.assertEqual([e[0] for e in self.backend.entries(0, 10)], [0])
        self.backend.commit(1, 3.0, {"a": "3"})
        self.assertEqual(self.backend.load(), (1, 3.0, {"a": "3"}))

    def test_second_backend_on_the_same_file_cannot_commit_a_stale_serial(self) -> None:
        other = self.open()
        self.assertEqual(other.load()[0], -1)
        self.backend.commit(0, 1.0, {"a": "1"})
        self.assertRaises(SerialConflict, other.commit, 0, 1.0, {"a": "2"})
        self.assertEqual(other.load(), (0, 1.0, {"a": "1"}))

    def test_exception_inside_commit_rolls_back(self) -> None:
        """A value the database cannot store fails the commit after the
        changelog row and a delete were written; both are rolled back."""
        self.backend.commit(0, 1.0, {"a": "1", "b": "2"})
        bad: dict[str, Any] = {"b": None, "a": "10", "c": {"not": "json text"}}
        self.assertRaises(sqlite3.Error, self.backend.commit, 1, 2.0, bad)
        self.assertEqual(self.backend.load(), (0, 1.0, {"a": "1", "b": "2"}))
        self.assertEqual([e[0] for e in self.backend.entries(0, 10)], [0])
        self.assertEqual(self.open().load(), (0, 1.0, {"a": "1", "b": "2"}))
        self.backend.commit(1, 3.0, {"b": None})
        self.assertEqual(self.backend.load(), (1, 3.0, {"a": "1"}))

    def test_base_exception_inside_commit_rolls_back(self) -> None:
        """Even an interrupt while writing the values leaves no trace."""

        class Interrupting(str):
            def __conform__(self, protocol: Any) -> Any:
                raise KeyboardInterrupt()

        self.assertRaises(
            KeyboardInterrupt,
            self.backend.commit,
            0,
            1.0,
            {"a": "1", "b": Interrupting("2")},
        )
        self.assertEqual(self.backend.load(), (-1, 0.0, {}))
        self.assertEqual(self.backend.entries(0, 10), [])
        self.backend.commit(0, 2.0, {"a": "1"})
        self.assertEqual(self.backend.load(), (0, 2.0, {"a": "1"}))

    def test_entries_are_json_change_dicts_with_none_for_deletes(self) -> None:
        self.backend.commit(0, 1.0, {"a": "1", 'we"ird/ü': '{"x":[true,null]}'})
        self.backend.commit(1, 2.0, {"a": None, "b": '"two"'})
        self.backend.commit(2, 3.0, {"c": "[]"})
        entries = self.backend.entries(0, 10)
        self.assertEqual(
            [(serial, ts, json.loads(text)) for serial, ts, text in entries],
            [
                (0, 1.0, {"a": 1, 'we"ird/ü': {"x": [True, None]}}),
                (1, 2.0, {"a": None, "b": "two"}),
                (2, 3.0, {"c": []}),
            ],
        )

    def test_entries_start_at_since_and_stop_at_limit(self) -> None:
        for serial in range(5):
            self.backend.commit(serial, float(serial), {"k": str(serial)})
        self.assertEqual([e[0] for e in self.backend.entries(1, 2)], [1, 2])
        self.assertEqual([e[0] for e in self.backend.entries(3, 10)], [3, 4])
        self.assertEqual(self.backend.entries(5, 10), [])
        self.assertEqual(self.backend.entries(0, 0), [])

    def test_encode_changes_keeps_value_order_and_embeds_json(self) -> None:
        text = encode_changes({"b": "[1]", "a": None})
        self.assertEqual(text, '{"b":[1],"a":null}')
        self.assertEqual(json.loads(text), {"b": [1], "a": None})

    def test_commits_from_several_threads_share_one_file(self) -> Deferred[None]:
        """Each thread gets its own connection; close() closes all of them."""
        from twisted.internet.threads import deferToThread

        self.backend.commit(0, 1.0, {"a": "1"})

        async def run() -> None:
            await deferToThread(self.backend.commit, 1, 2.0, {"b": "2"})
            self.assertEqual(await deferToThread(self.backend.load), (1, 2.0, {"a": "1", "b": "2"}))
            self.backend.close()
            self.assertEqual(self.open().load(), (1, 2.0, {"a": "1", "b": "2"}))

        return Deferred.fromCoroutine(run())

    async def kill_writer_after(self, seconds: float) -> None:
        protocol = WriterProtocol()
        process = reactor.spawnProcess(  # type: ignore[attr-defined]
            protocol,
            sys.executable,
            [sys.executable, "-c", WRITER, self.path],
            env={**os.environ, "PYTHONPATH": SOURCE},
        )
        try:
            await protocol.ready
            await deferLater(reactor, seconds)
        finally:
            if protocol.ended.called:
                reason = await protocol.ended
            else:
                process.signalProcess("KILL")
                reason = await protocol.ended
        assert isinstance(reason, ProcessTerminated), (reason, protocol.output)
        self.assertEqual(reason.signal, 9, protocol.output)

    def assert_consistent(self) -> int:
        """Check the changelog and the values after a crash; return the last serial."""
        backend = self.open()
        serial, _, values = backend.load()
        serials, replayed = replay(backend)
        self.assertEqual(serials, list(range(serial + 1)))
        self.assertEqual(values, replayed)
        self.assertEqual(values.get("k"), str(serial))
        self.assertEqual(values.get(f"k{serial}"), str(serial))
        self.assertNotIn(f"k{serial + 1}", values)
        self.assertEqual(len(values), serial + 2)
        for n, _, text in backend.entries(max(0, serial - 5), 10):
            self.assertEqual(json.loads(text), {"k": n, f"k{n}": n})
        backend.close()
        return serial

    async def test_writer_killed_mid_commit_leaves_whole_commits_only(self) -> None:
        """
        SIGKILL a process that commits as fast as it can: the changelog has
        no gap, the values are what replaying it gives, the last commit is
        complete, and the next commit continues the serials.
        """
        self.backend.close()
        last = -1
        for _ in range(3):
            await self.kill_writer_after(0.15)
            serial = self.assert_consistent()
            self.assertGreater(serial, last)
            last = serial

        backend = self.open()
        backend.commit(last + 1, 0.0, {"after": "true"})
        self.assertEqual(backend.load()[2]["after"], "true")
