#!/usr/bin/env python3
"""
A fake upstream PyPI for `bench/run.py mirror`: the simple API (PEP 503 HTML
and PEP 691 JSON by Accept, with X-PyPI-Last-Serial and ETags) and the files,
generated at start and served from memory on 127.0.0.1 by the standard
library's ThreadingHTTPServer (HTTP/1.1, keep-alive). Only the mirrors talk to
it, and only when they fetch something, so its speed is no part of the
figures except the cold steps (the same for every server).

    python3 bench/fake_pypi.py --port PORT [--list-size 600000] [--projects 50]

Projects (all names normalized):

bench-many      35 versions x (wheel + sdist) = 70 files (``--many-files``)
bench-huge      500 versions x (wheel + sdist) = 1000 files (``--huge-files``)
bench-big       one wheel of about 1 MiB (``--big-size``), stored uncompressed
bench-chain-00 .. bench-chain-19
                versions 1.0, 1.1, 1.2, real wheels (METADATA with
                Requires-Dist, WHEEL, RECORD); bench-chain-NN requires
                bench-chain-(NN+1)>=1.0, so installing bench-chain-00 pulls in
                the whole chain of 20 (``--chain``)
bench-proj-000 ..
                ``--projects`` more projects with 3 versions x 2 files each
bench-app       needs bench-large-00 .. bench-large-NN (``--large``, wheels of
                ``--large-size`` bytes in versions 1.0, 2.0, 3.0) and
                bench-shared<2; the 2.0 and 3.0 wheels need bench-shared>=2, so
                an install must reject them after reading their metadata

Every file is a real wheel (zip) or sdist (tar.gz); wheels advertise their
METADATA as PEP 658/714 core metadata (served at the file URL + ``.metadata``)
unless ``--no-core-metadata`` (``--hide-core-metadata``: served, not advertised). A single ``Range`` on a file gets a 206 unless
``--no-range``. The project list (``/simple/``) has the projects
above plus generated names up to ``--list-size`` in all (PyPI has about
600,000), each with a ``_last-serial``; those extra names have no pages (404).

Files are at ``/packages/HH/HH/HASH/FILENAME``, linked by absolute URL as on
PyPI. ``/_info`` tells run.py the names, versions, sizes and digests;
``/_stats`` counts requests by kind (to see which steps reached upstream);
neither of these two is counted.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import html
import io
import json
import random
import re
import socket
import sys
import tarfile
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional
from urllib.parse import unquote, urlsplit

HOST = "127.0.0.1"
JSON_V1 = "application/vnd.pypi.simple.v1+json"
HTML_V1 = "application/vnd.pypi.simple.v1+html"
TEXT_HTML = "text/html"
CONTENT_TYPES = {JSON_V1: JSON_V1, HTML_V1: HTML_V1, TEXT_HTML: "text/html; charset=utf-8"}
ACCEPTED = {
    JSON_V1: JSON_V1,
    "application/vnd.pypi.simple.latest+json": JSON_V1,
    HTML_V1: HTML_V1,
    "application/vnd.pypi.simple.latest+html": HTML_V1,
    TEXT_HTML: TEXT_HTML,
}
PREFERENCE = (JSON_V1, HTML_V1, TEXT_HTML)
WILDCARD_PREFERENCE = (TEXT_HTML, HTML_V1, JSON_V1)
LAST_MODIFIED = "Mon, 01 Jan 2024 00:00:00 GMT"
EPOCH = 1704067200  # 2024-01-01T00:00:00Z
#: bytes written per step when bodies are paced (--bandwidth)
PACE_CHUNK = 64 * 1024
ZIP_DATE = (2024, 1, 1, 0, 0, 0)


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def negotiate(accept: Optional[str]) -> str:
    """The simple API type for an Accept header: highest q, then the most
    specific range, then JSON; a bare */* (or no header) gets text/html."""
    if not accept or not accept.strip():
        return TEXT_HTML
    ranges: list[tuple[str, float]] = []
    for item in accept.split(","):
        media, *params = [part.strip() for part in item.split(";")]
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if media:
            ranges.append((media.lower(), q))
    best: Optional[tuple[float, int, int]] = None
    choice = TEXT_HTML
    for offer in PREFERENCE:
        found: Optional[tuple[int, float]] = None
        for asked, q in ranges:
            if ACCEPTED.get(asked) == offer:
                spec = 2
            elif asked == "*/*":
                spec = 0
            elif asked.endswith("/*") and offer.startswith(asked[:-1]):
                spec = 1
            else:
                continue
            if found is None or (spec, q) > found:
                found = (spec, q)
        if found is None or found[1] <= 0:
            continue
        spec, q = found
        order = WILDCARD_PREFERENCE if spec == 0 else PREFERENCE
        score = (q, spec, -order.index(offer))
        if best is None or score > best:
            best, choice = score, offer
    return choice


# --------------------------------------------------------------------------
# distributions


def _b64hash(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def metadata(name: str, version: str, requires: list[str]) -> bytes:
    lines = [
        "Metadata-Version: 2.1",
        f"Name: {name}",
        f"Version: {version}",
        f"Summary: generated upstream package {name} {version}",
        "Author: bench",
        "License: MIT",
        "Requires-Python: >=3.8",
    ]
    lines += [f"Requires-Dist: {r}" for r in requires]
    lines += ["Description-Content-Type: text/plain", "",
              f"{name} {version}: a generated package of the fake upstream."]
    return ("\n".join(lines) + "\n").encode()


def make_wheel(name: str, version: str, requires: list[str], payload: bytes = b""
               ) -> tuple[str, bytes, bytes]:
    """(filename, wheel bytes, METADATA bytes) of a pure-Python wheel."""
    dist = re.sub(r"[-_.]+", "_", name).lower()
    info = f"{dist}-{version}.dist-info"
    meta = metadata(name, version, requires)
    files = {
        f"{dist}/__init__.py": f'"""{name} {version}."""\n__version__ = "{version}"\n'.encode(),
        f"{info}/METADATA": meta,
        f"{info}/WHEEL": (b"Wheel-Version: 1.0\nGenerator: devpi-bench-fake-pypi\n"
                          b"Root-Is-Purelib: true\nTag: py3-none-any\n"),
    }
    if payload:
        files[f"{dist}/payload.bin"] = payload
    record = "".join(f"{p},sha256={_b64hash(d)},{len(d)}\n" for p, d in files.items())
    record += f"{info}/RECORD,,\n"
    files[f"{info}/RECORD"] = record.encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for p, d in files.items():
            zi = zipfile.ZipInfo(p, date_time=ZIP_DATE)
            # the payload is random: storing it keeps the wheel at its size
            zi.compress_type = zipfile.ZIP_STORED if p.endswith(".bin") else zipfile.ZIP_DEFLATED
            zi.external_attr = 0o644 << 16
            zf.writestr(zi, d)
    return f"{dist}-{version}-py3-none-any.whl", out.getvalue(), meta


def make_sdist(name: str, version: str) -> tuple[str, bytes]:
    dist = re.sub(r"[-_.]+", "_", name).lower()
    root = f"{dist}-{version}"
    pyproject = (f'[build-system]\nrequires = ["setuptools>=61"]\n'
                 f'build-backend = "setuptools.build_meta"\n\n'
                 f'[project]\nname = "{name}"\nversion = "{version}"\n').encode()
    files = {
        f"{root}/PKG-INFO": metadata(name, version, []),
        f"{root}/pyproject.toml": pyproject,
        f"{root}/{dist}/__init__.py": f'__version__ = "{version}"\n'.encode(),
    }
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tf:
        for p, d in files.items():
            ti = tarfile.TarInfo(p)
            ti.size, ti.mtime, ti.mode = len(d), EPOCH, 0o644
            tf.addfile(ti, io.BytesIO(d))
    return f"{root}.tar.gz", gzip.compress(raw.getvalue(), mtime=0)


class File:
    __slots__ = ("filename", "data", "sha256", "path", "core_metadata", "metadata_sha256",
                 "upload_time", "version")

    def __init__(self, filename: str, data: bytes, version: str, serial: int,
                 core_metadata: Optional[bytes]) -> None:
        self.filename = filename
        self.data = data
        self.version = version
        self.sha256 = hashlib.sha256(data).hexdigest()
        h = self.sha256
        self.path = f"/packages/{h[:2]}/{h[2:4]}/{h[4:]}/{filename}"
        self.core_metadata = core_metadata
        self.metadata_sha256 = (hashlib.sha256(core_metadata).hexdigest()
                                if core_metadata is not None else None)
        t = time.gmtime(EPOCH + serial * 60)
        self.upload_time = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", t)


class Page:
    """A rendered response: body, content type, ETag."""

    __slots__ = ("body", "content_type", "etag", "serial")

    def __init__(self, body: bytes, content_type: str, serial: int) -> None:
        self.body = body
        self.content_type = content_type
        self.serial = serial
        self.etag = '"' + hashlib.sha256(body).hexdigest()[:24] + '"'


class Data:
    """Everything the fake upstream serves, rendered once."""

    def __init__(self, args: argparse.Namespace, base_url: str) -> None:
        self.base_url = base_url
        self.core_metadata = not args.no_core_metadata
        self.advertise_metadata = not args.hide_core_metadata
        self.no_range = args.no_range
        self.latency = args.latency_ms / 1000.0
        self.bandwidth = args.bandwidth * 2**20
        self.serial = 1000
        self.projects: dict[str, tuple[str, list[File], int]] = {}  # normalized -> ...
        self.files: dict[str, File] = {}
        self.info: dict[str, Any] = {"projects": {}}
        rng = random.Random("devpi-bench-fake-pypi")

        def add(name: str, files: list[File]) -> None:
            self.serial += 1
            self.projects[normalize(name)] = (name, files, self.serial)
            for f in files:
                self.files[f.path] = f
            self.info["projects"][normalize(name)] = {
                "files": len(files), "versions": sorted({f.version for f in files},
                                                        key=_version_key),
                "serial": self.serial,
            }

        def wheel_file(name: str, version: str, requires: list[str] = [],
                       payload: bytes = b"") -> File:
            self.serial += 1
            fn, data, meta = make_wheel(name, version, requires, payload)
            return File(fn, data, version, self.serial, meta if self.core_metadata else None)

        def sdist_file(name: str, version: str) -> File:
            self.serial += 1
            fn, data = make_sdist(name, version)
            return File(fn, data, version, self.serial, None)

        def pairs(name: str, nfiles: int) -> list[File]:
            out: list[File] = []
            for i in range((nfiles + 1) // 2):
                version = f"{i // 10}.{i % 10}.0"
                out.append(sdist_file(name, version))
                if len(out) < nfiles:
                    out.append(wheel_file(name, version))
            return out

        add("bench-many", pairs("bench-many", args.many_files))
        add("bench-huge", pairs("bench-huge", args.huge_files))
        big = wheel_file("bench-big", "1.0", payload=rng.randbytes(max(0, args.big_size)))
        add("bench-big", [big])
        self.info["big"] = {"project": "bench-big", "filename": big.filename,
                            "size": len(big.data), "sha256": big.sha256}
        chain = [f"bench-chain-{i:02d}" for i in range(args.chain)]
        for i, name in enumerate(chain):
            requires = [f"{chain[i + 1]}>=1.0"] if i + 1 < len(chain) else []
            add(name, [wheel_file(name, v, requires) for v in ("1.0", "1.1", "1.2")])
        self.info["chain"] = {"root": chain[0] if chain else None, "names": chain,
                              "version": "1.2"}
        for i in range(args.projects):
            add(f"bench-proj-{i:03d}", pairs(f"bench-proj-{i:03d}", 6))
        # the cold-install set: an app needing --large projects of large wheels whose
        # two newest versions need bench-shared>=2 while the app needs bench-shared<2,
        # so a resolver must read (and reject) the metadata of two versions of each
        large = [f"bench-large-{i:02d}" for i in range(args.large)]
        add("bench-shared", [wheel_file("bench-shared", v) for v in ("1.0", "2.0")])
        for name in large:
            add(name, [wheel_file(name, v, [] if v == "1.0" else ["bench-shared>=2"],
                                  payload=rng.randbytes(args.large_size))
                       for v in ("1.0", "2.0", "3.0")])
        add("bench-app", [wheel_file("bench-app", "1.0", [*large, "bench-shared<2"])])
        self.info["large"] = {"root": "bench-app", "names": ["bench-app", "bench-shared", *large],
                              "size": args.large_size}
        self.info["named_projects"] = len(self.projects)

        # the full project list: the projects above, then generated names
        names: list[tuple[str, int]] = [(name, serial) for name, _, serial
                                        in self.projects.values()]
        letters = "abcdefghijklmnopqrstuvwxyz"
        for i in range(max(0, args.list_size - len(names))):
            word = "".join(rng.choices(letters, k=rng.randint(3, 14)))
            sep = rng.choice(("", "-", "_", "."))
            names.append((f"{word}{sep}{i}", rng.randint(1, self.serial)))
        self.info["list_size"] = len(names)
        self.info["last_serial"] = self.serial
        self.list_pages = self._render_list(names)
        del names
        self.project_pages = {norm: self._render_project(name, files, serial)
                              for norm, (name, files, serial) in self.projects.items()}
        self.info["list_bytes"] = {k: len(v.body) for k, v in self.list_pages.items()}

    def _render_list(self, names: list[tuple[str, int]]) -> dict[str, Page]:
        serial = self.serial
        payload = {"meta": {"api-version": "1.1", "_last-serial": serial},
                   "projects": [{"name": n, "_last-serial": s} for n, s in names]}
        out = {JSON_V1: Page(json.dumps(payload, separators=(",", ":")).encode(), JSON_V1,
                             serial)}
        del payload
        parts = ['<!DOCTYPE html>\n<html>\n  <head>\n'
                 '    <meta name="pypi:repository-version" content="1.1">\n'
                 '    <title>Simple index</title>\n  </head>\n  <body>\n']
        for n, _ in names:
            parts.append(f'    <a href="/simple/{normalize(n)}/">{html.escape(n)}</a>\n')
        parts.append(f"  </body>\n</html>\n<!--SERIAL {serial}-->\n")
        body = "".join(parts).encode()
        out[HTML_V1] = Page(body, HTML_V1, serial)
        out[TEXT_HTML] = Page(body, CONTENT_TYPES[TEXT_HTML], serial)
        return out

    def _render_project(self, name: str, files: list[File], serial: int) -> dict[str, Page]:
        jfiles = []
        links = []
        for f in files:
            url = self.base_url + f.path
            entry: dict[str, Any] = {
                "filename": f.filename, "url": url, "hashes": {"sha256": f.sha256},
                "requires-python": ">=3.8", "yanked": False, "size": len(f.data),
                "upload-time": f.upload_time,
            }
            attrs = ' data-requires-python="&gt;=3.8"'
            if f.metadata_sha256 and self.advertise_metadata:
                entry["core-metadata"] = {"sha256": f.metadata_sha256}
                entry["data-dist-info-metadata"] = {"sha256": f.metadata_sha256}
                attrs += (f' data-dist-info-metadata="sha256={f.metadata_sha256}"'
                          f' data-core-metadata="sha256={f.metadata_sha256}"')
            jfiles.append(entry)
            links.append(f'    <a href="{html.escape(url)}#sha256={f.sha256}"{attrs}>'
                         f'{html.escape(f.filename)}</a><br />\n')
        versions = sorted({f.version for f in files}, key=_version_key)
        norm = normalize(name)
        payload = {"meta": {"api-version": "1.1", "_last-serial": serial}, "name": norm,
                   "versions": versions, "files": jfiles}
        body = (f'<!DOCTYPE html>\n<html>\n  <head>\n'
                f'    <meta name="pypi:repository-version" content="1.1">\n'
                f'    <title>Links for {html.escape(norm)}</title>\n  </head>\n  <body>\n'
                f'    <h1>Links for {html.escape(norm)}</h1>\n{"".join(links)}'
                f'  </body>\n</html>\n<!--SERIAL {serial}-->\n').encode()
        return {
            JSON_V1: Page(json.dumps(payload, separators=(",", ":")).encode(), JSON_V1, serial),
            HTML_V1: Page(body, HTML_V1, serial),
            TEXT_HTML: Page(body, CONTENT_TYPES[TEXT_HTML], serial),
        }


def _version_key(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in v.split("."))


# --------------------------------------------------------------------------
# server


class Stats:
    KINDS = ("list", "page", "file", "range", "metadata", "not_modified", "not_found", "other")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts = dict.fromkeys(self.KINDS, 0)
        self.counts["bytes"] = 0

    def add(self, kind: str, nbytes: int) -> None:
        with self.lock:
            self.counts[kind] += 1
            self.counts["bytes"] += nbytes

    def snapshot(self) -> dict[str, int]:
        with self.lock:
            out = dict(self.counts)
        out["requests"] = sum(out[k] for k in self.KINDS)
        return out


def make_handler(data: Data, stats: Stats) -> type[BaseHTTPRequestHandler]:
    info_body = json.dumps(data.info, indent=1).encode()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "fake-pypi/1"
        sys_version = ""

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def setup(self) -> None:
            super().setup()
            # no Nagle: with headers and body in one write (send) a reply goes
            # out at once; without it, a second small write would wait for the
            # client's delayed ACK (40 ms on Linux) and every cold fetch with it
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def do_HEAD(self) -> None:
            self.handle_get(head=True)

        def do_GET(self) -> None:
            self.handle_get(head=False)

        def send(self, status: int, body: bytes, content_type: str, kind: str,
                 head: bool, headers: Optional[dict[str, str]] = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            if kind != "control" and data.latency:
                time.sleep(data.latency)
            # end_headers() without its flush: status line, headers and body
            # leave in one write (at --bandwidth, the body in timed pieces)
            self._headers_buffer.append(b"\r\n")
            sending = not head and status != 304
            paced = sending and data.bandwidth and kind != "control" and len(body) > PACE_CHUNK
            if sending and not paced:
                self._headers_buffer.append(body)
            sent = 0
            try:
                self.flush_headers()
                sent = len(body) if sending and not paced else 0
                if paced:
                    for at in range(0, len(body), PACE_CHUNK):
                        piece = body[at:at + PACE_CHUNK]
                        self.wfile.write(piece)
                        sent += len(piece)
                        time.sleep(len(piece) / data.bandwidth)
            finally:
                if kind != "control":  # run.py's own /_info and /_stats are not counted
                    stats.add(kind, sent)  # what left, also when the client went away

        def redirect(self, location: str, head: bool) -> None:
            self.send(301, b"", "text/plain", "other", head, {"Location": location})

        def simple(self, pages: dict[str, Page], kind: str, head: bool) -> None:
            ctype = negotiate(self.headers.get("Accept"))
            page = pages[ctype]
            headers = {"X-PyPI-Last-Serial": str(page.serial), "ETag": page.etag,
                       "Vary": "Accept, Accept-Encoding", "Cache-Control": "max-age=600"}
            inm = self.headers.get("If-None-Match")
            if inm and page.etag in [t.strip() for t in inm.split(",")]:
                self.send(304, b"", page.content_type, "not_modified", head, headers)
                return
            self.send(200, page.body, page.content_type, kind, head, headers)

        def handle_get(self, head: bool) -> None:
            path = unquote(urlsplit(self.path).path)
            if path == "/simple":
                return self.redirect("/simple/", head)
            if path == "/simple/":
                return self.simple(data.list_pages, "list", head)
            if path.startswith("/simple/"):
                rest = path[len("/simple/"):]
                name = rest.rstrip("/")
                if "/" in name or not name:
                    return self.send(404, b"Not Found", "text/plain", "not_found", head)
                norm = normalize(name)
                if norm != name or not rest.endswith("/"):
                    if norm in data.project_pages:
                        return self.redirect(f"/simple/{norm}/", head)
                pages = data.project_pages.get(norm)
                if pages is None:
                    return self.send(404, b"Not Found", "text/plain", "not_found", head)
                return self.simple(pages, "page", head)
            if path.startswith("/packages/"):
                if path.endswith(".metadata"):
                    f = data.files.get(path[: -len(".metadata")])
                    if f is not None and f.core_metadata is not None:
                        return self.send(200, f.core_metadata, "application/octet-stream",
                                         "metadata", head, {"Last-Modified": LAST_MODIFIED})
                f = data.files.get(path)
                if f is not None:
                    ctype = ("application/zip" if f.filename.endswith(".whl")
                             else "application/x-tar")
                    headers = {"Last-Modified": LAST_MODIFIED, "ETag": f'"{f.sha256[:24]}"'}
                    span = None if data.no_range else byte_range(self.headers.get("Range"),
                                                                 len(f.data))
                    if span is not None:
                        first, last = span
                        headers["Content-Range"] = f"bytes {first}-{last}/{len(f.data)}"
                        return self.send(206, f.data[first:last + 1], ctype, "range", head,
                                         headers)
                    return self.send(200, f.data, ctype, "file", head, headers)
                return self.send(404, b"Not Found", "text/plain", "not_found", head)
            if path == "/_info":
                return self.send(200, info_body, "application/json", "control", head)
            if path == "/_stats":
                body = json.dumps(stats.snapshot()).encode()
                return self.send(200, body, "application/json", "control", head)
            self.send(404, b"Not Found", "text/plain", "not_found", head)

    return Handler


def byte_range(header: Optional[str], length: int) -> Optional[tuple[int, int]]:
    """First and last byte of a single "bytes=" range within length, else None."""
    if not header or not header.startswith("bytes=") or "," in header or length == 0:
        return None
    first, _, last = header[len("bytes="):].strip().partition("-")
    try:
        if not first:
            return max(0, length - int(last)), length - 1
        return int(first), min(length - 1, int(last)) if last else length - 1
    except ValueError:
        return None


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--list-size", type=int, default=600_000,
                   help="names in the project list [600000]")
    p.add_argument("--projects", type=int, default=50,
                   help="extra small projects with pages [50]")
    p.add_argument("--many-files", type=int, default=70, help="files of bench-many [70]")
    p.add_argument("--huge-files", type=int, default=1000, help="files of bench-huge [1000]")
    p.add_argument("--big-size", type=int, default=1024 * 1024,
                   help="payload bytes of the bench-big wheel [1048576]")
    p.add_argument("--chain", type=int, default=20, help="length of the dependency chain [20]")
    p.add_argument("--no-core-metadata", action="store_true",
                   help="do not offer PEP 658 metadata for wheels")
    p.add_argument("--hide-core-metadata", action="store_true",
                   help="serve wheels' .metadata files but do not advertise them (as the"
                        " PyPI reachable from some networks does)")
    p.add_argument("--no-range", action="store_true",
                   help="answer Range requests with the whole file")
    p.add_argument("--latency-ms", type=float, default=0.0,
                   help="wait this long before each reply, as a distant upstream [0]")
    p.add_argument("--bandwidth", type=float, default=0.0,
                   help="send bodies at this many MiB/s, as over a WAN link (0: at once) [0]")
    p.add_argument("--large", type=int, default=20,
                   help="projects of large wheels bench-app needs [20]")
    p.add_argument("--large-size", type=int, default=2 * 1024 * 1024,
                   help="payload bytes of each large wheel [2097152]")
    args = p.parse_args(argv)
    if not (0 <= args.list_size <= 5_000_000 and 0 <= args.projects <= 10_000
            and 0 <= args.many_files <= 100_000 and 0 <= args.huge_files <= 100_000
            and 0 <= args.big_size <= 1 << 30 and 1 <= args.chain <= 1000
            and 0 <= args.large <= 200 and 0 <= args.large_size <= 1 << 26):
        p.error("a size is out of bounds")
    start = time.monotonic()
    base_url = f"http://{HOST}:{args.port}"
    data = Data(args, base_url)
    stats = Stats()
    server = Server((HOST, args.port), make_handler(data, stats))
    print(f"fake-pypi: {len(data.projects)} projects with pages, {data.info['list_size']} "
          f"names listed, {len(data.files)} files, generated in "
          f"{time.monotonic() - start:.1f}s; serving {base_url}/simple/", flush=True)
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main(sys.argv[1:])
