"""moto's standalone S3 server on a free loopback port, started by the tests themselves."""

from __future__ import annotations

import logging
import os
import uuid
from typing import Any

from devpi_twisted.store.s3 import S3Settings, make_client
from tests.integration.test_twistd import free_port

#: The part size the tests upload in (moto is told to take parts this small).
PART_SIZE = 64 * 1024
os.environ.setdefault("S3_UPLOAD_PART_MIN_SIZE", str(PART_SIZE))

#: Credentials the standard AWS way: environment variables (moto takes any).
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}
os.environ.update(CREDENTIALS)
# werkzeug would log every request moto serves
logging.getLogger("werkzeug").setLevel(logging.ERROR)


class MotoServer:
    """One moto server (in this process, in a thread); each test makes its own bucket."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        self.port = free_port()
        self._server = ThreadedMotoServer("127.0.0.1", self.port, verbose=False)
        self._server.start()
        self.endpoint_url = f"http://127.0.0.1:{self.port}"

    def settings(self, bucket: str, prefix: str = "blobs", **overrides: Any) -> S3Settings:
        """Settings reaching C{bucket} here, in small parts, quick to give up."""
        values = dict(
            endpoint_url=self.endpoint_url,
            region="us-east-1",
            addressing_style="path",
            part_size=PART_SIZE,
            timeout=5.0,
            max_attempts=2,
        )
        values.update(overrides)
        return S3Settings(bucket, prefix, **values)  # type: ignore[arg-type]

    def new_bucket(self) -> str:
        """A new, empty bucket."""
        name = f"test-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def client(self) -> Any:
        """A boto3 client of this server (for a test to look behind the node's back)."""
        return make_client(self.settings("unused"))

    def stop(self) -> None:
        self._server.stop()


def blob_store_args(moto: MotoServer, bucket: str, *extra: str) -> list[str]:
    """The command line options that put a server's blobs into C{bucket} of C{moto}."""
    return [
        "--blob-store", f"s3://{bucket}/blobs",
        "--s3-endpoint-url", moto.endpoint_url,
        "--s3-addressing-style", "path",
        "--s3-part-size", str(PART_SIZE),
        *extra,
    ]


_shared: list[MotoServer] = []


def shared_moto() -> MotoServer:
    """The moto server of this test process (started on first use; buckets keep tests apart)."""
    if not _shared:
        _shared.append(MotoServer())
    return _shared[0]
