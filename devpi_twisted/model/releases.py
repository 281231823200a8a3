"""Projects, versions and their files on stage indexes: add, register, yank, delete."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from email.utils import formatdate
from typing import Any, Callable, Optional, Union, cast

from packaging.version import InvalidVersion, Version

from devpi_twisted.dists.errors import InvalidDistribution
from devpi_twisted.dists.filenames import check_version
from devpi_twisted.dists.metadata import LIST_KEYS, METADATA_KEYS
from devpi_twisted.model import indexes, keys
from devpi_twisted.model.errors import Conflict, Forbidden, InvalidInput, NotFound
from devpi_twisted.model.indexes import MIRROR, get_index
from devpi_twisted.model.names import normalize_project
from devpi_twisted.model.state import StateReader, StateWriter
from devpi_twisted.model.records import FileEntry, IndexConfig, VersionRecord

RELEASEFILE = "releasefile"
DOCZIP = "doczip"
TOXRESULT = "toxresult"
#: Appended to a release file's path: its PEP 740 provenance (from the upload's attestations).
PROVENANCE_SUFFIX = ".provenance"

#: A version's yanked state: False, True, or the reason (a string).
Yanked = Union[bool, str]


@dataclass(frozen=True)
class StoredBlob:
    """Bytes already written to the blob store, to be referred to by a file entry."""

    filename: str
    sha256: str
    size: int
    core_metadata_sha256: Optional[str] = None
    #: When the bytes were first uploaded (HTTP date, PEP 700 time), kept by push.
    last_modified: Optional[str] = None
    upload_time: Optional[str] = None
    #: The PEP 740 provenance object made from the upload's attestations.
    provenance_sha256: Optional[str] = None


@dataclass(frozen=True)
class Outcome:
    """What a change stored: its relpath, and whether identical bytes were there."""

    relpath: str
    identical: bool = False


def relpath_for(username: str, indexname: str, sha256: str, filename: str) -> str:
    """devpi's path of a stored file: C{user/index/+f/abc/def.../filename}."""
    return f"{username}/{indexname}/+f/{sha256[:3]}/{sha256[3:16]}/{filename}"


def log_entry(what: str, who: Optional[str], dst: str, now: float, **extra: str) -> dict[str, Any]:
    """One entry of a link's history, as devpi records it."""
    return {"what": what, "who": who, "when": list(time.gmtime(now)[:6]), "dst": dst, **extra}


def iso_time(now: float) -> str:
    """PEP 700's upload-time format."""
    return datetime.fromtimestamp(now, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def version_key(version: str) -> tuple[int, Any]:
    """Sort key: PEP 440 versions in order, anything else before them by text."""
    try:
        return (1, Version(version))
    except InvalidVersion:
        return (0, version)


def stage_config(state: StateReader, username: str, indexname: str) -> IndexConfig:
    """The config of a stage index; a mirror cannot take uploads."""
    config = get_index(state, username, indexname)
    if config["type"] == MIRROR:
        raise NotFound("cannot submit to mirror index")
    return config


def check_version_text(version: Any) -> str:
    """A version string usable in URLs and keys (the rule of L{check_version})."""
    try:
        return check_version(version)
    except InvalidDistribution as error:
        raise InvalidInput(error.message)


def new_version(name: str, version: str) -> dict[str, Any]:
    """A version record with every metadata key at its empty default."""
    record: dict[str, Any] = {
        key: [] if key in LIST_KEYS else "" for key in METADATA_KEYS
    }
    record.update(name=name, version=version)
    record["+elinks"] = []
    return record


def get_version(
    state: StateReader, username: str, indexname: str, project: str, version: str
) -> VersionRecord:
    """A version record; raises L{NotFound}."""
    record = state.get(keys.version(username, indexname, project, version))
    if record is None:
        raise NotFound(f"The version {version} of project {project} does not exist.")
    return cast(VersionRecord, record)


def version_names(state: StateReader, username: str, indexname: str, project: str) -> list[str]:
    """The versions of a project on one index, in storage order."""
    return state.children(keys.versions_of(username, indexname, project))


def _ensure_project(txn: StateWriter, username: str, indexname: str, name: str) -> str:
    project = normalize_project(name)
    key = keys.project(username, indexname, project)
    if txn.get(key) is None:
        txn.set(key, {"name": name})
    return project


def ref_blob(txn: StateWriter, sha256: str, relpath: str) -> None:
    """Record that the file entry at C{relpath} refers to the blob C{sha256}."""
    record = txn.get(keys.blob(sha256)) or {"refs": []}
    if relpath not in record["refs"]:
        record["refs"] = sorted(record["refs"] + [relpath])
        txn.set(keys.blob(sha256), record)


def _unref(txn: StateWriter, sha256: str, relpath: str) -> None:
    """Drop one reference; the record goes when the last one does."""
    record = txn.get(keys.blob(sha256)) or {"refs": []}
    refs = [ref for ref in record["refs"] if ref != relpath]
    if refs:
        txn.set(keys.blob(sha256), {"refs": refs})
    else:
        txn.delete(keys.blob(sha256))


def _store_file(
    txn: StateWriter,
    relpath: str,
    blob: StoredBlob,
    project: str,
    version: str,
    now: float,
    rel: str,
) -> None:
    entry: dict[str, Any] = {
        "sha256": blob.sha256,
        "size": blob.size,
        "last_modified": blob.last_modified or formatdate(now, usegmt=True),
        "upload_time": blob.upload_time or iso_time(now),
        "project": project,
        "version": version,
        "rel": rel,
    }
    if blob.core_metadata_sha256 is not None:
        entry["core_metadata_sha256"] = blob.core_metadata_sha256
        ref_blob(txn, blob.core_metadata_sha256, relpath + ".metadata")
    if blob.provenance_sha256 is not None:
        entry["provenance_sha256"] = blob.provenance_sha256
        ref_blob(txn, blob.provenance_sha256, relpath + PROVENANCE_SUFFIX)
    txn.set(keys.file(relpath), entry)
    ref_blob(txn, blob.sha256, relpath)


def _drop_file(txn: StateWriter, relpath: str) -> None:
    entry = txn.get(keys.file(relpath))
    if entry is not None:
        txn.delete(keys.file(relpath))
        _unref(txn, entry["sha256"], relpath)
        if "core_metadata_sha256" in entry:
            _unref(txn, entry["core_metadata_sha256"], relpath + ".metadata")
        if "provenance_sha256" in entry:
            _unref(txn, entry["provenance_sha256"], relpath + PROVENANCE_SUFFIX)


def _drop_link(txn: StateWriter, record: dict[str, Any], link: dict[str, Any]) -> None:
    """Remove a link, its file and (for a release file) its toxresults from C{record}."""
    relpath = link["entrypath"]
    doomed = [link] + [
        other for other in record["+elinks"] if other.get("for_entrypath") == relpath
    ]
    record["+elinks"] = [other for other in record["+elinks"] if other not in doomed]
    for gone in doomed:
        _drop_file(txn, gone["entrypath"])


def link_basename(link: dict[str, Any]) -> str:
    """The file name of a version's link (the last part of its entrypath)."""
    return str(link["entrypath"]).rsplit("/", 1)[-1]


def _make_room(
    txn: StateWriter,
    config: IndexConfig,
    record: dict[str, Any],
    rel: str,
    sha256: str,
    filename: str,
) -> tuple[str, Optional[str]]:
    """
    Prepare C{record} for a new link of kind C{rel} named C{filename}:
    returns C{("identical", relpath)} when the same bytes are there,
    C{("overwrite", None)} after replacing other bytes (volatile index only)
    and C{("upload", None)} when there was nothing.
    """
    for link in record["+elinks"]:
        if link["rel"] == rel and link_basename(link) == filename:
            if link["hashes"].get("sha256") == sha256:
                return "identical", str(link["entrypath"])
            if not config["volatile"]:
                raise Conflict(f"{filename} already exists in non-volatile index")
            _drop_link(txn, record, link)
            return "overwrite", None
    return "upload", None


def _link(rel: str, relpath: str, sha256: str, log: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "rel": rel,
        "entrypath": relpath,
        "hash_spec": f"sha256={sha256}",
        "hashes": {"sha256": sha256},
        "_log": log,
    }


def attach(
    txn: StateWriter,
    config: IndexConfig,
    username: str,
    indexname: str,
    record: dict[str, Any],
    rel: str,
    blob: StoredBlob,
    now: float,
    log: Callable[[str], list[dict[str, Any]]],
) -> Outcome:
    """
    Link C{blob} (named C{blob.filename}) to the version C{record} as a file
    of kind C{rel}, replacing or keeping an existing file of that name;
    C{log(what)} gives the new link's history.
    """
    project, version = normalize_project(record["name"]), record["version"]
    what, existing = _make_room(txn, config, record, rel, blob.sha256, blob.filename)
    if existing is not None:
        return Outcome(existing, identical=True)
    relpath = relpath_for(username, indexname, blob.sha256, blob.filename)
    record["+elinks"].append(_link(rel, relpath, blob.sha256, log(what)))
    _store_file(txn, relpath, blob, project, version, now, rel)
    txn.set(keys.version(username, indexname, project, version), record)
    return Outcome(relpath)


def version_record(
    txn: StateWriter, username: str, indexname: str, name: str, version: str
) -> dict[str, Any]:
    project = _ensure_project(txn, username, indexname, name)
    existing = txn.get(keys.version(username, indexname, project, version))
    return existing or new_version(name, version)


def add_release_file(
    txn: StateWriter,
    username: str,
    indexname: str,
    metadata: dict[str, Any],
    blob: StoredBlob,
    who: Optional[str],
    now: float,
) -> Outcome:
    """
    Store an uploaded release file under its version, creating project and
    version as needed; the version's metadata takes every non-empty value
    of C{metadata} (an sdist without Requires-Python keeps the wheel's).
    """
    config = stage_config(txn, username, indexname)
    version = check_version_text(metadata.get("version"))
    record = version_record(txn, username, indexname, metadata["name"], version)
    record.update(
        (k, v)
        for k, v in metadata.items()
        if k in METADATA_KEYS and k not in ("name", "version") and v not in ("", [], None)
    )
    dst = f"{username}/{indexname}"
    return attach(
        txn, config, username, indexname, record, RELEASEFILE, blob, now,
        lambda what: [log_entry(what, who, dst, now)],
    )


#: What an upload of a file already there, byte for byte, on a non-volatile index reports.
IDENTICAL_ON_NON_VOLATILE = "Upload of identical file to non volatile index."


def upload_message(state: StateReader, username: str, indexname: str, outcome: Outcome) -> str:
    """
    What a release file upload reports: C{OK}, or that the file was already
    there unchanged on a non-volatile index (accepted, nothing written).
    """
    config = state.get(keys.index(username, indexname)) or {}
    if outcome.identical and not config.get("volatile", True):
        return IDENTICAL_ON_NON_VOLATILE
    return "OK"


def register_version(
    txn: StateWriter, username: str, indexname: str, metadata: dict[str, Any]
) -> None:
    """C{:action=submit}: set a version's metadata entirely, keeping its links."""
    stage_config(txn, username, indexname)
    version = check_version_text(metadata.get("version"))
    project = _ensure_project(txn, username, indexname, metadata["name"])
    key = keys.version(username, indexname, project, version)
    record = new_version(metadata["name"], version)
    record.update((k, v) for k, v in metadata.items() if k in METADATA_KEYS)
    record["version"] = version
    existing = txn.get(key)
    if existing is not None:
        record["+elinks"] = existing["+elinks"]
        if "yanked" in existing:
            record["yanked"] = existing["yanked"]
    txn.set(key, record)


def newest_version(state: StateReader, username: str, indexname: str, project: str) -> Optional[str]:
    """The highest version of a project on one index, or None."""
    names = version_names(state, username, indexname, project)
    return max(names, key=version_key) if names else None


def add_doczip(
    txn: StateWriter,
    username: str,
    indexname: str,
    name: str,
    version: Optional[str],
    blob: StoredBlob,
    who: Optional[str],
    now: float,
) -> Outcome:
    """Store a documentation zip for a version (the newest one if not given)."""
    config = stage_config(txn, username, indexname)
    project = normalize_project(name)
    if not version:
        version = newest_version(txn, username, indexname, project)
        if version is None:
            raise InvalidInput(
                f"doczip has no version and {name!r} has no releases to derive one from"
            )
    version = check_version_text(version)
    record = version_record(txn, username, indexname, name, version)
    doc = replace(blob, filename=f"{project}-{version}.doc.zip")
    dst = f"{username}/{indexname}"
    return attach(
        txn, config, username, indexname, record, DOCZIP, doc, now,
        lambda what: [log_entry(what, who, dst, now)],
    )


def get_file(state: StateReader, relpath: str) -> FileEntry:
    """The entry of a stored file; raises L{NotFound}."""
    entry = state.get(keys.file(relpath))
    if entry is None:
        raise NotFound(f"no such file: {relpath}")
    return cast(FileEntry, entry)


def add_toxresult(
    txn: StateWriter,
    username: str,
    indexname: str,
    for_relpath: str,
    blob: StoredBlob,
    who: Optional[str],
    now: float,
) -> Outcome:
    """Store a tox result for a release file of this index."""
    entry = txn.get(keys.file(for_relpath))
    if entry is None or entry["rel"] != RELEASEFILE or not for_relpath.startswith(
        f"{username}/{indexname}/+f/"
    ):
        raise NotFound(f"no release file found at {for_relpath}")
    key = keys.version(username, indexname, entry["project"], entry["version"])
    record = txn.get(key)
    stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime(now))
    count = sum(1 for link in record["+elinks"] if link.get("for_entrypath") == for_relpath)
    log = [log_entry("upload", who, f"{username}/{indexname}", now)]
    relpath = attach_toxresult(
        txn, record, for_relpath, f".toxresult-{stamp}-{count}", blob, log, now
    )
    txn.set(key, record)
    return Outcome(relpath)


def attach_toxresult(
    txn: StateWriter,
    record: dict[str, Any],
    for_relpath: str,
    suffix: str,
    blob: StoredBlob,
    log: list[dict[str, Any]],
    now: float,
) -> str:
    """Add a tox result for the release file C{for_relpath} to C{record}; the caller saves it."""
    relpath = for_relpath + suffix
    link = _link(TOXRESULT, relpath, blob.sha256, log)
    link["for_entrypath"] = for_relpath
    record["+elinks"].append(link)
    project = normalize_project(record["name"])
    _store_file(txn, relpath, blob, project, record["version"], now, TOXRESULT)
    return relpath


def _check_deletable(config: IndexConfig, force: bool, message: str) -> None:
    if not config["volatile"] and not force:
        raise Forbidden(message)


def delete_file(
    txn: StateWriter, username: str, indexname: str, relpath: str, force: bool
) -> None:
    """Delete one stored file (and a release file's toxresults) from its version."""
    config = stage_config(txn, username, indexname)
    entry = txn.get(keys.file(relpath))
    if entry is None:
        raise NotFound(f"package {relpath!r} doesn't exist")
    _check_deletable(config, force, "cannot delete version on non-volatile index")
    key = keys.version(username, indexname, entry["project"], entry["version"])
    record = txn.get(key)
    link = next(link for link in record["+elinks"] if link["entrypath"] == relpath)
    _drop_link(txn, record, link)
    txn.set(key, record)


def _delete_version(txn: StateWriter, username: str, indexname: str, project: str, version: str) -> None:
    key = keys.version(username, indexname, project, version)
    record = txn.get(key)
    for link in list(record["+elinks"]):
        if link in record["+elinks"]:
            _drop_link(txn, record, link)
    txn.delete(key)
    if not version_names(txn, username, indexname, project):
        txn.delete(keys.project(username, indexname, project))


def delete_version(
    txn: StateWriter, username: str, indexname: str, project: str, version: str, force: bool
) -> None:
    """Delete a version with all its files."""
    config = stage_config(txn, username, indexname)
    get_version(txn, username, indexname, project, version)
    _check_deletable(config, force, "cannot delete version on non-volatile index")
    _delete_version(txn, username, indexname, project, version)


def delete_project(
    txn: StateWriter, username: str, indexname: str, project: str, force: bool
) -> None:
    """Delete a project with all its versions and files."""
    config = stage_config(txn, username, indexname)
    if txn.get(keys.project(username, indexname, project)) is None:
        raise NotFound(f"project {project!r} not found on {username}/{indexname}")
    _check_deletable(
        config, force, f"project {project} is on non-volatile index {username}/{indexname}"
    )
    for version in version_names(txn, username, indexname, project):
        _delete_version(txn, username, indexname, project, version)


def delete_index(txn: StateWriter, username: str, indexname: str) -> None:
    """Delete a volatile index with all its projects and files."""
    indexes.delete_index(txn, username, indexname)
    for project in txn.children(keys.projects_of(username, indexname)):
        for version in version_names(txn, username, indexname, project):
            _delete_version(txn, username, indexname, project, version)
        txn.delete(keys.project(username, indexname, project))


def set_yanked(
    txn: StateWriter, username: str, indexname: str, project: str, version: str, yanked: Yanked
) -> None:
    """Yank (PEP 592; C{True} or a reason) or unyank (C{False}) a version."""
    stage_config(txn, username, indexname)
    record = get_version(txn, username, indexname, project, version)
    if yanked is False:
        record.pop("yanked", None)
    elif isinstance(yanked, (bool, str)):
        # PEP 691: a reason is a non-empty string; an empty one is a plain yank
        record["yanked"] = yanked or True
    else:
        raise InvalidInput("yanked must be true, false or a reason string")
    txn.set(keys.version(username, indexname, project, version), record)
