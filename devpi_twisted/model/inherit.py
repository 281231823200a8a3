"""Index inheritance: the bases resolution order and mirror_whitelist shadowing."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from devpi_twisted.model import keys
from devpi_twisted.model.indexes import MIRROR
from devpi_twisted.model.state import StateReader
from devpi_twisted.model.records import IndexConfig


@dataclass(frozen=True)
class Resolution:
    """The indexes an index reads through, in order, and the bases it lacks."""

    order: list[tuple[str, IndexConfig]]
    missing: list[str] = field(default_factory=list)


def resolution_order(state: StateReader, name: str) -> Resolution:
    """
    devpi's order for index C{name} (C{user/index}): the index itself, then
    its stage bases breadth-first, then every mirror met on the way, in the
    order first met. Bases that no longer exist are skipped and reported.
    """
    stages: list[tuple[str, IndexConfig]] = []
    mirrors: list[tuple[str, IndexConfig]] = []
    missing: list[str] = []
    queue, seen = [name], set()
    while queue:
        current = queue.pop(0)
        if current in seen:
            continue
        seen.add(current)
        username, _, indexname = current.partition("/")
        config: Optional[IndexConfig] = state.get(keys.index(username, indexname))
        if config is None:
            missing.append(current)
        elif config["type"] == MIRROR and current != name:
            mirrors.append((current, config))
        else:
            stages.append((current, config))
            queue.extend(config.get("bases", []))
    return Resolution(stages + mirrors, missing)


@dataclass(frozen=True)
class Visibility:
    """Which indexes of an order may contribute a project's releases."""

    included: list[str]
    hidden_mirrors: list[str]


def project_visibility(
    resolution: Resolution, project: str, has_project: Callable[[str], bool]
) -> Visibility:
    """
    Apply devpi's shadowing protection for C{project} (normalized): once a
    stage in the order holds the project and it is not whitelisted, mirrors
    do not contribute it. With C{mirror_merge_named_only} on the index, a
    C{*} whitelists nothing: only a whitelist naming the project merges it.
    C{has_project(index name)} says who holds it.
    """
    if not resolution.order:
        return Visibility([], [])
    inheritance = resolution.order[0][1].get("mirror_whitelist_inheritance", "union")
    named_only = bool(resolution.order[0][1].get("mirror_merge_named_only"))
    whitelist: Optional[set[str]] = None
    whitelisted = private_hit = False
    included: list[str] = []
    hidden: list[str] = []
    for name, config in resolution.order:
        if config["type"] == MIRROR:
            if private_hit and not whitelisted:
                hidden.append(name)
                continue
        else:
            own = set(config.get("mirror_whitelist", []))
            if whitelist is None:
                whitelist = own
            elif inheritance == "union":
                whitelist = whitelist | own
            else:
                whitelist = whitelist & own
            if project in whitelist or ("*" in whitelist and not named_only):
                whitelisted = True
            elif has_project(name):
                private_hit = True
        included.append(name)
    return Visibility(included, hidden)
