"""C{devpi-twisted fsck}: check every stored file against its recorded sha256, and repair it."""

from __future__ import annotations

import hashlib
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
from devpi_twisted.options import BlobStoreOptions
from devpi_twisted.store.blobs import BlobStoreUnavailable, IBlobStore
from devpi_twisted.store.locations import BlobLocation

MISSING = "missing"
#: Seconds between two progress lines of a long check.
PROGRESS_EVERY = 5.0


class Options(BlobStoreOptions):
    """devpi-twisted fsck [options]."""

    longdesc = (
        "Check that every file the server directory refers to exists in --blob-store"
        " and has its recorded size and sha256 (also while a server runs on it); exit"
        " code 1 when some do not. Blobs nothing refers to and unfinished writes are"
        " reported too. With a --repair option, broken files are fetched again and put"
        " in place (a corrupt one is kept in the blob store's corrupt/)."
    )
    optParameters = [
        ["repair-from", None, None, "base URL of a devpi(-twisted) server with the same files, e.g. a replica"],
        ["repair-timeout", None, 30.0, "seconds a repair download may wait for data", float],
    ]
    optFlags = [
        ["no-checksum", None, "only check that each file exists with its recorded size"],
        ["repair-from-upstream", None, "fetch broken mirror files from their upstream URL again"],
    ]

    def postOptions(self) -> None:
        super().postOptions()
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


def digest_and_size(blobs: IBlobStore, sha256: str) -> tuple[str, int]:
    """The sha256 hex digest and the size of a stored blob, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    with blobs.open(sha256) as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def check_blob(
    blobs: IBlobStore, sha256: str, checksum: bool, expected_size: Optional[int] = None
) -> Optional[str]:
    """What is wrong with the blob C{sha256} (L{MISSING}, its size or real hash, unreadable), or None."""
    try:
        if checksum:
            actual, size = digest_and_size(blobs, sha256)
        else:
            found = blobs.size(sha256)
            if found is None:
                return MISSING
            actual, size = sha256, found
    except FileNotFoundError:
        return MISSING
    except OSError as error:
        return f"unreadable: {error.strerror}"
    except BlobStoreUnavailable as error:
        return f"unreadable: {error}"
    if actual != sha256:
        return f"sha256 is {actual}, expected {sha256}"
    if expected_size is not None and size != expected_size:
        return f"size is {size}, expected {expected_size}"
    return None


def _refs(server: ReadOnlyServer, sha256: str) -> tuple[str, ...]:
    return tuple((server.store.get(keys.blob(sha256)) or {}).get("refs", ()))


def recorded_size(server: ReadOnlyServer, sha256: str, relpaths: tuple[str, ...]) -> Optional[int]:
    """The size the file entries referring to blob C{sha256} record, if one does."""
    for relpath in relpaths:
        entry = server.store.get(keys.file(relpath)) or {}
        if entry.get("sha256") == sha256 and isinstance(entry.get("size"), int):
            return int(entry["size"])
    return None


def find_damage(server: ReadOnlyServer, checksum: bool) -> tuple[int, list[Damage]]:
    """Check every referenced blob: (how many files refer to one, the damaged blobs)."""
    refs = {sha256: _refs(server, sha256) for sha256 in server.store.children(keys.BLOBS)}
    total = sum(len(relpaths) for relpaths in refs.values())
    print(f"Checking {total} files of {server.path} at serial {server.store.serial}", flush=True)
    checked = 0
    damaged = []
    due = time.monotonic() + PROGRESS_EVERY
    for sha256, relpaths in refs.items():
        problem = check_blob(server.blobs, sha256, checksum, recorded_size(server, sha256, relpaths))
        if problem is not None:
            damaged.append(Damage(sha256, relpaths, problem))
        checked += len(relpaths)
        if time.monotonic() >= due:
            print(f"Processed a total of {checked} of {total} files so far.", flush=True)
            due = time.monotonic() + PROGRESS_EVERY
    return checked, damaged


def report_orphans(server: ReadOnlyServer) -> None:
    """
    Blobs nothing refers to and writes that never finished: not errors
    (a server running meanwhile may be writing them), but space to reclaim.
    """
    referred = set(server.store.children(keys.BLOBS))
    for sha256, size in server.blobs.stored():
        if sha256 not in referred:
            print(f"Orphan blob {sha256} ({size} bytes): no file refers to it at serial {server.store.serial}")
    for leftover in server.blobs.leftovers():
        print(f"Unfinished write {leftover}")


def still_referred_to(path: str, location: BlobLocation, damaged: list[Damage]) -> list[Damage]:
    """
    The damage a fresh look at the store still refers to: a server running
    meanwhile may have deleted files (and their blobs) after the check began.
    """
    with open_readonly(path, location) as now:
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
    location = options.blob_location()
    try:
        with open_readonly(options["serverdir"], location) as server:
            total, damaged = find_damage(server, not options["no-checksum"])
            if damaged:
                damaged = still_referred_to(server.path, location, damaged)
            report(total, damaged)
            report_orphans(server)
            if damaged and (options["repair-from"] or options["repair-from-upstream"]):
                left = repair_all(server, damaged, options)
                print(f"Repaired {files(damaged) - files(left)} of {files(damaged)} broken files.")
                damaged = left
    except (OSError, BlobStoreUnavailable) as error:
        raise CommandError(str(error)) from error
    if damaged:
        print("There have been errors during consistency check.", file=sys.stderr)
        return 1
    return 0
