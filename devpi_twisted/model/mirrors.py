"""Mirror indexes: cached upstream pages as records, and the paths of their files."""

from __future__ import annotations

import re
from typing import Any, Optional, cast
from urllib.parse import quote, urlsplit, urlunsplit

from devpi_twisted.model import keys
from devpi_twisted.model.indexes import PYPI_SIMPLE_URL
from devpi_twisted.model.names import normalize_project
from devpi_twisted.model.state import StateReader, StateWriter
from devpi_twisted.model.records import IndexConfig, MirrorPage

_UNSAFE_DIR_CHARS = re.compile(r"[^A-Za-z0-9_.-]")


def upstream_url(config: IndexConfig) -> str:
    """The simple index a mirror index follows, with a trailing slash."""
    url = config.get("mirror_url") or PYPI_SIMPLE_URL
    return url if url.endswith("/") else url + "/"


def with_credentials(url: str, config: IndexConfig) -> str:
    """
    C{url} with the user and password of the mirror's C{mirror_url} when it
    points at the same host (page links are stored without credentials).
    """
    mirror = urlsplit(upstream_url(config))
    target = urlsplit(url)
    if not mirror.username or target.username or target.hostname != mirror.hostname:
        return url
    userinfo = mirror.netloc.rpartition("@")[0]
    return urlunsplit(target._replace(netloc=f"{userinfo}@{target.netloc}"))


def upstream_project_url(config: IndexConfig, project: str) -> str:
    """The upstream page of C{project} a mirror follows, without credentials."""
    parts = urlsplit(upstream_url(config) + quote(project, safe="") + "/")
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def cache_expiry(config: IndexConfig, default: float) -> float:
    """How long a cached page of this mirror stays fresh."""
    expiry = config.get("mirror_cache_expiry")
    return default if expiry is None else float(expiry)


def link_relpath(username: str, indexname: str, link: dict[str, Any]) -> str:
    """
    devpi's path of a mirror file: C{+f/} by the upstream sha256 when the
    page gave one, else C{+e/} with the upstream URL's directory flattened.
    """
    sha256 = link["hashes"].get("sha256")
    if sha256:
        return f"{username}/{indexname}/+f/{sha256[:3]}/{sha256[3:16]}/{link['filename']}"
    parts = urlsplit(link["url"])
    directory = "_".join(
        part for part in [parts.scheme, parts.netloc] + parts.path.split("/")[:-1] if part
    )
    return f"{username}/{indexname}/+e/{_UNSAFE_DIR_CHARS.sub('_', directory)}/{link['filename']}"


def get_page(state: StateReader, username: str, indexname: str, project: str) -> Optional[MirrorPage]:
    """The cached upstream page of a project, or None."""
    return cast(Optional[MirrorPage], state.get(keys.mirror_page(username, indexname, project)))


def store_page(
    txn: StateWriter,
    username: str,
    indexname: str,
    project: str,
    links: list[dict[str, Any]],
    serial: int,
    status: Optional[dict[str, str]] = None,
) -> bool:
    """Record a fetched page (with its PEP 792 status); True if anything changed (else nothing is written)."""
    key = keys.mirror_page(username, indexname, project)
    record: MirrorPage = {"links": links, "serial": serial}
    if status is not None:
        record["status"] = status
    if txn.get(key) == record:
        return False
    txn.set(key, record)
    return True


def find_link(
    state: StateReader, username: str, indexname: str, relpath: str
) -> Optional[tuple[str, dict[str, Any]]]:
    """The (project, upstream link) a mirror file path stands for, if its page is cached."""
    filename = relpath.rsplit("/", 1)[-1]
    for project in candidate_projects(filename):
        page = get_page(state, username, indexname, project)
        for link in page.get("links", []) if page is not None else []:
            if link["filename"] == filename and link_relpath(username, indexname, link) == relpath:
                return project, link
    return None


def candidate_projects(filename: str) -> list[str]:
    """Normalized project names a file name may belong to (C{a-b-1.0.tar.gz}: a, a-b, ...)."""
    stem = filename.split("-")
    return [normalize_project("-".join(stem[:n])) for n in range(1, len(stem))]
