"""Untrusted zip files: opening them and reading members at a bounded cost."""

from __future__ import annotations

import lzma
import struct
import zipfile
import zlib
from contextlib import contextmanager
from typing import BinaryIO, Iterator, Union

from devpi_twisted.dists.errors import InvalidDistribution

# what zipfile raises for broken, truncated or unsupported archives
ZIP_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    lzma.LZMAError,
    EOFError,
    OSError,
    RuntimeError,
    NotImplementedError,
    ValueError,
    struct.error,
)

# a budget per member for the central directory, which zipfile parses whole
CENTRAL_DIRECTORY_BYTES_PER_MEMBER = 256

_EOCD = struct.Struct("<4s4H2LH")
_EOCD_SIGNATURE = b"PK\x05\x06"
_EOCD64_LOCATOR = struct.Struct("<4sLQL")
_EOCD64_LOCATOR_SIGNATURE = b"PK\x06\x07"
_EOCD64 = struct.Struct("<4sQ2H2L4Q")
_EOCD64_SIGNATURE = b"PK\x06\x06"


def _central_directory(f: BinaryIO) -> tuple[int, int]:
    """The member count and central directory size the end records declare."""
    f.seek(0, 2)
    size = f.tell()
    # the record without a comment first (as zipfile does): most zips end with it
    tail_size = min(size, _EOCD.size)
    f.seek(size - tail_size)
    tail = f.read(tail_size)
    at = len(tail) - _EOCD.size
    if tail[at : at + 4] != _EOCD_SIGNATURE:
        tail_size = min(size, _EOCD.size + 0xFFFF)
        f.seek(size - tail_size)
        tail = f.read(tail_size)
        at = tail.rfind(_EOCD_SIGNATURE, 0, len(tail) - _EOCD.size + 1)
    if at < 0:
        raise zipfile.BadZipFile("no end of central directory record")
    _, _, _, _, count, cd_size, _, _ = _EOCD.unpack_from(tail, at)
    if count == 0xFFFF or cd_size == 0xFFFFFFFF:
        locator_at = size - tail_size + at - _EOCD64_LOCATOR.size
        if locator_at < 0:
            raise zipfile.BadZipFile("no zip64 end of central directory locator")
        f.seek(locator_at)
        signature, _, record_at, _ = _EOCD64_LOCATOR.unpack(f.read(_EOCD64_LOCATOR.size))
        if signature != _EOCD64_LOCATOR_SIGNATURE:
            raise zipfile.BadZipFile("no zip64 end of central directory locator")
        f.seek(record_at)
        record = _EOCD64.unpack(f.read(_EOCD64.size))
        if record[0] != _EOCD64_SIGNATURE:
            raise zipfile.BadZipFile("no zip64 end of central directory record")
        count, cd_size = record[7], record[8]
    return count, cd_size


@contextmanager
def open_zip(
    source: Union[str, BinaryIO], label: str, max_members: int
) -> Iterator[zipfile.ZipFile]:
    """Open the zip at C{source} (a path or an open file); refuse it unless valid and of at most C{max_members} members.

    The central directory is sized before zipfile parses it, so a small file
    cannot make it build millions of entries. C{label} names the file in messages.
    """
    budget = max_members * CENTRAL_DIRECTORY_BYTES_PER_MEMBER
    with opened(source) as f:
        try:
            count, cd_size = _central_directory(f)
        except ZIP_ERRORS:
            raise InvalidDistribution(f"{label} is not a valid zip archive") from None
        if count > max_members or cd_size > budget:
            raise InvalidDistribution(f"{label} has more than {max_members} members")
        try:
            archive = zipfile.ZipFile(f)
        except ZIP_ERRORS:
            raise InvalidDistribution(f"{label} is not a valid zip archive") from None
        with archive:
            if len(archive.infolist()) > max_members:
                raise InvalidDistribution(f"{label} has more than {max_members} members")
            yield archive


@contextmanager
def opened(source: Union[str, BinaryIO]) -> Iterator[BinaryIO]:
    """C{source} opened for reading (and closed after) if it is a path, else as it is."""
    if not isinstance(source, str):
        yield source
        return
    with open(source, "rb") as f:
        yield f


def read_member(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, label: str, max_size: int
) -> bytes:
    """The bytes of one member, refusing more than C{max_size} of them and bad CRCs."""
    if info.file_size > max_size:
        raise InvalidDistribution(f"{info.filename} in {label} is larger than {max_size} bytes")
    try:
        with archive.open(info) as member:
            data = member.read(max_size + 1)
    except ZIP_ERRORS:
        raise InvalidDistribution(f"{label} is not a valid zip archive") from None
    if len(data) > max_size:
        raise InvalidDistribution(f"{info.filename} in {label} is larger than {max_size} bytes")
    return data
