"""Where devpi's export puts each file, and safe paths inside an export directory."""

from __future__ import annotations

import os

from devpi_twisted.dump.errors import DumpError

DATAINDEX = "dataindex.json"


def releasefile_path(index: str, project: str, version: str, filename: str) -> str:
    """A release file: C{user/index/project/version/filename}."""
    return f"{index}/{project}/{version}/{filename}"


def toxresult_path(index: str, project: str, release_sha256: str, name: str) -> str:
    """A tox result, beside the hash of the release file it is about."""
    return f"{index}/{project}/sha256={release_sha256}/{name}"


def doczip_path(index: str, project: str, version: str) -> str:
    """A version's documentation zip: C{user/index/project-version.doc.zip}."""
    return f"{index}/{project}-{version}.doc.zip"


def local_path(directory: str, relpath: str) -> str:
    """
    C{relpath} (with C{/} separators) inside C{directory}; refuses paths that
    are absolute or would leave the directory.
    """
    parts = relpath.split("/")
    if not relpath or relpath.startswith("/") or any(
        part in ("", ".", "..") or "\\" in part or "\x00" in part for part in parts
    ):
        raise DumpError(f"{relpath!r} is not a safe relative path inside {directory}")
    return os.path.join(directory, *parts)
