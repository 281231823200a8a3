"""What an install needs, read from requirements files, lock files (uv.lock, pylock.toml) or plain names."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from typing import Any, Iterator
from urllib.parse import unquote, urlsplit

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from devpi_twisted.dists.errors import DistError


class RequirementsError(DistError):
    """A requirements source cannot be read; the message says which and why."""


@dataclass(frozen=True)
class Locked:
    """A project pinned by a lock file: its version and the file names it may install."""

    name: str
    version: str
    filenames: tuple[str, ...]


@dataclass
class Wanted:
    """Requirements to resolve (newest versions that fit) and pinned files to fetch as they are."""

    requirements: list[Requirement] = field(default_factory=list)
    locked: list[Locked] = field(default_factory=list)

    def extend(self, other: Wanted) -> None:
        self.requirements.extend(other.requirements)
        self.locked.extend(other.locked)


def read_sources(sources: list[str]) -> Wanted:
    """
    Each source is a file (C{uv.lock}, C{pylock.toml} / C{pylock.*.toml},
    else a requirements file) if one exists by that name, else a
    requirement such as C{name} or C{name>=1.0}.
    """
    wanted = Wanted()
    for source in sources:
        if os.path.isfile(source):
            wanted.extend(read_file(source))
        else:
            wanted.requirements.append(_requirement(source, "the command line"))
    return wanted


def read_file(path: str, _seen: frozenset[str] = frozenset()) -> Wanted:
    """What the file at C{path} asks for."""
    base = os.path.basename(path)
    if base == "uv.lock":
        return Wanted(locked=list(_uv_lock(_toml(path))))
    if base == "pylock.toml" or (base.startswith("pylock.") and base.endswith(".toml")):
        return Wanted(locked=list(_pylock(_toml(path))))
    return _requirements_file(path, _seen | {os.path.abspath(path)})


def _toml(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise RequirementsError(f"{path}: {error}") from None


def _basename(url: object) -> str:
    return unquote(urlsplit(url).path.rsplit("/", 1)[-1]) if isinstance(url, str) else ""


def _uv_lock(data: dict[str, Any]) -> Iterator[Locked]:
    """Packages from a registry, with their sdist and every wheel."""
    for package in data.get("package", []):
        if not isinstance(package, dict) or "registry" not in (package.get("source") or {}):
            continue
        files = [package.get("sdist") or {}] + list(package.get("wheels") or [])
        names = tuple(n for n in (_basename(f.get("url")) for f in files if isinstance(f, dict)) if n)
        if names and isinstance(package.get("name"), str):
            yield Locked(canonicalize_name(package["name"]), str(package.get("version", "")), names)


def _pylock(data: dict[str, Any]) -> Iterator[Locked]:
    """PEP 751 packages with wheels or an sdist (named, or named by their URL)."""
    for package in data.get("packages", []):
        if not isinstance(package, dict) or not isinstance(package.get("name"), str):
            continue
        files = list(package.get("wheels") or [])
        if isinstance(package.get("sdist"), dict):
            files.append(package["sdist"])
        names = tuple(
            n
            for n in (f.get("name") or _basename(f.get("url")) for f in files if isinstance(f, dict))
            if isinstance(n, str) and n
        )
        if names:
            yield Locked(canonicalize_name(package["name"]), str(package.get("version", "")), names)


def _requirements_file(path: str, seen: frozenset[str]) -> Wanted:
    """pip's format: requirements, C{-r}/C{-c} includes, options and comments skipped."""
    wanted = Wanted()
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().replace("\\\n", " ").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise RequirementsError(f"{path}: {error}") from None
    for number, line in enumerate(lines, 1):
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        option, _, rest = line.partition(" ")
        if option in ("-r", "--requirement", "-c", "--constraint"):
            included = os.path.join(os.path.dirname(path), rest.strip())
            if os.path.abspath(included) not in seen and option in ("-r", "--requirement"):
                wanted.extend(read_file(included, seen))
            continue
        if line.startswith("-"):
            continue  # --hash, --index-url, -e ...: nothing to warm
        wanted.requirements.append(_requirement(line.split(" --", 1)[0], f"{path} line {number}"))
    return wanted


def _requirement(text: str, where: str) -> Requirement:
    try:
        requirement = Requirement(text)
    except InvalidRequirement as error:
        raise RequirementsError(f"{where}: {error}") from None
    if requirement.url:
        raise RequirementsError(f"{where}: {text!r} is a URL, not something an index has")
    return requirement
