"""The records the model stores and hands out, as typed views of their JSON: users, indexes, versions, files, mirror pages."""

from __future__ import annotations

from typing import Any, TypedDict


class UserFields(TypedDict, total=False):
    """What a client may set on a user besides the password."""

    email: str
    title: str
    description: str
    custom_data: Any


class _Stored(TypedDict):
    pwhash: str
    created: str


class UserRecord(_Stored, UserFields, total=False):
    """A user as stored (key C{user/NAME}): the fields, the password hash, its times."""

    modified: str


class UserView(UserFields, total=False):
    """A user as clients see it: no password hash; its index configs by name."""

    username: str
    created: str
    modified: str
    indexes: dict[str, Any]


class _IndexKind(TypedDict):
    type: str
    volatile: bool


class IndexConfig(_IndexKind, total=False):
    """
    An index's config as stored and as clients see it: C{type} (stage or
    mirror), C{volatile}, the stage keys and the mirror keys of L{config_keys}.
    """

    bases: list[str]
    acl_upload: list[str]
    acl_toxresult_upload: list[str]
    mirror_whitelist: list[str]
    mirror_whitelist_inheritance: str
    title: str
    description: str
    custom_data: Any
    mirror_url: str
    mirror_cache_expiry: int
    mirror_web_url_fmt: str
    mirror_use_external_urls: bool
    mirror_no_project_list: bool
    mirror_ignore_serial_header: bool
    mirror_provides_core_metadata: bool
    mirror_merge_named_only: bool


#: A version of a project on a stage: its metadata (keys of dists.metadata.METADATA_KEYS,
#: which vary with the metadata version) and its files' links under "+elinks".
VersionRecord = dict[str, Any]

#: A stored file (key C{+files/RELPATH}): sha256, size, project, version, rel,
#: last_modified, upload_time; a mirror's file also its upstream url.
FileEntry = dict[str, Any]


class _MirrorPageLinks(TypedDict):
    links: list[dict[str, Any]]
    serial: int


class MirrorPage(_MirrorPageLinks, total=False):
    """A mirror's cached upstream page of a project: its links (L{UpstreamLink} fields), serial, and PEP 792 status if upstream gave one."""

    status: dict[str, str]
