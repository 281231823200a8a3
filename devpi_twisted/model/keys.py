"""The layout of the store's keys: one function per kind of record."""

from typing import Optional

USERS = "user"
INDEXES = "index"
#: The parent of the blob reference records.
BLOBS = "blob"


def user(name: str) -> str:
    """The record of user C{name}."""
    return f"{USERS}/{name}"


def indexes_of(username: str) -> str:
    """The parent of the index configs of user C{username}."""
    return f"{INDEXES}/{username}"


def index(username: str, indexname: str) -> str:
    """The config of index C{username/indexname}."""
    return f"{INDEXES}/{username}/{indexname}"


def projects_of(username: str, indexname: str) -> str:
    """The parent of the project records of index C{username/indexname}."""
    return f"project/{username}/{indexname}"


def project(username: str, indexname: str, project: str) -> str:
    """The record of a project (normalized name) on an index."""
    return f"project/{username}/{indexname}/{project}"


def versions_of(username: str, indexname: str, project: str) -> str:
    """The parent of the version records of a project on an index."""
    return f"version/{username}/{indexname}/{project}"


def version(username: str, indexname: str, project: str, version: str) -> str:
    """The metadata and links of one version of a project on an index."""
    return f"version/{username}/{indexname}/{project}/{version}"


def file(relpath: str) -> str:
    """The entry of a stored file, by its relpath C{user/index/+f/...}."""
    return f"file/{relpath}"


def blob(sha256: str) -> str:
    """Which file entries refer to the blob with this sha256."""
    return f"{BLOBS}/{sha256}"


def blob_digest(key: str) -> Optional[str]:
    """The sha256 a C{blob/...} key is about, or None for other keys."""
    prefix, _, digest = key.partition("/")
    return digest if prefix == BLOBS else None


def mirror_pages_of(username: str, indexname: str) -> str:
    """The parent of the cached upstream pages of a mirror index."""
    return f"mirror/{username}/{indexname}"


def mirror_page(username: str, indexname: str, project: str) -> str:
    """The cached upstream page (links, serial) of a project on a mirror index."""
    return f"mirror/{username}/{indexname}/{project}"
