"""Which blob store a C{--blob-store} URL names (C{file}, C{file:///DIR}, C{s3://BUCKET/PREFIX}), and opening it."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Optional
from urllib.parse import unquote, urlsplit

from devpi_twisted.store.blobs import FileBlobStore, IBlobStore
from devpi_twisted.store.s3 import S3BlobStore, S3Settings, make_client

#: The default: files in the server directory's C{+blobs}.
FILE = "file"
#: Where an object store's writes spool while they are hashed, inside the server directory.
SPOOL = "+spool"


class BadLocation(ValueError):
    """A C{--blob-store} URL that names no blob store; C{str()} says why."""


@dataclass(frozen=True)
class BlobLocation:
    """A parsed C{--blob-store}: a directory (None: the server directory's) or a bucket."""

    directory: Optional[str] = None
    s3: Optional[S3Settings] = None

    def open(self, serverdir: str, blobs_dir: str) -> IBlobStore:
        """The blob store, for the server directory C{serverdir} (whose C{+blobs} is C{blobs_dir})."""
        if self.s3 is None:
            return FileBlobStore(self.directory or blobs_dir)
        try:
            client = make_client(self.s3)
        except ImportError:
            raise BadLocation("an s3:// blob store needs boto3: pip install 'devpi-twisted[s3]'")
        return S3BlobStore(client, self.s3, os.path.join(serverdir, SPOOL))


def parse_location(url: str, s3: S3Settings) -> BlobLocation:
    """
    C{file}, C{file:///DIR} or C{s3://BUCKET/PREFIX} (the rest of the S3
    settings from C{s3}); raises L{BadLocation}.
    """
    if url == FILE:
        return BlobLocation()
    parts = urlsplit(url)
    if "@" in parts.netloc:  # not echoed: it may hold a secret
        raise BadLocation("--blob-store: no credentials in the URL (boto3 finds them the standard AWS way)")
    if parts.scheme == "file":
        path = unquote(parts.path)
        if parts.netloc not in ("", "localhost") or not os.path.isabs(path) or path == "/":
            raise BadLocation(f"--blob-store {url!r}: a directory is named as file:///DIR")
        return BlobLocation(directory=path)
    if parts.scheme == "s3":
        if not parts.netloc or parts.query or parts.fragment:
            raise BadLocation(f"--blob-store {url!r}: a bucket is named as s3://BUCKET/PREFIX")
        return BlobLocation(s3=replace(s3, bucket=parts.netloc, prefix=unquote(parts.path).strip("/")))
    raise BadLocation(f"--blob-store {url!r}: use file, file:///DIR or s3://BUCKET/PREFIX")
