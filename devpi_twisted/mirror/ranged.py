"""A wheel's METADATA read from upstream by HTTP Range: the zip's end, its central directory, the one member."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import BinaryIO, Optional, cast

from devpi_twisted.dists import metadata
from devpi_twisted.dists.errors import DistError
from devpi_twisted.dists.sparse import MissingBytes, SparseFile
from devpi_twisted.mirror.upstream import Fetched, RangeRefused, UpstreamClient
from devpi_twisted.threads import Runner

#: Bytes asked for first, from the end: the end of central directory record and,
#: for most wheels, the central directory (and often the METADATA member) too.
TAIL = 16 * 1024
#: Bytes asked for at least by each further request (a METADATA member's local header and data).
STEP = 16 * 1024
#: Range requests one wheel may take; beyond them the whole file is fetched.
MAX_REQUESTS = 5

_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+)")


def _content_range(fetched: Fetched, url: str) -> tuple[int, int]:
    """(first byte, total size) of a 206 whose Content-Range matches its body."""
    header = (fetched.headers.getRawHeaders(b"content-range") or [b""])[0]
    match = _CONTENT_RANGE.fullmatch(header.decode("latin-1").strip())
    if match is None:
        raise RangeRefused(f"upstream {url} sent a 206 without a usable Content-Range")
    first, last, total = (int(group) for group in match.groups())
    if last < first or last >= total or last - first + 1 != len(fetched.body):
        raise RangeRefused(f"upstream {url} sent a Content-Range its body does not match")
    return first, total


@dataclass(frozen=True)
class RangedRead:
    """What the Range requests got: the METADATA, or (a small wheel) the whole file, or neither."""

    metadata: Optional[bytes] = None
    #: the first range was the whole wheel, to be stored as its download
    whole: Optional[bytes] = None
    last_modified: Optional[str] = None


async def read_wheel_metadata(
    client: UpstreamClient, url: str, filename: str, io: Runner
) -> RangedRead:
    """
    The C{*.dist-info/METADATA} of the wheel at C{url}, read and CRC-checked
    through a few Range requests; neither it nor the whole file when it
    cannot be had that way (not a valid wheel, or too scattered). Raises
    L{RangeRefused} when upstream does not answer Range requests properly,
    L{UpstreamError} when it fails.
    """
    fetched = await client.fetch_range(url, f"-{TAIL}", TAIL)
    first, total = _content_range(fetched, url)
    if first == 0:
        modified = (fetched.headers.getRawHeaders(b"last-modified") or [b""])[0]
        return RangedRead(whole=fetched.body, last_modified=modified.decode("latin-1") or None)
    sparse = SparseFile(total)
    sparse.add(first, fetched.body)
    requests = 1
    while True:
        try:
            # a sparse file reads as any binary file does (or says which bytes it lacks)
            readable = cast(BinaryIO, sparse)
            return RangedRead(await io(lambda: metadata.read_core_metadata(readable, filename)))
        except DistError:
            return RangedRead()
        except MissingBytes as missing:
            if requests == MAX_REQUESTS:
                return RangedRead()
            start = missing.start
            end = min(total, max(missing.end, min(start + STEP, sparse.gap_after(start))))
        fetched = await client.fetch_range(url, f"{start}-{end - 1}", end - start)
        requests += 1
        first, size = _content_range(fetched, url)
        if size != total or first != start:
            raise RangeRefused(f"upstream {url} answered another range than asked")
        sparse.add(first, fetched.body)
