"""Which source serves a file path: the store, the primary (on a replica), or a mirror's upstream."""

from __future__ import annotations

from enum import Enum
from typing import Any, Optional

from devpi_twisted.model import keys
from devpi_twisted.model.errors import NotFound
from devpi_twisted.model.indexes import MIRROR, get_index
from devpi_twisted.model.releases import PROVENANCE_SUFFIX
from devpi_twisted.model.state import StateReader

#: A wheel's PEP 658 metadata is served at the wheel's path with this suffix.
METADATA_SUFFIX = ".metadata"
#: What is served at a release file's path plus a suffix: the key of its blob in the file's entry, and a name.
_ATTACHED = {
    METADATA_SUFFIX: ("core_metadata_sha256", "metadata"),
    PROVENANCE_SUFFIX: ("provenance_sha256", "provenance"),
}


class Source(Enum):
    """Where the bytes of a requested file come from."""

    #: what the store holds (or 404)
    STORE = "store"
    #: a replica relays the request: the primary has the file or fetches it
    PRIMARY = "primary"
    #: a mirror index downloads the file from upstream
    MIRROR = "mirror"
    #: a mirror index fetches a wheel's metadata from upstream, then the store serves it
    MIRROR_METADATA = "mirror_metadata"
    #: a mirror index with C{mirror_use_external_urls} sends the client upstream
    EXTERNAL = "external"


def metadata_of(relpath: str) -> Optional[str]:
    """The path of the file a C{.metadata} path is the metadata of, else None."""
    return relpath[: -len(METADATA_SUFFIX)] if relpath.endswith(METADATA_SUFFIX) else None


def has_core_metadata(state: StateReader, relpath: str) -> bool:
    """Whether C{relpath} is the PEP 658 metadata kept with a stored wheel."""
    of = metadata_of(relpath)
    entry = None if of is None else state.get(keys.file(of))
    return entry is not None and bool(entry.get("core_metadata_sha256"))


def file_source(state: StateReader, username: str, indexname: str, relpath: str, on_replica: bool) -> Source:
    """
    Which source serves C{relpath} of an index: the store when the file is
    there; on a replica the primary (but for metadata stored with a wheel);
    on a mirror index its upstream; else the store (which answers 404).
    """
    if state.get(keys.file(relpath)) is not None:
        return Source.STORE
    if on_replica and not has_core_metadata(state, relpath):
        return Source.PRIMARY
    config = get_index(state, username, indexname)
    if config["type"] != MIRROR:
        return Source.STORE
    of = metadata_of(relpath)
    if of is not None:
        return Source.MIRROR_METADATA if state.get(keys.file(of)) is None else Source.STORE
    if config.get("mirror_use_external_urls"):
        return Source.EXTERNAL
    return Source.MIRROR


def attached_suffix(relpath: str) -> Optional[str]:
    """The suffix of a path served beside a release file (PEP 658 metadata, PEP 740 provenance), else None."""
    return next((suffix for suffix in _ATTACHED if relpath.endswith(suffix)), None)


def attached(state: StateReader, relpath: str) -> tuple[dict[str, Any], str]:
    """The file entry a C{.metadata} or C{.provenance} path is of, and the sha256 of what is served."""
    suffix = attached_suffix(relpath)
    assert suffix is not None
    of = relpath[: -len(suffix)]
    entry = state.get(keys.file(of))
    if entry is None:
        raise NotFound(f"no such file: {relpath}")
    key, what = _ATTACHED[suffix]
    digest = entry.get(key)
    if not digest:
        raise NotFound(f"no {what} found in {of}")
    return entry, digest