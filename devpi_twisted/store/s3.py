"""Blobs in S3-compatible object storage: objects PREFIX/sha256/ab/cd/<sha256>, uploaded whole before any commit refers to them."""

from __future__ import annotations

import base64
import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, BinaryIO, Callable, Iterator, Optional, TypeVar

from twisted.logger import Logger
from zope.interface import implementer

from devpi_twisted.store.blobs import (
    CORRUPT,
    STORE_ID,
    BlobStoreTimeout,
    BlobStoreUnavailable,
    IBlobStore,
    IBlobWriter,
    _FileBlobWriter,
    aside_name,
    is_digest,
    new_store_id,
)

T = TypeVar("T")
_log = Logger()

#: The smallest part S3 takes (every part but the last must be this large).
S3_MIN_PART_SIZE = 5 * 1024 * 1024
#: How much of an object is read from the spool or the store per call.
CHUNK = 1024 * 1024
#: The folder of the blobs under the prefix: room beside it for other kinds of keys.
BLOBS = "sha256"


@dataclass(frozen=True)
class S3Settings:
    """How to reach a bucket: everything but the credentials (boto3 finds those the standard AWS way)."""

    bucket: str
    prefix: str = ""
    endpoint_url: Optional[str] = None
    region: Optional[str] = None
    #: C{auto}, C{virtual} (bucket.host) or C{path} (host/bucket, what most non-AWS servers want)
    addressing_style: str = "auto"
    part_size: int = 8 * 1024 * 1024
    #: seconds to connect, and to wait for each read
    timeout: float = 10.0
    #: attempts per call, retried with exponential backoff and jitter (all our calls are idempotent)
    max_attempts: int = 3
    max_connections: int = 10

    @property
    def location(self) -> str:
        """The bucket and prefix as an C{s3://} URL (and the endpoint, if not AWS)."""
        url = f"s3://{self.bucket}/{self.prefix}"
        return url if self.endpoint_url is None else f"{url} at {self.endpoint_url}"


def make_client(settings: S3Settings) -> Any:
    """A boto3 S3 client with bounded waits, retries with backoff and a bounded connection pool."""
    import boto3
    from botocore.config import Config

    config = Config(
        region_name=settings.region,
        signature_version="s3v4",
        s3={"addressing_style": settings.addressing_style},
        connect_timeout=settings.timeout,
        read_timeout=settings.timeout,
        retries={"mode": "standard", "max_attempts": settings.max_attempts},
        max_pool_connections=settings.max_connections,
        # CRC checksums only where S3 demands them: many S3-compatible servers
        # refuse them; integrity is checked with Content-MD5 and our own sha256
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    return boto3.session.Session().client("s3", endpoint_url=settings.endpoint_url, config=config)


def _code(error: Exception) -> str:
    response = getattr(error, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def _not_found(error: Exception) -> bool:
    return _code(error) in ("404", "NoSuchKey", "NotFound")


def _unavailable(error: Exception, what: str) -> BlobStoreUnavailable:
    """The exception a failed call becomes: a timeout, or the store unavailable."""
    from botocore.exceptions import ConnectTimeoutError, ReadTimeoutError

    if isinstance(error, (ConnectTimeoutError, ReadTimeoutError)):
        return BlobStoreTimeout(f"the object store did not answer in time ({what})")
    code = _code(error)
    reason = f"it answered {code}" if code else type(error).__name__
    return BlobStoreUnavailable(f"the object store is unavailable ({what}: {reason})")


class _Window:
    """C{length} bytes of a file from C{offset}, as a seekable body botocore streams (and rewinds to retry)."""

    def __init__(self, file: BinaryIO, offset: int, length: int) -> None:
        self._file = file
        self._offset = offset
        self._length = length
        self._position = 0

    def __len__(self) -> int:
        return self._length

    def read(self, size: int = -1) -> bytes:
        left = self._length - self._position
        wanted = left if size is None or size < 0 else min(size, left)
        self._file.seek(self._offset + self._position)
        data = self._file.read(wanted)
        self._position += len(data)
        return data

    def seek(self, position: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._position, os.SEEK_END: self._length}[whence]
        self._position = max(0, min(base + position, self._length))
        return self._position

    def tell(self) -> int:
        return self._position

    def md5(self) -> str:
        """The base64 MD5 of the window (Content-MD5: the store checks what arrived)."""
        digest = hashlib.md5(usedforsecurity=False)
        self.seek(0)
        while data := self.read(CHUNK):
            digest.update(data)
        self.seek(0)
        return base64.b64encode(digest.digest()).decode("ascii")


@implementer(IBlobStore)
class S3BlobStore:
    """
    Blobs as objects C{PREFIX/sha256/ab/cd/<sha256>} in one bucket. Writes
    spool to a local temp file while hashing (the key is the digest, known
    only at the end), then upload in one request or in parts. Removals run
    in the background so that commits never wait for them.
    """

    def __init__(self, client: Any, settings: S3Settings, spool_dir: str) -> None:
        self._client = client
        self._bucket = settings.bucket
        self._prefix = settings.prefix.strip("/") + "/" if settings.prefix.strip("/") else ""
        self.part_size = settings.part_size
        self.location = settings.location
        #: where writes spool (the writers share the file store's)
        self.temp_dir = spool_dir
        os.makedirs(spool_dir, exist_ok=True)
        self._removals = ThreadPoolExecutor(max_workers=2, thread_name_prefix="devpi-s3-remove")
        self._store_id: Optional[str] = None

    def key(self, sha256: str) -> str:
        """The object key of a blob; refuses anything but a sha256 hex digest."""
        if not is_digest(sha256):
            raise ValueError(f"not a sha256 hex digest: {sha256!r}")
        return f"{self._prefix}{BLOBS}/{sha256[:2]}/{sha256[2:4]}/{sha256}"

    def call(self, what: str, method: Callable[..., T], **kwargs: Any) -> T:
        """One client call (retried by botocore); failures other than not-found as L{BlobStoreUnavailable}."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return method(Bucket=self._bucket, **kwargs)
        except ClientError as error:
            if _not_found(error):
                raise FileNotFoundError(kwargs.get("Key", what)) from error
            raise _unavailable(error, what) from error
        except BotoCoreError as error:
            raise _unavailable(error, what) from error

    def store_id(self) -> str:
        if self._store_id is None:
            self._store_id = self._read_store_id()
        return self._store_id

    def _read_store_id(self) -> str:
        key = self._prefix + STORE_ID
        try:
            body = self.call("reading the store id", self._client.get_object, Key=key)["Body"]
            with body:
                return str(body.read().decode("ascii")).strip()
        except FileNotFoundError:
            pass
        # two nodes starting at once on a new bucket may both write: the last write names it
        self.call("writing the store id", self._client.put_object, Key=key, Body=new_store_id().encode())
        return self._read_store_id()

    def writer(self) -> _S3BlobWriter:
        return _S3BlobWriter(self)

    def _head(self, sha256: str) -> Optional[dict[str, Any]]:
        try:
            head: dict[str, Any] = self.call(f"looking up {sha256}", self._client.head_object, Key=self.key(sha256))
        except FileNotFoundError:
            return None
        return head

    def exists(self, sha256: str) -> bool:
        return self._head(sha256) is not None

    def size(self, sha256: str) -> Optional[int]:
        head = self._head(sha256)
        return None if head is None else int(head["ContentLength"])

    def open(self, sha256: str, first: int = 0, last: Optional[int] = None) -> BinaryIO:
        extra = {} if first == 0 and last is None else {"Range": f"bytes={first}-{'' if last is None else last}"}
        reply = self.call(f"reading {sha256}", self._client.get_object, Key=self.key(sha256), **extra)
        return _Body(reply["Body"], sha256)  # type: ignore[return-value]

    def local_path(self, sha256: str) -> Optional[str]:
        return None

    def presigned_url(self, sha256: str, content_type: str, expires: int) -> Optional[str]:
        params = {"Bucket": self._bucket, "Key": self.key(sha256), "ResponseContentType": content_type}
        url: str = self._client.generate_presigned_url("get_object", Params=params, ExpiresIn=expires)
        return url

    def remove(self, sha256: str) -> None:
        key = self.key(sha256)

        def remove() -> None:
            try:
                self.call(f"removing {sha256}", self._client.delete_object, Key=key)
            except BlobStoreUnavailable as error:
                _log.warn(
                    "blob {sha256} nothing refers to is left in the object store: {error}"
                    " (fsck reports it)",
                    sha256=sha256,
                    error=str(error),
                )

        self._removals.submit(remove)

    def _pages(self, method: Callable[..., Any], items: str, what: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            for page in self._client.get_paginator(method.__name__).paginate(Bucket=self._bucket, **kwargs):
                yield from page.get(items, [])
        except (BotoCoreError, ClientError) as error:
            raise _unavailable(error, what) from error

    def stored(self) -> Iterator[tuple[str, int]]:
        prefix = f"{self._prefix}{BLOBS}/"
        for item in self._pages(self._client.list_objects_v2, "Contents", "listing blobs", Prefix=prefix):
            name = item["Key"].rsplit("/", 1)[-1]
            if is_digest(name) and item["Key"] == self.key(name):
                yield name, int(item["Size"])

    def leftovers(self) -> list[str]:
        prefix = f"{self._prefix}{BLOBS}/"
        uploads = self._pages(
            self._client.list_multipart_uploads, "Uploads", "listing unfinished uploads", Prefix=prefix
        )
        found = [f"s3://{self._bucket}/{item['Key']} (upload {item['UploadId']})" for item in uploads]
        spooled = sorted(os.listdir(self.temp_dir))
        return found + [os.path.join(self.temp_dir, name) for name in spooled]

    def abort_upload(self, key: str, upload_id: str) -> None:
        """Throw away the parts of an unfinished multipart upload."""
        self.call(
            f"aborting the upload of {key}", self._client.abort_multipart_upload, Key=key, UploadId=upload_id
        )

    def keep_aside(self, sha256: str) -> Optional[str]:
        """Copy the object to C{PREFIX/corrupt/} and remove it (so that good bytes get uploaded)."""
        if not self.exists(sha256):
            return None
        kept = f"{self._prefix}{CORRUPT}/{aside_name(sha256)}"
        source = {"Bucket": self._bucket, "Key": self.key(sha256)}
        self.call(f"keeping {sha256} aside", self._client.copy_object, Key=kept, CopySource=source)
        self.call(f"removing {sha256}", self._client.delete_object, Key=self.key(sha256))
        return f"s3://{self._bucket}/{kept}"

    def close(self) -> None:
        self._removals.shutdown(wait=True)


class _Body:
    """An object's body: reads that fail mid-way raise L{BlobStoreUnavailable}."""

    def __init__(self, body: Any, sha256: str) -> None:
        self._body = body
        self._sha256 = sha256

    def read(self, size: int = -1) -> bytes:
        from botocore.exceptions import BotoCoreError

        try:
            data: bytes = self._body.read(None if size < 0 else size)
            return data
        except (BotoCoreError, OSError) as error:
            raise _unavailable(error, f"reading {self._sha256}") from error

    def close(self) -> None:
        self._body.close()

    def __enter__(self) -> "_Body":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


@implementer(IBlobWriter)
class _S3BlobWriter(_FileBlobWriter):
    """Spools to a temp file while hashing; C{finish} uploads to the blob's key (unless it is there)."""

    def __init__(self, store: S3BlobStore) -> None:
        super().__init__(store)  # type: ignore[arg-type]
        self._s3 = store
        self._upload: Optional[tuple[str, str]] = None

    def finish(self, expected_sha256: Optional[str] = None) -> str:
        digest = self.verified(expected_sha256)
        self._file.close()  # the spool is only read back from here on: no fsync, the bucket keeps it
        if self._s3.size(digest) != self.size:  # the same bytes are there already: nothing to send
            with open(self.temp_path, "rb") as spool:
                if self.size <= self._s3.part_size:
                    self._put(spool, digest)
                else:
                    self._put_in_parts(spool, digest)
        return digest

    def _put(self, spool: BinaryIO, digest: str) -> None:
        self._s3.call(
            f"uploading {digest}",
            self._s3._client.put_object,
            Key=self._s3.key(digest),
            Body=_Window(spool, 0, self.size),
            ContentLength=self.size,
            ContentMD5=base64.b64encode(bytes.fromhex(self._hashes["md5"].hexdigest())).decode(),
            Metadata={"sha256": digest},
        )

    def _put_in_parts(self, spool: BinaryIO, digest: str) -> None:
        store, key = self._s3, self._s3.key(digest)
        created = store.call(
            f"uploading {digest}", store._client.create_multipart_upload, Key=key, Metadata={"sha256": digest}
        )
        self._upload = (key, created["UploadId"])
        parts: list[dict[str, Any]] = []
        for offset in range(0, self.size, store.part_size):
            number = len(parts) + 1
            part = _Window(spool, offset, min(store.part_size, self.size - offset))
            reply = store.call(
                f"uploading part {number} of {digest}",
                store._client.upload_part,
                Key=key,
                UploadId=self._upload[1],
                PartNumber=number,
                Body=part,
                ContentLength=len(part),
                ContentMD5=part.md5(),
            )
            parts.append({"PartNumber": number, "ETag": reply["ETag"]})
        store.call(
            f"completing {digest}",
            store._client.complete_multipart_upload,
            Key=key,
            UploadId=self._upload[1],
            MultipartUpload={"Parts": parts},
        )
        self._upload = None
        if store.size(digest) != self.size:
            raise BlobStoreUnavailable(f"the object store holds {digest} with another size than was sent")

    def publish(self) -> None:
        """Nothing to do: the object is in place since L{finish} (unreferenced until the commit)."""

    def commit(self, expected_sha256: Optional[str] = None) -> str:
        return self.finish(expected_sha256)

    def abort(self) -> None:
        """Remove the spool and the parts of an unfinished upload (never a finished object)."""
        super().abort()
        if self._upload is not None:
            upload, self._upload = self._upload, None
            try:
                self._s3.abort_upload(*upload)
            except BlobStoreUnavailable as error:
                _log.warn(
                    "unfinished upload {key} is left in the object store: {error} (fsck reports it)",
                    key=upload[0],
                    error=str(error),
                )
