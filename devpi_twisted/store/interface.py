"""The interface every changelog backend (SQLite now, PostgreSQL later) provides."""

from __future__ import annotations

from typing import Optional, Sequence

from zope.interface import Interface

#: The changes of one commit: key -> JSON text of the new value, or None (deleted).
Changes = dict[str, Optional[str]]


class IChangelogBackend(Interface):
    """
    Durable storage of the changelog and the current value of every key.

    All methods block; the store calls them from its writer thread (or, for
    L{load}, before the reactor runs).
    """

    def load() -> tuple[int, float, dict[str, str]]:
        """
        Return (serial, commit timestamp, {key: JSON text}) of the last commit;
        serial is -1 for an empty store.
        """

    def commit(serial: int, timestamp: float, changes: Changes) -> None:
        """
        Record C{changes} as commit C{serial} atomically: afterwards both the
        changelog entry and the new values are durable, or neither is.
        """

    def commit_many(entries: Sequence[tuple[int, float, Changes]]) -> None:
        """
        Record consecutive commits, each an C{(serial, timestamp, changes)}
        entry, atomically as a whole: all of them are durable, or none.
        """

    def entries(since: int, limit: int) -> list[tuple[int, float, str]]:
        """Up to C{limit} changelog entries from C{since} on: (serial, timestamp, JSON)."""

    def close() -> None:
        """Release the backend's resources."""
