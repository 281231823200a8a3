#!/usr/bin/env python3
"""
Benchmark the blob stores: uploads and downloads of big files, files on disk vs in S3 (moto), in one run.

    python3 bench/blobs.py [options]

transfer: on each server (devpi-twisted with files on disk, with files in S3
          streamed through the node, with files in S3 and --blob-redirect;
          devpi-server 6.20.3 with files on disk for reference), a 1 MiB and a
          50 MiB wheel (random, incompressible bytes) uploaded --repeat times
          (distinct files: no dedup) and downloaded --downloads times over a new
          connection each; MiB/s of the median. A redirected download follows
          the 302 to the presigned URL (the bytes then come from moto, which is
          itself a Python server: the figure is moto's, not the node's).
          The same files put and got with boto3 straight to moto give the
          object store's own ceiling.
memory:   on a fresh server of each kind, --concurrency clients upload a
          distinct 50 MiB wheel each at the same time: the server's peak RSS
          (VmHWM, reset before) and its RSS before, and the wall time.

The object store is moto's standalone server (moto_server, next to the Python
running this, a separate process on a free 127.0.0.1 port). Only the standard
library besides; servers are subprocesses in temp dirs, ended at the end.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import os
import random
import statistics
import sys
import threading
import time
import zipfile
from pathlib import Path
from typing import Any, Optional
from urllib.parse import urljoin, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import (  # noqa: E402  (bench/ is not a package)
    DEVPI,
    HOST,
    PASSWORD,
    USER,
    BenchError,
    Procs,
    Server,
    basic_auth,
    create_index,
    create_user_and_login,
    fetch,
    free_port,
    log,
    metadata_text,
    multipart_upload,
    print_table,
    proc_status,
    reset_peak_rss,
    wait_ready,
)

MIB = 1024 * 1024
FILE_STORE = "twisted, files on disk"
S3_STREAMED = "twisted, S3 streamed"
S3_REDIRECTED = "twisted, S3 redirected"
MOTO = "moto direct (boto3, no node)"
#: moto takes any credentials; they reach the servers the standard AWS way
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


def big_wheel(directory: Path, name: str, version: str, size: int, rng: random.Random) -> Path:
    """A wheel holding C{size} random bytes stored uncompressed (plus METADATA, WHEEL)."""
    dist = name.replace("-", "_")
    info = f"{dist}-{version}.dist-info"
    path = directory / f"{dist}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr(f"{dist}/data.bin", rng.randbytes(size))
        zf.writestr(f"{info}/METADATA", metadata_text(name, version))
        zf.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
    return path


def start_moto(procs: Procs, moto: Path) -> int:
    port = free_port()
    logfile = procs.tmp / "moto.log"
    procs.spawn([str(moto), "-H", HOST, "-p", str(port)], logfile=logfile, env={**os.environ, **AWS_ENV})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            fetch(port, "GET", "/", timeout=2)
            return port
        except OSError:
            time.sleep(0.2)
    raise BenchError(f"moto_server did not start: {logfile.read_text()[-2000:]}")


def new_bucket(moto_port: int) -> str:
    name = f"bench-{random.getrandbits(40):010x}"
    reply = fetch(moto_port, "PUT", f"/{name}")
    if reply.status != 200:
        raise BenchError(f"creating bucket {name}: {reply.status} {reply.body[:200]!r}")
    return name


def start_server(procs: Procs, args: argparse.Namespace, kind: str, moto_port: int) -> Server:
    workdir = procs.mkdtemp(kind.replace(" ", "").replace(",", "-"))
    logfile = workdir / "server.log"
    port = free_port()
    if kind == DEVPI:
        bindir = args.devpi_venv / "bin"
        rc, out = procs.run([str(bindir / "devpi-init"), "--serverdir", str(workdir / "srv"),
                             "--no-root-pypi"], timeout=120)
        if rc != 0:
            raise BenchError(f"devpi-init failed: {out[-2000:]}")
        argv = [str(bindir / "devpi-server"), "--serverdir", str(workdir / "srv"), "--host", HOST,
                "--port", str(port), "--offline-mode"]
    else:
        argv = [str(args.twistd), "-n", "--pidfile=", "devpi", "--serverdir", str(workdir / "srv"),
                "--listen", f"tcp:{port}:interface={HOST}"]
        if kind != FILE_STORE:
            argv += ["--blob-store", f"s3://{new_bucket(moto_port)}/blobs",
                     "--s3-endpoint-url", f"http://{HOST}:{moto_port}", "--s3-addressing-style", "path"]
        if kind == S3_REDIRECTED:
            argv.append("--blob-redirect")
    proc = procs.spawn(argv, logfile=logfile, env={**os.environ, **AWS_ENV}, cwd=workdir)
    server = Server(kind, port, proc, logfile)
    wait_ready(server, 120)
    auth = create_user_and_login(server)
    create_index(server, auth, "dev", [])
    return server


def upload(server: Server, path: Path, name: str, version: str) -> float:
    """Upload as twine does (Basic auth); seconds until the reply."""
    body, content_type = multipart_upload(path, name, version)
    headers = {"Content-Type": content_type, "Authorization": basic_auth(USER, PASSWORD)}
    start = time.perf_counter()
    reply = fetch(server.port, "POST", f"/{USER}/dev/", body, headers, timeout=600)
    took = time.perf_counter() - start
    if reply.status != 200:
        raise BenchError(f"{server.name}: upload of {path.name}: {reply.snippet()}")
    return took


def file_url(server: Server, project: str) -> str:
    reply = fetch(server.port, "GET", f"/{USER}/dev/+simple/{project}/",
                  headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    base = f"http://{HOST}:{server.port}/{USER}/dev/+simple/{project}/"
    if reply.status == 200 and reply.json():
        return urljoin(base, reply.json()["files"][0]["url"].split("#")[0])
    # devpi-server 6 answers the HTML page
    href = reply.body.decode().split('href="', 1)[1].split('"', 1)[0]
    return urljoin(base, href.split("#")[0])


def download(url: str, expected: int) -> float:
    """GET C{url} on a new connection, following one redirect; seconds for the whole body."""
    start = time.perf_counter()
    for _ in range(2):
        parts = urlsplit(url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=600)
        try:
            conn.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""))
            response = conn.getresponse()
            if response.status == 302:
                url = response.getheader("location") or ""
                response.read()
                continue
            size = 0
            while chunk := response.read(MIB):
                size += len(chunk)
        finally:
            conn.close()
        if response.status != 200 or size != expected:
            raise BenchError(f"GET {url}: {response.status}, {size} of {expected} bytes")
        return time.perf_counter() - start
    raise BenchError(f"GET {url}: redirected twice")


def transfer(procs: Procs, args: argparse.Namespace, kind: str, moto_port: int,
             files: dict[int, list[tuple[Path, str, str]]]) -> dict[str, Any]:
    server = start_server(procs, args, kind, moto_port)
    result: dict[str, Any] = {}
    try:
        for size, wheels in files.items():
            uploads = [upload(server, path, name, version) for path, name, version in wheels]
            path, name, _ = wheels[0]
            url = file_url(server, name)
            length = path.stat().st_size
            downloads = [download(url, length) for _ in range(args.downloads if size < 10 * MIB else max(3, args.downloads // 4))]
            result[size] = {
                "upload": length / MIB / statistics.median(uploads),
                "download": length / MIB / statistics.median(downloads),
            }
            log(f"{kind}: {size // MIB} MiB up {result[size]['upload']:.1f} MiB/s, "
                f"down {result[size]['download']:.1f} MiB/s")
    finally:
        procs.stop(server.proc)
    return result


def moto_direct(args: argparse.Namespace, moto_port: int,
                files: dict[int, list[tuple[Path, str, str]]]) -> dict[str, Any]:
    """The same files put and got with boto3 straight to moto: the object store's own ceiling."""
    import boto3  # the project's test extras bring it
    from botocore.config import Config

    os.environ.update(AWS_ENV)
    client = boto3.client("s3", endpoint_url=f"http://{HOST}:{moto_port}",
                          config=Config(s3={"addressing_style": "path"}))
    bucket = new_bucket(moto_port)
    result: dict[str, Any] = {}
    for size, wheels in files.items():
        puts, gets = [], []
        for path, _, _ in wheels:
            data = path.read_bytes()
            start = time.perf_counter()
            client.put_object(Bucket=bucket, Key=path.name, Body=data)
            puts.append(time.perf_counter() - start)
        for _ in range(args.downloads if size < 10 * MIB else max(3, args.downloads // 4)):
            start = time.perf_counter()
            client.get_object(Bucket=bucket, Key=wheels[0][0].name)["Body"].read()
            gets.append(time.perf_counter() - start)
        length = wheels[0][0].stat().st_size
        result[size] = {"upload": length / MIB / statistics.median(puts),
                        "download": length / MIB / statistics.median(gets)}
        log(f"moto direct: {size // MIB} MiB put {result[size]['upload']:.1f} MiB/s, "
            f"get {result[size]['download']:.1f} MiB/s")
    return result


def concurrent_uploads(procs: Procs, args: argparse.Namespace, kind: str, moto_port: int,
                       wheels: list[tuple[Path, str, str]]) -> dict[str, Any]:
    server = start_server(procs, args, kind, moto_port)
    try:
        before = proc_status(server.pid).get("VmRSS", 0) / 1024
        reset_peak_rss(server.pid)
        peak = [0.0]
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.02):
                peak[0] = max(peak[0], proc_status(server.pid).get("VmRSS", 0) / 1024)

        errors: list[str] = []

        def one(path: Path, name: str, version: str) -> None:
            try:
                upload(server, path, name, version)
            except BenchError as error:
                errors.append(str(error))

        sampler = threading.Thread(target=sample)
        sampler.start()
        threads = [threading.Thread(target=one, args=wheel) for wheel in wheels]
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - start
        done.set()
        sampler.join()
        if errors:
            raise BenchError(f"{kind}: {len(errors)} uploads failed: {errors[0]}")
        hwm = proc_status(server.pid).get("VmHWM", 0) / 1024
        total = sum(path.stat().st_size for path, _, _ in wheels) / MIB
        log(f"{kind}: {len(wheels)} concurrent uploads, peak RSS {max(hwm, peak[0]):.0f} MiB")
        return {"before": before, "peak": max(hwm, peak[0]), "wall": wall, "rate": total / wall}
    finally:
        procs.stop(server.proc)


def main(argv: list[str]) -> int:
    here = Path(sys.executable).parent
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--twistd", type=Path, default=here / "twistd")
    p.add_argument("--moto-server", type=Path, default=here / "moto_server")
    p.add_argument("--devpi-venv", type=Path, default=Path(os.environ.get("BENCH_VENV", "/work/bench-venv")))
    p.add_argument("--repeat", type=int, default=3, help="uploads of each size")
    p.add_argument("--downloads", type=int, default=12, help="downloads of the 1 MiB file (a quarter for 50 MiB)")
    p.add_argument("--concurrency", type=int, default=20)
    p.add_argument("--big", type=int, default=50, help="MiB of the big file")
    args = p.parse_args(argv)
    kinds = [FILE_STORE, S3_STREAMED, S3_REDIRECTED]
    if (args.devpi_venv / "bin" / "devpi-server").exists():
        kinds.append(DEVPI)
    else:
        log(f"no devpi-server in {args.devpi_venv}: devpi-server left out")
    procs = Procs()
    rng = random.Random(13)
    try:
        moto_port = start_moto(procs, args.moto_server)
        dists = procs.mkdtemp("dists")
        sizes = [MIB, args.big * MIB]
        files = {
            size: [(big_wheel(dists, f"blob{size // MIB}", f"1.{n}", size, rng), f"blob{size // MIB}", f"1.{n}")
                   for n in range(args.repeat)]
            for size in sizes
        }
        results = {kind: transfer(procs, args, kind, moto_port, files) for kind in kinds}
        results[MOTO] = moto_direct(args, moto_port, files)
        crowd = [(big_wheel(dists, f"crowd{n}", "1.0", args.big * MIB, rng), f"crowd{n}", "1.0")
                 for n in range(args.concurrency)]
        memory = {kind: concurrent_uploads(procs, args, kind, moto_port, crowd)
                  for kind in kinds if kind != S3_REDIRECTED}
    finally:
        procs.close()
    base = results[FILE_STORE]
    rows = []
    for kind, result in results.items():
        for size in sizes:
            r = result[size]
            rows.append([kind, f"{size // MIB} MiB", f"{r['upload']:.1f}", f"{r['upload'] / base[size]['upload']:.2f}",
                         f"{r['download']:.1f}", f"{r['download'] / base[size]['download']:.2f}"])
    print_table(
        "Transfer (MiB/s of the median; ratio: against devpi-twisted with files on disk)",
        ["server", "file", "up MiB/s", "up ratio", "down MiB/s", "down ratio"], rows,
        ["S3 is moto's standalone server (Python) on loopback: it bounds the S3 rows (see moto direct)",
         "redirected downloads: the 302 from the node, then the bytes from moto"],
    )
    rows = [[kind, f"{args.concurrency} x {args.big} MiB", f"{m['before']:.0f}", f"{m['peak']:.0f}",
             f"{m['wall']:.1f}", f"{m['rate']:.1f}"] for kind, m in memory.items()]
    print_table(
        "Concurrent uploads: the server's RSS (MiB) before and at its peak",
        ["server", "uploads", "RSS before", "RSS peak", "wall s", "MiB/s"], rows,
        ["peak: VmHWM (reset before the burst) or the highest VmRSS sampled every 20 ms"],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
