"""Mapping between devpi-twisted's records and a dump's users, index configs, versions and files."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional, cast

from devpi_twisted.dists.metadata import METADATA_KEYS
from devpi_twisted.dump.dataindex import FileDesc
from devpi_twisted.model.indexes import MIRROR, STAGE, config_keys
from devpi_twisted.model.records import UserFields
from devpi_twisted.model.users import FIELDS

#: devpi's creation time of a user whose dump lacks one.
EPOCH = "1970-01-01T00:00:00Z"
#: User keys a dump may hold besides the fields; devpi-twisted keeps only some.
_USER_KEYS = frozenset(["username", "pwhash", "pwsalt", "created", "modified", "indexes"])
#: Keys older devpi-servers gave mirror indexes, which mirrors no longer have.
_OLD_MIRROR_KEYS = frozenset(
    ["bases", "acl_upload", "acl_toxresult_upload", "mirror_whitelist", "mirror_whitelist_inheritance"]
)

Warn = Callable[[str], None]


@dataclass(frozen=True)
class UserRecord:
    """What devpi-twisted keeps of a dumped user."""

    pwhash: str
    fields: UserFields
    created: str
    modified: Optional[str]


def user_from_dump(name: str, raw: dict[str, Any], warn: Warn) -> UserRecord:
    """A user of a dump as devpi-twisted stores it; keys it cannot keep are reported."""
    unknown = sorted(set(raw) - _USER_KEYS - set(FIELDS))
    if unknown:
        warn(f"user {name}: dropped keys devpi-twisted does not know: {', '.join(unknown)}")
    pwhash = raw.get("pwhash") or ""
    if "pwsalt" in raw:
        warn(
            f"user {name}: has a salted sha256 password hash of devpi-server 1 and 2, which "
            "devpi-twisted cannot check: set a new password with devpi-twisted passwd"
        )
    elif not pwhash:
        warn(f"user {name}: has no password hash: set one with devpi-twisted passwd")
    fields = cast(UserFields, {key: raw[key] for key in FIELDS if key in raw})
    return UserRecord(pwhash, fields, raw.get("created") or EPOCH, raw.get("modified"))


def user_to_dump(name: str, record: dict[str, Any]) -> dict[str, Any]:
    """A stored user as devpi exports it: with its password hash and name."""
    return dict(record, username=name)


def config_from_dump(name: str, config: dict[str, Any], warn: Warn) -> dict[str, Any]:
    """
    A dumped index config without its bases and without keys devpi-twisted
    does not have (a plugin's, reported; a mirror's from old devpi, silently).
    """
    kind = config["type"]
    allowed = config_keys(kind) | {"type"}
    ignored = _OLD_MIRROR_KEYS if kind == MIRROR else frozenset()
    unknown = sorted(set(config) - allowed - ignored)
    if unknown:
        warn(f"index {name}: dropped config keys devpi-twisted does not know: {', '.join(unknown)}")
    return {key: value for key, value in config.items() if key in allowed and key != "bases"}


def dumped_bases(config: dict[str, Any]) -> list[str]:
    """The bases a dumped stage config lists (a comma separated string in old dumps)."""
    if config["type"] != STAGE:
        return []
    bases = config.get("bases") or []
    if isinstance(bases, str):
        bases = bases.split(",")
    return [base.strip() for base in bases if isinstance(base, str) and base.strip()]


def version_to_dump(record: dict[str, Any]) -> dict[str, Any]:
    """A version's metadata as devpi exports it: no links, no yanked state."""
    return {key: record[key] for key in METADATA_KEYS if key in record}


def file_to_dump(
    kind: str,
    relpath: str,
    link: dict[str, Any],
    entry: dict[str, Any],
    for_entrypath: Optional[str] = None,
) -> dict[str, Any]:
    """The description of an exported file; C{upload_time} is ours, devpi ignores it."""
    sha256 = entry["sha256"]
    desc: dict[str, Any] = {
        "version": entry["version"],
        "entrymapping": {
            "last_modified": entry["last_modified"],
            "hash_spec": f"sha256={sha256}",
            "hashes": {"sha256": sha256},
            "project": entry["project"],
            "version": entry["version"],
            "upload_time": entry["upload_time"],
        },
        "log": link["_log"],
        "type": kind,
        "projectname": entry["project"],
        "relpath": relpath,
    }
    if for_entrypath is not None:
        desc["for_entrypath"] = for_entrypath
    return desc


def toxresult_suffix(desc: FileDesc, release_basename: str) -> str:
    """What a tox result's name adds to its release file's: C{.toxresult-<time>-<n>}."""
    if desc.basename.startswith(release_basename + "."):
        return desc.basename[len(release_basename):]
    return "." + desc.basename
