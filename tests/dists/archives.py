"""Real wheels, sdists and doc zips made for tests, byte for byte reproducible.

    make_wheel(dir, "hello-pkg", "1.0", requires_python=">=3.8")
        -> dir/hello_pkg-1.0-py3-none-any.whl
    make_sdist(dir, "hello-pkg", "1.0")              -> dir/hello_pkg-1.0.tar.gz
    make_sdist(dir, "hello-pkg", "1.0", fmt="zip")   -> dir/hello_pkg-1.0.zip
    make_doc_zip(dir, {"index.html": b"<p>hi</p>"})  -> dir/docs.zip

C{core_metadata(...)} is the METADATA / PKG-INFO text the archives carry, so a
test can compare what it reads with what was written.
"""

from __future__ import annotations

import base64
import bz2
import gzip
import hashlib
import io
import os
import re
import tarfile
import zipfile
from typing import Iterable, Mapping, Optional

# fixed timestamps make the archives (and so their sha256) reproducible
ZIP_DATE = (2020, 1, 1, 0, 0, 0)
TAR_MTIME = 1577836800


def escape_name(name: str) -> str:
    """A project name as it appears in wheel and sdist file names."""
    return re.sub(r"[-_.]+", "_", name).lower()


def escape_version(version: str) -> str:
    """A version as it appears in wheel file names (PEP 427)."""
    return re.sub(r"[^\w\d.]+", "_", version)


def core_metadata(
    name: str,
    version: str,
    requires_python: Optional[str] = None,
    requires_dist: Iterable[str] = (),
    summary: str = "",
    description: str = "",
    metadata_version: str = "2.1",
) -> str:
    """Core metadata text (PEP 566 style: headers, blank line, description body)."""
    lines = [f"Metadata-Version: {metadata_version}", f"Name: {name}", f"Version: {version}"]
    if summary:
        lines.append(f"Summary: {summary}")
    if requires_python is not None:
        lines.append(f"Requires-Python: {requires_python}")
    lines.extend(f"Requires-Dist: {requirement}" for requirement in requires_dist)
    text = "\n".join(lines) + "\n"
    if description:
        text += "\n" + description
    return text


def _zip(path: str, files: Mapping[str, bytes]) -> str:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for member, data in files.items():
            info = zipfile.ZipInfo(member, ZIP_DATE)
            info.external_attr = 0o644 << 16
            archive.writestr(info, data, zipfile.ZIP_DEFLATED)
    return path


def _record(files: Mapping[str, bytes], record_name: str) -> bytes:
    rows = []
    for member, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        rows.append(f"{member},sha256={digest},{len(data)}")
    rows.append(f"{record_name},,")
    return ("\n".join(rows) + "\n").encode()


def make_wheel(
    dir: str,
    name: str,
    version: str,
    requires_python: Optional[str] = None,
    requires_dist: Iterable[str] = (),
    summary: str = "",
    extra_files: Optional[Mapping[str, bytes]] = None,
    *,
    description: str = "",
    metadata: Optional[str] = None,
) -> str:
    """Write a pure-Python wheel into C{dir}; return its path.

    C{metadata} replaces the generated METADATA text; C{extra_files} (archive
    path -> bytes) are added as they are, before the dist-info files.
    """
    os.makedirs(dir, exist_ok=True)
    stem = f"{escape_name(name)}-{escape_version(version)}"
    dist_info = f"{stem}.dist-info"
    if metadata is None:
        metadata = core_metadata(
            name, version, requires_python, requires_dist, summary, description
        )
    files = {f"{escape_name(name)}/__init__.py": b"", **(extra_files or {})}
    files[f"{dist_info}/METADATA"] = metadata.encode("utf-8")
    files[f"{dist_info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: tests.dists.archives\n"
        b"Root-Is-Purelib: true\nTag: py3-none-any\n"
    )
    record = f"{dist_info}/RECORD"
    files[record] = _record(files, record)
    return _zip(os.path.join(dir, f"{stem}-py3-none-any.whl"), files)


def make_sdist(
    dir: str,
    name: str,
    version: str,
    requires_python: Optional[str] = None,
    requires_dist: Iterable[str] = (),
    summary: str = "",
    extra_files: Optional[Mapping[str, bytes]] = None,
    *,
    description: str = "",
    metadata: Optional[str] = None,
    fmt: str = "gztar",
) -> str:
    """Write an sdist into C{dir}; return its path.

    C{fmt} is C{gztar} (C{.tar.gz}), C{bztar} (C{.tar.bz2}) or C{zip}. Members
    live under C{{name}-{version}/}: PKG-INFO, pyproject.toml, the package;
    C{extra_files} paths are relative to the archive root.
    """
    os.makedirs(dir, exist_ok=True)
    stem = f"{escape_name(name)}-{version}"
    if metadata is None:
        metadata = core_metadata(
            name, version, requires_python, requires_dist, summary, description
        )
    files = {
        f"{stem}/PKG-INFO": metadata.encode("utf-8"),
        f"{stem}/pyproject.toml": f'[project]\nname = "{name}"\nversion = "{version}"\n'.encode(),
        f"{stem}/{escape_name(name)}/__init__.py": b"",
        **(extra_files or {}),
    }
    if fmt == "zip":
        return _zip(os.path.join(dir, f"{stem}.zip"), files)
    suffix = {"gztar": ".tar.gz", "bztar": ".tar.bz2"}[fmt]
    path = os.path.join(dir, stem + suffix)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for member, data in files.items():
            info = tarfile.TarInfo(member)
            info.size, info.mtime, info.mode = len(data), TAR_MTIME, 0o644
            archive.addfile(info, io.BytesIO(data))
    with open(path, "wb") as f:
        if fmt == "gztar":
            with gzip.GzipFile(fileobj=f, mode="wb", mtime=TAR_MTIME, filename="") as compressed:
                compressed.write(buffer.getvalue())
        else:
            f.write(bz2.compress(buffer.getvalue()))
    return path


def make_doc_zip(dir: str, files: Mapping[str, bytes], filename: str = "docs.zip") -> str:
    """Write a documentation zip (archive path -> bytes) into C{dir}; return its path."""
    os.makedirs(dir, exist_ok=True)
    return _zip(os.path.join(dir, filename), files)
