"""Where fsck gets a damaged blob again, and how it puts the good bytes in place."""

from __future__ import annotations

import http.client
import os
import time
import urllib.request
from dataclasses import dataclass
from typing import Callable, Iterator, Optional
from urllib.parse import quote

from devpi_twisted import __version__
from devpi_twisted.dists.errors import DistError
from devpi_twisted.dists.metadata import read_core_metadata
from devpi_twisted.mirror.credentials import split_credentials
from devpi_twisted.model import keys, mirrors
from devpi_twisted.model.state import StateReader
from devpi_twisted.store.blobs import FileBlobStore, HashMismatch, IBlobWriter

CHUNK = 1024 * 1024
#: The suffix of a PEP 658 metadata file's relpath.
METADATA_SUFFIX = ".metadata"
#: Where corrupt blobs are kept once replaced (inside the blob store: same file system).
CORRUPT = "corrupt"
#: What a source may fail with: network, HTTP, file and archive errors.
FETCH_ERRORS = (OSError, ValueError, http.client.HTTPException, DistError)


@dataclass(frozen=True)
class Source:
    """A place the bytes of a blob may be had from."""

    #: what the user is shown (never with credentials)
    description: str
    #: writes the bytes into a blob writer; raises one of L{FETCH_ERRORS}
    fetch: Callable[[IBlobWriter], None]


def without_credentials(url: str) -> str:
    """C{url} with any user and password left out, to be shown."""
    return split_credentials(url)[0]


def download(url: str, timeout: float) -> Callable[[IBlobWriter], None]:
    """Fetch C{url} (HTTP Basic auth from its user and password, never sent on after a redirect)."""

    def fetch(writer: IBlobWriter) -> None:
        bare, authorization = split_credentials(url)
        request = urllib.request.Request(bare, headers={"User-Agent": f"devpi-twisted-fsck/{__version__}"})
        if authorization is not None:
            request.add_unredirected_header("Authorization", authorization.decode())
        with urllib.request.urlopen(request, timeout=timeout) as response:  # reactor-safe: offline command
            while chunk := response.read(CHUNK):
                writer.write(chunk)

    return fetch


def _wheel_metadata(blobs: FileBlobStore, wheel: str, sha256: str) -> Callable[[IBlobWriter], None]:
    def fetch(writer: IBlobWriter) -> None:
        writer.write(read_core_metadata(blobs.path(sha256), wheel.rsplit("/", 1)[-1]))

    return fetch


def sources(
    state: StateReader,
    blobs: FileBlobStore,
    relpaths: tuple[str, ...],
    repair_from: Optional[str],
    from_upstream: bool,
    timeout: float,
) -> Iterator[Source]:
    """
    The places a blob referred to by C{relpaths} may be had from: a wheel's
    METADATA from the stored wheel, then each relpath from the server at
    C{repair_from}, then (C{from_upstream}) mirror files from their upstream URL.
    """
    for relpath in relpaths:
        if relpath.endswith(METADATA_SUFFIX) and state.get(keys.file(relpath)) is None:
            wheel = relpath[: -len(METADATA_SUFFIX)]
            entry = state.get(keys.file(wheel))
            if entry is not None:
                yield Source(f"the stored {wheel}", _wheel_metadata(blobs, wheel, entry["sha256"]))
    if repair_from is not None:
        for relpath in relpaths:
            url = repair_from.rstrip("/") + "/" + quote(relpath, safe="/+")
            yield Source(without_credentials(url), download(url, timeout))
    if from_upstream:
        for relpath in relpaths:
            entry = state.get(keys.file(relpath))
            if entry and entry.get("url"):
                username, indexname = relpath.split("/")[:2]
                config = state.get(keys.index(username, indexname))
                url = mirrors.with_credentials(entry["url"], config) if config else entry["url"]
                yield Source(without_credentials(url), download(url, timeout))


def keep_aside(blobs: FileBlobStore, sha256: str) -> Optional[str]:
    """
    Hard-link the corrupt blob C{sha256} into the C{corrupt} folder, so
    that publishing the good bytes over it loses nothing; its new path.
    """
    folder = os.path.join(blobs.root, CORRUPT)
    os.makedirs(folder, exist_ok=True)
    kept = os.path.join(folder, f"{sha256}.{time.strftime('%Y%m%dT%H%M%S')}.{os.getpid()}")
    try:
        os.link(blobs.path(sha256), kept)
    except FileNotFoundError:
        return None
    except OSError:
        os.replace(blobs.path(sha256), kept)
    return kept


@dataclass(frozen=True)
class Repaired:
    """A blob put back in place: where it came from, and where its corrupt bytes are kept."""

    source: str
    kept: Optional[str]


def repair(
    blobs: FileBlobStore,
    sha256: str,
    corrupt: bool,
    candidates: Iterator[Source],
    failed: Callable[[Source, str], None],
) -> Optional[Repaired]:
    """
    Fetch the blob from the first of C{candidates} that has exactly its
    bytes (C{failed} hears of the others) and publish it atomically,
    keeping a C{corrupt} one aside; None when no source had it.
    """
    for source in candidates:
        writer = blobs.writer()
        try:
            source.fetch(writer)
            writer.finish(sha256)
        except HashMismatch as error:
            failed(source, f"other bytes: {error}")
            continue
        except FETCH_ERRORS as error:
            writer.abort()
            failed(source, str(error) or type(error).__name__)
            continue
        except BaseException:
            writer.abort()
            raise
        try:
            kept = keep_aside(blobs, sha256) if corrupt else None
            writer.publish()
        except BaseException:
            writer.abort()
            raise
        return Repaired(source.description, kept)
    return None
