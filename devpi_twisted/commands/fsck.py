"""C{devpi-twisted fsck}: check every stored file against its recorded sha256, and repair it."""

from __future__ import annotations

import hashlib
import os
import sys
import time
from dataclasses import dataclass, replace
from typing import Optional
from urllib.parse import urlsplit

from twisted.python import usage

from devpi_twisted.commands import CommandError
from devpi_twisted.commands.fsck_repair import CHUNK, METADATA_SUFFIX, Source, repair, sources
from devpi_twisted.commands.offline import ReadOnlyServer, open_readonly
from devpi_twisted.model import keys
from devpi_twisted.options import ServerDirOptions
from devpi_twisted.store.blobs import FileBlobStore

MISSING = "missing"
#: Seconds between two progress lines of a long check.
PROGRESS_EVERY = 5.0


class Options(ServerDirOptions):
    """devpi-twisted fsck [options]."""

    longdesc = (
        "Check that every file the server directory refers to exists and has its"
        " recorded sha256 (also while a server runs on it); exit code 1 when some"
        " do not. With a --repair option, broken files are fetched again and put in"
        " place (a corrupt one is kept in +blobs/corrupt/)."
    )
    optParameters = [
        ["repair-from", None, None, "base URL of a devpi(-twisted) server with the same files, e.g. a replica"],
        ["repair-timeout", None, 30.0, "seconds a repair download may wait for data", float],
    ]
    optFlags = [
        ["no-checksum", None, "only check that each file exists"],
        ["repair-from-upstream", None, "fetch broken mirror files from their upstream URL again"],
    ]

    def postOptions(self) -> None:
        url = self["repair-from"]
        if url is not None and urlsplit(url).scheme not in ("http", "https"):
            raise usage.UsageError(f"--repair-from {url!r} is not an http(s) URL")
        if self["repair-timeout"] <= 0:
            raise usage.UsageError("--repair-timeout must be positive")


@dataclass(frozen=True)
class Damage:
    """A blob the store refers to (by C{relpaths}) that is missing or holds other bytes."""

    sha256: str
    relpaths: tuple[str, ...]
    problem: str

    @property
    def missing(self) -> bool:
        return self.problem == MISSING


def sha256_of(path: str) -> str:
    """The sha256 hex digest of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def check_blob(blobs: FileBlobStore, sha256: str, checksum: bool) -> Optional[str]:
    """What is wrong with the blob C{sha256} (L{MISSING}, its real hash, unreadable), or None."""
    path = blobs.path(sha256)
    try:
        if not checksum:
            return None if os.path.isfile(path) else MISSING
        actual = sha256_of(path)
    except FileNotFoundError:
        return MISSING
    except OSError as error:
        return f"unreadable: {error.strerror}"
    return None if actual == sha256 else f"sha256 is {actual}, expected {sha256}"


def _refs(server: ReadOnlyServer, sha256: str) -> tuple[str, ...]:
    return tuple((server.store.get(keys.blob(sha256)) or {}).get("refs", ()))


def find_damage(server: ReadOnlyServer, checksum: bool) -> tuple[int, list[Damage]]:
    """Check every referenced blob: (how many files refer to one, the damaged blobs)."""
    refs = {sha256: _refs(server, sha256) for sha256 in server.store.children(keys.BLOBS)}
    total = sum(len(relpaths) for relpaths in refs.values())
    print(f"Checking {total} files of {server.path} at serial {server.store.serial}", flush=True)
    checked = 0
    damaged = []
    due = time.monotonic() + PROGRESS_EVERY
    for sha256, relpaths in refs.items():
        problem = check_blob(server.blobs, sha256, checksum)
        if problem is not None:
            damaged.append(Damage(sha256, relpaths, problem))
        checked += len(relpaths)
        if time.monotonic() >= due:
            print(f"Processed a total of {checked} of {total} files so far.", flush=True)
            due = time.monotonic() + PROGRESS_EVERY
    return checked, damaged


def still_referred_to(path: str, damaged: list[Damage]) -> list[Damage]:
    """
    The damage a fresh look at the store still refers to: a server running
    meanwhile may have deleted files (and their blobs) after the check began.
    """
    with open_readonly(path) as now:
        return [
            replace(damage, relpaths=relpaths)
            for damage in damaged
            if (relpaths := _refs(now, damage.sha256))
        ]


def files(damaged: list[Damage]) -> int:
    """How many files refer to the C{damaged} blobs."""
    return sum(len(damage.relpaths) for damage in damaged)


def report(total: int, damaged: list[Damage]) -> None:
    """devpi-fsck's account: each broken file, the total, how many are missing or corrupt."""
    for damage in damaged:
        for relpath in damage.relpaths:
            if damage.missing:
                print(f"Missing file {relpath}")
            else:
                print(f"Corrupt file {relpath} - {damage.problem}")
    print(f"Finished with a total of {total} files.")
    missing = files([damage for damage in damaged if damage.missing])
    corrupt = files(damaged) - missing
    if missing:
        print(f"A total of {missing} files are missing.")
    if corrupt:
        print(f"A total of {corrupt} files are corrupt.")


def repair_all(server: ReadOnlyServer, damaged: list[Damage], options: Options) -> list[Damage]:
    """Repair what can be; the damage left. A wheel's METADATA comes after the wheel."""

    def failed(source: Source, why: str) -> None:
        print(f"  not from {source.description}: {why}")

    left = []
    metadata_last = sorted(damaged, key=lambda d: all(r.endswith(METADATA_SUFFIX) for r in d.relpaths))
    for damage in metadata_last:
        candidates = sources(
            server.store,
            server.blobs,
            damage.relpaths,
            options["repair-from"],
            bool(options["repair-from-upstream"]),
            options["repair-timeout"],
        )
        repaired = repair(server.blobs, damage.sha256, not damage.missing, candidates, failed)
        if repaired is None:
            left.append(damage)
            print(f"Could not repair {', '.join(damage.relpaths)}")
            continue
        for relpath in damage.relpaths:
            print(f"Repaired {relpath} from {repaired.source}")
        if repaired.kept:
            print(f"  the corrupt file is kept as {repaired.kept}")
    return left


def run(options: Options) -> int:
    """
    Check (and repair); 0 when every file is (again) in order, else 1;
    L{CommandError} or L{ServerDirError} when the check cannot be made.
    """
    try:
        with open_readonly(options["serverdir"]) as server:
            total, damaged = find_damage(server, not options["no-checksum"])
            if damaged:
                damaged = still_referred_to(server.path, damaged)
            report(total, damaged)
            if damaged and (options["repair-from"] or options["repair-from-upstream"]):
                left = repair_all(server, damaged, options)
                print(f"Repaired {files(damaged) - files(left)} of {files(damaged)} broken files.")
                damaged = left
    except OSError as error:
        raise CommandError(str(error)) from error
    if damaged:
        print("There have been errors during consistency check.", file=sys.stderr)
        return 1
    return 0
