"""Large uploads over a real socket: the body size limit (413), a 30 MB wheel kept on disk."""

from __future__ import annotations

import base64
import hashlib
import os
import resource
import tracemalloc
import uuid
import zipfile
from typing import Iterable, Iterator, Optional

import treq
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.trial.unittest import TestCase
from twisted.web.client import Agent, FileBodyProducer, HTTPConnectionPool, readBody
from twisted.web.http_headers import Headers
from twisted.web.iweb import UNKNOWN_LENGTH, IResponse

from devpi_twisted.serverdir import BLOBS
from tests.dists.archives import ZIP_DATE, core_metadata
from tests.support import RunningServer, devpi_auth, server_options
from tests.web.forms import twine_fields, write_form

CHUNK = 1024 * 1024
BIG = 30 * CHUNK
LIMIT = 1024 * 1024


def random_chunks(size: int) -> Iterator[bytes]:
    """C{size} random bytes, a chunk at a time."""
    while size > 0:
        chunk = os.urandom(min(CHUNK, size))
        size -= len(chunk)
        yield chunk


def write_wheel(dir: str, payload_size: int) -> str:
    """A hello-pkg 1.0 wheel carrying C{payload_size} random bytes, written chunk by chunk."""
    os.makedirs(dir, exist_ok=True)
    path = os.path.join(dir, "hello_pkg-1.0-py3-none-any.whl")
    rows: list[str] = []

    def add(archive: zipfile.ZipFile, name: str, chunks: Iterable[bytes]) -> None:
        hasher, size = hashlib.sha256(), 0
        info = zipfile.ZipInfo(name, ZIP_DATE)
        info.external_attr = 0o644 << 16
        with archive.open(info, "w") as member:
            for chunk in chunks:
                member.write(chunk)
                hasher.update(chunk)
                size += len(chunk)
        digest = base64.urlsafe_b64encode(hasher.digest()).rstrip(b"=").decode()
        rows.append(f"{name},sha256={digest},{size}")

    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        add(archive, "hello_pkg/__init__.py", [b""])
        add(archive, "hello_pkg/payload.bin", random_chunks(payload_size))
        metadata = core_metadata("hello-pkg", "1.0").encode()
        add(archive, "hello_pkg-1.0.dist-info/METADATA", [metadata])
        wheel = b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        add(archive, "hello_pkg-1.0.dist-info/WHEEL", [wheel])
        record = "hello_pkg-1.0.dist-info/RECORD"
        rows.append(f"{record},,")
        archive.writestr(zipfile.ZipInfo(record, ZIP_DATE), "\n".join(rows) + "\n")
    return path


def write_body(path: str, wheel: str) -> str:
    """Write the upload form for C{wheel}, as twine sends it, to C{path}; return its type."""
    boundary = uuid.uuid4().hex
    with open(path, "wb") as out:
        files = {"content": (os.path.basename(wheel), wheel)}
        write_form(out, twine_fields(wheel), files, boundary)
    return f"multipart/form-data; boundary={boundary}"


def sha256_of(path: str) -> str:
    hasher = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            hasher.update(chunk)
    return hasher.hexdigest()


class UploadLimitTestCase(TestCase):
    """A real server with alice/dev; subclasses choose --max-request-body-size."""

    max_body_size: Optional[int] = None

    async def asyncSetUp(self) -> None:
        self.serverdir = os.path.abspath(self.mktemp())
        args: list[str] = []
        if self.max_body_size is not None:
            args = ["--max-request-body-size", str(self.max_body_size)]
        self.server = await RunningServer(server_options(self.serverdir, *args)).start()
        self.addCleanup(self.server.stop)
        reply = await self.server.request("PUT", "/alice", {"password": "secret"})
        self.assertEqual(reply.code, 201, reply)
        credentials = {"user": "alice", "password": "secret"}
        login = await self.server.request("POST", "/+login", credentials)
        self.alice = devpi_auth("alice", login.json["result"]["password"])
        reply = await self.server.request("PUT", "/alice/dev", {}, headers=self.alice)
        self.assertEqual(reply.code, 200, reply)
        self.pool = HTTPConnectionPool(reactor, persistent=False)
        self.agent = Agent(reactor, pool=self.pool)

    def setUp(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self.asyncSetUp())

    async def post_file(
        self, body_path: str, content_type: str, chunked: bool = False
    ) -> tuple[IResponse, bytes]:
        """POST the body in C{body_path} to alice/dev, read from disk as it is sent."""
        with open(body_path, "rb") as body:
            producer = FileBodyProducer(body)
            if chunked:
                producer.length = UNKNOWN_LENGTH
            headers = Headers({"content-type": [content_type]})
            for name, value in self.alice.items():
                headers.addRawHeader(name, value)
            response = await self.agent.request(
                b"POST", f"{self.server.url}/alice/dev/".encode(), headers, producer
            )
            return response, await readBody(response)

    def blob_files(self) -> list[str]:
        root = os.path.join(self.serverdir, BLOBS)
        return [os.path.join(d, name) for d, _, names in os.walk(root) for name in names]


class BodySizeLimitTests(UploadLimitTestCase):
    """--max-request-body-size 1 MiB."""

    max_body_size = LIMIT

    async def refuse(self, chunked: bool) -> None:
        wheel = write_wheel(self.mktemp(), 2 * CHUNK)
        body = os.path.abspath(self.mktemp())
        content_type = write_body(body, wheel)
        before = await self.server.request("GET", "/+api")
        response, text = await self.post_file(body, content_type, chunked)
        self.assertEqual(response.code, 413, text)
        self.assertIn(f"request body larger than {LIMIT} bytes".encode(), text)
        after = await self.server.request("GET", "/+api")
        self.assertEqual(after.header("x-devpi-serial"), before.header("x-devpi-serial"))
        project = await self.server.request("GET", "/alice/dev/hello-pkg")
        self.assertEqual(project.code, 404, project)
        self.assertEqual(self.blob_files(), [])

    async def test_declared_length_over_the_limit_is_413(self) -> None:
        await self.refuse(chunked=False)

    async def test_chunked_body_over_the_limit_is_413(self) -> None:
        await self.refuse(chunked=True)

    async def test_body_under_the_limit_is_accepted(self) -> None:
        wheel = write_wheel(self.mktemp(), CHUNK // 2)
        body = os.path.abspath(self.mktemp())
        response, text = await self.post_file(body, write_body(body, wheel))
        self.assertEqual(response.code, 200, text)


class LargeUploadTests(UploadLimitTestCase):
    """The default limit (1 GiB) and a 30 MB wheel."""

    async def test_thirty_megabytes_are_streamed_stored_and_served_back(self) -> None:
        wheel = write_wheel(self.mktemp(), BIG)
        self.assertGreater(os.path.getsize(wheel), BIG)
        body = os.path.abspath(self.mktemp())
        content_type = write_body(body, wheel)
        already_tracing = tracemalloc.is_tracing()
        if not already_tracing:
            tracemalloc.start()
        tracemalloc.reset_peak()
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        try:
            response, text = await self.post_file(body, content_type)
            _, python_peak = tracemalloc.get_traced_memory()
        finally:
            if not already_tracing:
                tracemalloc.stop()
        rss_growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - rss_before
        self.assertEqual((response.code, response.phrase), (200, b"OK"), text)
        # client and server share this process: neither held the body in memory. The
        # traced peak is the precise measure; ru_maxrss is a process-wide high-water
        # mark, so it only catches growth beyond what earlier tests already reached.
        self.assertLess(python_peak, BIG // 4, f"peak of Python allocations {python_peak}")
        self.assertLess(rss_growth, BIG // 2, f"peak RSS grew by {rss_growth}")

        version = await self.server.request("GET", "/alice/dev/hello-pkg/1.0")
        [link] = version.json["result"]["+links"]
        self.assertEqual(link["hashes"]["sha256"], sha256_of(wheel))
        download = await treq.get(link["href"], persistent=False)
        self.assertEqual(download.code, 200)
        hasher, size = hashlib.sha256(), 0

        def collect(data: bytes) -> None:
            nonlocal size
            hasher.update(data)
            size += len(data)

        await treq.collect(download, collect)
        self.assertEqual((size, hasher.hexdigest()), (os.path.getsize(wheel), sha256_of(wheel)))
        # only the wheel and its METADATA are left in the blob store: no temp files
        self.assertEqual(len(self.blob_files()), 2)
