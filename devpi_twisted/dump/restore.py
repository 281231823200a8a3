"""Putting a dump's users, indexes and projects into the model, as uploads would have stored them."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable, Mapping

from devpi_twisted.dump.dataindex import FILE_TYPES, FileDesc, IndexDump
from devpi_twisted.dump.records import UserRecord, toxresult_suffix
from devpi_twisted.model import indexes, keys, releases, users
from devpi_twisted.model.releases import DOCZIP, RELEASEFILE, StoredBlob
from devpi_twisted.model.state import StateWriter

#: Who a history entry names when the dump has no history for a file (devpi's choice).
IMPORTER = "<import>"


def restore_user(txn: StateWriter, name: str, record: UserRecord, now: float) -> None:
    """Create a user with its dumped password hash and times."""
    users.create_user(txn, name, record.pwhash, record.fields, now)
    stored = users.get_user(txn, name)
    stored["created"] = record.created
    if record.modified:
        stored["modified"] = record.modified
    txn.set(keys.user(name), stored)


def restore_index(txn: StateWriter, name: str, config: Mapping[str, Any], bases: list[str]) -> None:
    """Create an index (its bases must exist already)."""
    username, _, indexname = name.partition("/")
    raw = dict(config, bases=bases) if config["type"] == indexes.STAGE else config
    indexes.create_index(txn, username, indexname, raw)


def restore_project(
    txn: StateWriter,
    index: IndexDump,
    project: str,
    files: list[FileDesc],
    blobs: Mapping[str, StoredBlob],
    now: float,
) -> None:
    """
    Register every dumped version of C{project} on C{index}, then store its
    files (C{blobs} by relpath): release files, their tox results, doc zips.
    """
    username, indexname = index.username, index.indexname
    config = releases.stage_config(txn, username, indexname)
    versions = index.projects.get(project, {})
    for version, metadata in versions.items():
        releases.register_version(txn, username, indexname, metadata)
        yanked = index.yanked.get(project, {}).get(version)
        if yanked:
            releases.set_yanked(txn, username, indexname, project, version, yanked)
    for desc in sorted(files, key=lambda desc: FILE_TYPES.index(desc.type)):
        name = versions.get(desc.version, {}).get("name", project)
        record = releases.version_record(txn, username, indexname, name, desc.version)
        blob = blobs[desc.relpath]
        history = _history(desc, index.name, now)
        if desc.type == RELEASEFILE:
            releases.attach(txn, config, username, indexname, record, RELEASEFILE, blob, now, history)
        elif desc.type == DOCZIP:
            doc = replace(blob, filename=f"{project}-{desc.version}.doc.zip")
            releases.attach(txn, config, username, indexname, record, DOCZIP, doc, now, history)
        else:
            _restore_toxresult(txn, index, project, record, desc, blob, history("upload"), now)


def _history(desc: FileDesc, index: str, now: float) -> Callable[[str], list[dict[str, Any]]]:
    if desc.log is not None:
        return lambda what: list(desc.log or [])
    return lambda what: [releases.log_entry("upload", IMPORTER, index, now)]


def _restore_toxresult(
    txn: StateWriter,
    index: IndexDump,
    project: str,
    record: dict[str, Any],
    desc: FileDesc,
    blob: StoredBlob,
    log: list[dict[str, Any]],
    now: float,
) -> None:
    target = desc.for_basename
    release = next(
        link
        for link in record["+elinks"]
        if link["rel"] == RELEASEFILE and link["entrypath"].rsplit("/", 1)[-1] == target
    )
    releases.attach_toxresult(
        txn, record, release["entrypath"], toxresult_suffix(desc, target), blob, log, now
    )
    txn.set(keys.version(index.username, index.indexname, project, desc.version), record)
