"""What the rules need of the store: read keys, list children, write keys."""

from typing import Any, Protocol


class StateReader(Protocol):
    """Committed state (or a transaction's view of it)."""

    def get(self, key: str, default: Any = None) -> Any:
        """The value of C{key}, or C{default}."""

    def children(self, parent: str) -> list[str]:
        """Sorted names C{n} for which C{parent/n} has a value."""


class StateWriter(StateReader, Protocol):
    """A transaction: reads see its own writes."""

    def set(self, key: str, value: Any) -> None:
        """Give C{key} a new value."""

    def delete(self, key: str) -> None:
        """Remove C{key}."""
