"""Push: copy a release (metadata, files, tox results, docs) to another index of this server."""

from __future__ import annotations

from typing import Any, Optional

from devpi_twisted.dists.metadata import METADATA_KEYS
from devpi_twisted.model import keys
from devpi_twisted.model.errors import InvalidInput, NotFound
from devpi_twisted.model.releases import (
    DOCZIP,
    RELEASEFILE,
    TOXRESULT,
    StoredBlob,
    attach,
    attach_toxresult,
    log_entry,
    register_version,
    stage_config,
    version_record,
)
from devpi_twisted.model.state import StateWriter

ActionLog = list[list[Any]]


def _split(name: str) -> tuple[str, str]:
    username, _, indexname = name.partition("/")
    return username, indexname


def _blob_of(txn: StateWriter, link: dict[str, Any]) -> StoredBlob:
    entry = txn.get(keys.file(link["entrypath"]))
    filename = link["entrypath"].rsplit("/", 1)[-1]
    return StoredBlob(
        filename,
        entry["sha256"],
        entry["size"],
        entry.get("core_metadata_sha256"),
        entry["last_modified"],
        entry["upload_time"],
        entry.get("provenance_sha256"),
    )


def push_release(
    txn: StateWriter,
    source: str,
    project: str,
    version: str,
    target: str,
    who: Optional[str],
    now: float,
    no_docs: bool = False,
    only_docs: bool = False,
) -> ActionLog:
    """
    Copy one version of C{project} as stored on C{source} to C{target}: its
    metadata, its release files (by name) with their tox results, and its
    doc zip; the bytes are shared, only references are added.
    """
    src_user, src_index = _split(source)
    record = txn.get(keys.version(src_user, src_index, project, version))
    if record is None:
        raise InvalidInput(f"there are no files for {project} {version} on stage {source}")
    files = sorted(
        (link for link in record["+elinks"] if link["rel"] == RELEASEFILE),
        key=lambda link: link["entrypath"].rsplit("/", 1)[-1],
    )
    docs = [link for link in record["+elinks"] if link["rel"] == DOCZIP]
    if not files and not docs:
        raise NotFound(f"no release/files found for {project} {version}")
    dst_user, dst_index = _split(target)
    config = stage_config(txn, dst_user, dst_index)
    metadata = {key: record[key] for key in METADATA_KEYS if key in record}
    register_version(txn, dst_user, dst_index, metadata)
    actionlog: ActionLog = [[200, "register", project, version, "->", target]]

    def history(link: dict[str, Any]) -> Any:
        return lambda what: link["_log"] + [log_entry("push", who, target, now, src=source)]

    if not only_docs:
        for link in files:
            copy = version_record(txn, dst_user, dst_index, record["name"], version)
            stored = attach(
                txn, config, dst_user, dst_index, copy, RELEASEFILE, _blob_of(txn, link), now,
                history(link),
            )
            actionlog.append([200, "store_releasefile", stored.relpath])
            for result in record["+elinks"]:
                if result["rel"] == TOXRESULT and result.get("for_entrypath") == link["entrypath"]:
                    suffix = result["entrypath"][len(link["entrypath"]):]
                    copy = version_record(txn, dst_user, dst_index, record["name"], version)
                    if any(l["entrypath"] == stored.relpath + suffix for l in copy["+elinks"]):
                        continue
                    relpath = attach_toxresult(
                        txn, copy, stored.relpath, suffix, _blob_of(txn, result),
                        history(result)("push"), now,
                    )
                    txn.set(keys.version(dst_user, dst_index, project, version), copy)
                    actionlog.append([200, "store_toxresult", relpath])
    if not no_docs:
        for link in docs:
            copy = version_record(txn, dst_user, dst_index, record["name"], version)
            attach(
                txn, config, dst_user, dst_index, copy, DOCZIP, _blob_of(txn, link), now,
                history(link),
            )
            actionlog.append([200, "store_doczip", project, version, "->", target])
    return actionlog
