"""Content-addressed blob storage (IBlobStore) and its files on disk: temp file, hash while writing, fsync, rename."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import time
import uuid
from contextlib import contextmanager
from typing import BinaryIO, Iterable, Iterator, Optional, Protocol

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


class BlobStoreUnavailable(Exception):
    """The blob store cannot be reached or refuses to work (a 503); C{str()} says why."""


class BlobStoreTimeout(BlobStoreUnavailable):
    """The blob store did not answer in time (a 504)."""


#: The name of the marker that identifies a blob store (see L{IBlobStore.store_id}).
STORE_ID = "store-id"


class IBlobStore(Interface):
    """
    Files stored by the sha256 hex digest of their bytes. Every call blocks
    (run it in a thread) and may raise L{BlobStoreUnavailable}. Reading a blob
    needs nothing but its digest, so every node with the same store reads
    what any of them wrote.
    """

    location = Attribute("Where the blobs are, to be shown (never with credentials).")

    def store_id() -> str:
        """
        The identity of the underlying store, the same for every node that
        uses it however they name it (created on first use, then remembered).
        """

    def writer() -> "IBlobWriter":
        """Start writing a new blob."""

    def exists(sha256: str) -> bool:
        """Whether the blob is stored."""

    def size(sha256: str) -> Optional[int]:
        """The size of a stored blob, or None when it is not stored."""

    def open(sha256: str, first: int = 0, last: Optional[int] = None) -> BinaryIO:
        """
        Open a stored blob for reading, from byte C{first} to byte C{last}
        (inclusive; None: to the end); raises C{FileNotFoundError}.
        """

    def local_path(sha256: str) -> Optional[str]:
        """Where the blob is a file on this node's disk (to be sent as one), or None."""

    def presigned_url(sha256: str, content_type: str, expires: int) -> Optional[str]:
        """A URL anyone may GET the blob from for C{expires} seconds, or None if the store has none."""

    def remove(sha256: str) -> None:
        """Delete a blob if it is stored (it may be gone only after this returns)."""

    def stored() -> Iterator[tuple[str, int]]:
        """The (sha256, size) of every stored blob."""

    def leftovers() -> list[str]:
        """Descriptions of writes that never finished (temp files, unfinished uploads)."""

    def keep_aside(sha256: str) -> Optional[str]:
        """
        Keep the stored bytes of a blob that is about to be replaced (found
        corrupt) where an operator finds them; where, or None if not stored.
        """

    def close() -> None:
        """Wait for work in the background (removals) and let go of connections."""


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

    def verified(self, expected_sha256: Optional[str]) -> str:
        """The sha256 of what was written; raise L{HashMismatch} (and abort) if not C{expected_sha256}."""
        digest = self._hashes["sha256"].hexdigest()
        if expected_sha256 is not None and expected_sha256.lower() != digest:
            self.abort()
            raise HashMismatch(f"sha256 is {digest}, expected {expected_sha256}")
        return digest

    def finish(self, expected_sha256: Optional[str] = None) -> str:
        digest = self.verified(expected_sha256)
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


@contextmanager
def local_copy(blobs: IBlobStore, sha256: str) -> Iterator[str]:
    """
    A path to the bytes of a blob, for reading them as a file (a zip): the
    blob's own file, or a temp copy of it while the context lasts.
    """
    path = blobs.local_path(sha256)
    if path is not None:
        yield path
        return
    with tempfile.NamedTemporaryFile(prefix="blob-") as copy:
        with blobs.open(sha256) as source:
            shutil.copyfileobj(source, copy, 1024 * 1024)
        copy.flush()
        yield copy.name


def fsync_dir(path: str) -> None:
    """Make the entries of directory C{path} (e.g. a rename into it) durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


#: Where C{keep_aside} puts the corrupt bytes of a blob, inside the store.
CORRUPT = "corrupt"


def aside_name(sha256: str) -> str:
    """The name a corrupt blob is kept aside under: digest, time and process."""
    return f"{sha256}.{time.strftime('%Y%m%dT%H%M%S')}.{os.getpid()}"


def new_store_id() -> str:
    """A fresh identity for a blob store."""
    return uuid.uuid4().hex


class _Range:
    """At most C{length} bytes of an open file, read from where it stands."""

    def __init__(self, file: BinaryIO, length: int) -> None:
        self._file = file
        self._left = length

    def read(self, size: int = -1) -> bytes:
        wanted = self._left if size < 0 else min(size, self._left)
        data = self._file.read(wanted)
        self._left -= len(data)
        return data

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> "_Range":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


@implementer(IBlobStore)
class FileBlobStore:
    """Blobs as files C{root/ab/cd/<sha256>} on the local disk."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.location = root
        self.temp_dir = os.path.join(root, "tmp")
        os.makedirs(self.temp_dir, exist_ok=True)
        self._store_id: Optional[str] = None

    def path(self, sha256: str) -> str:
        """Where the blob with this digest lives; refuses anything but a sha256 hex digest."""
        if not _SHA256_HEX.fullmatch(sha256):
            raise ValueError(f"not a sha256 hex digest: {sha256!r}")
        return os.path.join(self.root, sha256[:2], sha256[2:4], sha256)

    def writer(self) -> _FileBlobWriter:
        return _FileBlobWriter(self)

    def exists(self, sha256: str) -> bool:
        return os.path.exists(self.path(sha256))

    def size(self, sha256: str) -> Optional[int]:
        try:
            return os.stat(self.path(sha256)).st_size
        except FileNotFoundError:
            return None

    def open(self, sha256: str, first: int = 0, last: Optional[int] = None) -> BinaryIO:
        file = open(self.path(sha256), "rb")
        if first == 0 and last is None:
            return file
        file.seek(first)
        length = os.fstat(file.fileno()).st_size - first if last is None else last + 1 - first
        return _Range(file, length)  # type: ignore[return-value]

    def local_path(self, sha256: str) -> Optional[str]:
        return self.path(sha256)

    def presigned_url(self, sha256: str, content_type: str, expires: int) -> Optional[str]:
        return None

    def store_id(self) -> str:
        if self._store_id is None:
            self._store_id = self._read_store_id()
        return self._store_id

    def _read_store_id(self) -> str:
        path = os.path.join(self.root, STORE_ID)
        try:
            with open(path, encoding="ascii") as f:
                return f.read().strip()
        except FileNotFoundError:
            pass
        fd, temp = tempfile.mkstemp(dir=self.temp_dir, prefix="store-id-")
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(new_store_id() + "\n")
        try:
            os.link(temp, path)  # the first node to get here names the store
        except FileExistsError:
            pass
        finally:
            os.remove(temp)
        return self._read_store_id()

    def remove(self, sha256: str) -> None:
        try:
            os.remove(self.path(sha256))
        except FileNotFoundError:
            pass

    def stored(self) -> Iterator[tuple[str, int]]:
        for parent, _, names in os.walk(self.root):
            if os.path.relpath(parent, self.root).count(os.sep) != 1:
                continue  # blobs are two levels down: ab/cd/<sha256>
            for name in names:
                if is_digest(name):
                    yield name, os.stat(os.path.join(parent, name)).st_size

    def leftovers(self) -> list[str]:
        return [os.path.join(self.temp_dir, name) for name in sorted(os.listdir(self.temp_dir))]

    def keep_aside(self, sha256: str) -> Optional[str]:
        """Hard-link the blob into C{corrupt/}, so publishing good bytes over it loses nothing."""
        folder = os.path.join(self.root, CORRUPT)
        os.makedirs(folder, exist_ok=True)
        kept = os.path.join(folder, aside_name(sha256))
        try:
            os.link(self.path(sha256), kept)
        except FileNotFoundError:
            return None
        except OSError:
            os.replace(self.path(sha256), kept)
        return kept

    def close(self) -> None:
        pass
