"""The embedded default changelog backend: one SQLite file in WAL mode."""

from __future__ import annotations

import sqlite3
import threading
from json import dumps
from typing import Optional, Sequence

from zope.interface import implementer

from devpi_twisted.store.interface import Changes, IChangelogBackend

_SCHEMA = """
CREATE TABLE IF NOT EXISTS changelog (
    serial INTEGER PRIMARY KEY,
    timestamp REAL NOT NULL,
    changes TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS kv (
    key TEXT PRIMARY KEY,
    serial INTEGER NOT NULL,
    value TEXT NOT NULL
);
"""


class SerialConflict(Exception):
    """A commit was not the direct successor of the last recorded serial."""


def encode_changes(changes: Changes) -> str:
    """The JSON object text of C{changes}, embedding the values' JSON unparsed."""
    return "{%s}" % ",".join(
        f"{dumps(key)}:{'null' if value is None else value}"
        for key, value in changes.items()
    )


@implementer(IChangelogBackend)
class SQLiteBackend:
    """
    Changelog and current values in one SQLite database. Each commit is
    fsynced unless not C{durable} (a replica: a power cut may lose its last
    commits, never corrupt it, and the primary sends them again).
    """

    def __init__(self, path: str, durable: bool = True) -> None:
        self._path = path
        self._synchronous = "FULL" if durable else "NORMAL"
        self._local = threading.local()
        self._opened: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        db = self._connection()
        db.executescript(_SCHEMA)

    def _connection(self) -> sqlite3.Connection:
        db: Optional[sqlite3.Connection] = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(
                self._path, isolation_level=None, check_same_thread=False
            )
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(f"PRAGMA synchronous={self._synchronous}")
            db.execute("PRAGMA busy_timeout=10000")
            self._local.db = db
            with self._lock:
                self._opened.append(db)
        return db

    def load(self) -> tuple[int, float, dict[str, str]]:
        db = self._connection()
        db.execute("BEGIN")
        try:
            row = db.execute(
                "SELECT serial, timestamp FROM changelog ORDER BY serial DESC LIMIT 1"
            ).fetchone()
            values = dict(db.execute("SELECT key, value FROM kv"))
        finally:
            db.execute("COMMIT")
        if row is None:
            return -1, 0.0, values
        return row[0], row[1], values

    def commit(self, serial: int, timestamp: float, changes: Changes) -> None:
        self.commit_many([(serial, timestamp, changes)])

    def commit_many(self, entries: Sequence[tuple[int, float, Changes]]) -> None:
        db = self._connection()
        db.execute("BEGIN IMMEDIATE")
        try:
            (last,) = db.execute("SELECT max(serial) FROM changelog").fetchone()
            expected = -1 if last is None else last
            for serial, timestamp, changes in entries:
                if serial != expected + 1:
                    raise SerialConflict(
                        f"commit {serial} does not follow the stored serial {expected}"
                    )
                expected = serial
                db.execute(
                    "INSERT INTO changelog (serial, timestamp, changes) VALUES (?, ?, ?)",
                    (serial, timestamp, encode_changes(changes)),
                )
                for key, value in changes.items():
                    if value is None:
                        db.execute("DELETE FROM kv WHERE key = ?", (key,))
                    else:
                        db.execute(
                            "INSERT OR REPLACE INTO kv (key, serial, value) VALUES (?, ?, ?)",
                            (key, serial, value),
                        )
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    def entries(self, since: int, limit: int) -> list[tuple[int, float, str]]:
        db = self._connection()
        return list(
            db.execute(
                "SELECT serial, timestamp, changes FROM changelog"
                " WHERE serial >= ? ORDER BY serial LIMIT ?",
                (since, limit),
            )
        )

    def close(self) -> None:
        with self._lock:
            opened, self._opened = self._opened, []
        for db in opened:
            db.close()
        self._local = threading.local()
