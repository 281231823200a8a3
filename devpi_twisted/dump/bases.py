"""The order an import creates indexes in: every base before the indexes that use it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable


@dataclass(frozen=True)
class DroppedBase:
    """A base an index could not keep, and why."""

    index: str
    base: str
    reason: str

    def __str__(self) -> str:
        return f"{self.index}: dropped base {self.base}: {self.reason}"


def creation_order(
    bases: dict[str, list[str]], existing: Iterable[str]
) -> tuple[list[str], dict[str, list[str]], list[DroppedBase]]:
    """
    Order the indexes of C{bases} (index -> its bases) so each comes after
    its bases. A base that is neither among them nor in C{existing} is
    dropped, and so is the base that would close a cycle (devpi-server
    cannot create those either). Returns the order, the bases each index
    keeps, and what was dropped.
    """
    known = set(bases) | set(existing)
    dropped: list[DroppedBase] = []
    kept: dict[str, list[str]] = {}
    for name, listed in bases.items():
        kept[name] = []
        for base in listed:
            if base not in known:
                dropped.append(DroppedBase(name, base, "no such index in the dump or the server"))
            elif base == name:
                dropped.append(DroppedBase(name, base, "an index cannot be its own base"))
            else:
                kept[name].append(base)
    order: list[str] = []
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        for base in list(kept[name]):
            if base in path:
                cycle = " -> ".join(path[path.index(base):] + [name, base])
                kept[name].remove(base)
                dropped.append(DroppedBase(name, base, f"it would form a cycle {cycle}"))
            elif base in kept and base not in done:
                visit(base, path + [name])
        done.add(name)
        order.append(name)

    for name in bases:
        if name not in done:
            visit(name, [])
    return order, kept, dropped
