"""Content-addressed file storage: temp file, hash while writing, fsync, rename."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from typing import BinaryIO, Iterable, Optional, Protocol

from zope.interface import Attribute, Interface, implementer


_SHA256_HEX = re.compile("[0-9a-f]{64}")


def is_digest(text: str) -> bool:
    """Whether C{text} is a sha256 hex digest (the name of a blob)."""
    return _SHA256_HEX.fullmatch(text) is not None


class _Hasher(Protocol):
    def update(self, data: bytes, /) -> None: ...

    def hexdigest(self) -> str: ...


class HashMismatch(Exception):
    """The bytes written do not have the hash they were expected to have."""


class IBlobStore(Interface):
    """Files stored by the sha256 hex digest of their bytes. Every call blocks."""

    def writer() -> "IBlobWriter":
        """Start writing a new blob."""

    def exists(sha256: str) -> bool:
        """Whether the blob is stored."""

    def open(sha256: str) -> BinaryIO:
        """Open a stored blob for reading; raises C{FileNotFoundError}."""

    def remove(sha256: str) -> None:
        """Delete a blob if it is stored."""


class IBlobWriter(Interface):
    """A blob being written; nothing is visible until it is published."""

    size = Attribute("How many bytes were written.")
    temp_path = Attribute("Where the bytes are until published (to read them back).")

    def write(data: bytes) -> None:
        """Append C{data}."""

    def digests() -> dict[str, str]:
        """Hex digests of what was written: sha256, md5 and blake2_256."""

    def finish(expected_sha256: Optional[str] = None) -> str:
        """
        Make the bytes durable (fsync) and return their sha256; raise
        L{HashMismatch} (and abort) if they are not what was expected.
        """

    def publish() -> None:
        """Make a finished blob visible under its digest."""

    def commit(expected_sha256: Optional[str] = None) -> str:
        """L{finish} and L{publish} at once; return the sha256."""

    def abort() -> None:
        """Throw away what was written."""


@implementer(IBlobWriter)
class _FileBlobWriter:
    def __init__(self, store: FileBlobStore) -> None:
        self._store = store
        fd, self.temp_path = tempfile.mkstemp(dir=store.temp_dir, prefix="blob-")
        self._file = os.fdopen(fd, "wb")
        self._hashes: dict[str, _Hasher] = {
            "sha256": hashlib.sha256(),
            "md5": hashlib.md5(usedforsecurity=False),
            "blake2_256": hashlib.blake2b(digest_size=32),
        }
        self._sha256: Optional[str] = None
        self.size = 0

    def write(self, data: bytes) -> None:
        self._file.write(data)
        for hasher in self._hashes.values():
            hasher.update(data)
        self.size += len(data)

    def digests(self) -> dict[str, str]:
        return {name: hasher.hexdigest() for name, hasher in self._hashes.items()}

    def finish(self, expected_sha256: Optional[str] = None) -> str:
        digest = self._hashes["sha256"].hexdigest()
        if expected_sha256 is not None and expected_sha256.lower() != digest:
            self.abort()
            raise HashMismatch(f"sha256 is {digest}, expected {expected_sha256}")
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self._sha256 = digest
        return digest

    def publish(self) -> None:
        assert self._sha256 is not None, "publish() before finish()"
        target = self._store.path(self._sha256)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        os.replace(self.temp_path, target)
        fsync_dir(os.path.dirname(target))

    def commit(self, expected_sha256: Optional[str] = None) -> str:
        digest = self.finish(expected_sha256)
        self.publish()
        return digest

    def abort(self) -> None:
        self._file.close()
        try:
            os.remove(self.temp_path)
        except FileNotFoundError:
            pass


def finished_blob(
    blobs: IBlobStore, data: bytes, expected_sha256: Optional[str] = None
) -> IBlobWriter:
    """
    A new blob holding C{data}: durable, not yet published (publish or abort
    it). Raises L{HashMismatch} if C{data} does not have C{expected_sha256}.
    """
    writer = blobs.writer()
    try:
        writer.write(data)
        writer.finish(expected_sha256)
    except BaseException:
        writer.abort()
        raise
    return writer


def abort_all(writers: Iterable[IBlobWriter]) -> None:
    """Throw away every blob in C{writers} that was not published."""
    for writer in writers:
        writer.abort()


def fsync_dir(path: str) -> None:
    """Make the entries of directory C{path} (e.g. a rename into it) durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@implementer(IBlobStore)
class FileBlobStore:
    """Blobs as files C{root/ab/cd/<sha256>} on the local disk."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.temp_dir = os.path.join(root, "tmp")
        os.makedirs(self.temp_dir, exist_ok=True)

    def path(self, sha256: str) -> str:
        """Where the blob with this digest lives; refuses anything but a sha256 hex digest."""
        if not _SHA256_HEX.fullmatch(sha256):
            raise ValueError(f"not a sha256 hex digest: {sha256!r}")
        return os.path.join(self.root, sha256[:2], sha256[2:4], sha256)

    def writer(self) -> _FileBlobWriter:
        return _FileBlobWriter(self)

    def exists(self, sha256: str) -> bool:
        return os.path.exists(self.path(sha256))

    def open(self, sha256: str) -> BinaryIO:
        return open(self.path(sha256), "rb")

    def remove(self, sha256: str) -> None:
        try:
            os.remove(self.path(sha256))
        except FileNotFoundError:
            pass
