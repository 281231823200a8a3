"""Copying a dump's files into the blob store, checking the hashes the dump records."""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Callable, Optional

from devpi_twisted.dists.errors import DistError
from devpi_twisted.dists.filenames import is_wheel
from devpi_twisted.dists.metadata import read_core_metadata
from devpi_twisted.dump.dataindex import FileDesc
from devpi_twisted.dump.errors import DumpError
from devpi_twisted.dump.layout import local_path
from devpi_twisted.model.releases import RELEASEFILE, StoredBlob, iso_time
from devpi_twisted.store.blobs import IBlobStore, IBlobWriter, finished_blob

CHUNK_SIZE = 1024 * 1024


@dataclass(frozen=True)
class PendingBlob:
    """A file written and synced but not yet visible: publish it with the commit that refers to it."""

    blob: StoredBlob
    writers: list[IBlobWriter]

    def abort(self) -> None:
        """Throw away what was not published."""
        for writer in self.writers:
            writer.abort()


def upload_time(desc: FileDesc) -> Optional[str]:
    """The dumped PEP 700 upload time, else the one its C{last_modified} tells."""
    if desc.upload_time or not desc.last_modified:
        return desc.upload_time
    try:
        return iso_time(parsedate_to_datetime(desc.last_modified).timestamp())
    except (TypeError, ValueError):
        return None


def write_blob(
    blobs: IBlobStore, directory: str, desc: FileDesc, warn: Callable[[str], None]
) -> PendingBlob:
    """
    Copy the file C{desc} describes into a blob, refusing it if a hash the
    dump records does not match; a wheel's METADATA becomes a blob too.
    """
    path = local_path(directory, desc.relpath)
    writer = blobs.writer()
    try:
        with open(path, "rb") as f:
            while chunk := f.read(CHUNK_SIZE):
                writer.write(chunk)
    except OSError as error:
        writer.abort()
        raise DumpError(f"cannot read {path} ({desc.where}): {error.strerror}")
    digests = writer.digests()
    for algorithm, expected in sorted(desc.hashes.items()):
        if algorithm in digests and digests[algorithm] != expected:
            writer.abort()
            raise DumpError(
                f"{path}: its {algorithm} is {digests[algorithm]}, but {desc.where} records {expected}"
            )
    sha256 = writer.finish()
    writers = [writer]
    core_metadata = None
    if desc.type == RELEASEFILE and is_wheel(desc.basename):
        try:
            raw = read_core_metadata(writer.temp_path, desc.basename)
        except DistError as error:
            warn(f"{path}: its core metadata will not be served: {error.message}")
        else:
            meta_writer = finished_blob(blobs, raw)
            core_metadata = meta_writer.digests()["sha256"]
            writers.append(meta_writer)
    blob = StoredBlob(
        desc.basename, sha256, writer.size, core_metadata, desc.last_modified, upload_time(desc)
    )
    return PendingBlob(blob, writers)
