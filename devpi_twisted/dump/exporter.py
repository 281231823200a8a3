"""Exporting a store and blob store as devpi-server's dump: dataindex.json plus every file."""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from typing import Any

from devpi_twisted import __version__
from devpi_twisted.dump.dataindex import DUMPVERSION, OURS, write_dataindex
from devpi_twisted.dump.errors import DumpError
from devpi_twisted.dump.layout import doczip_path, local_path, releasefile_path, toxresult_path
from devpi_twisted.dump.records import file_to_dump, user_to_dump, version_to_dump
from devpi_twisted.model import keys
from devpi_twisted.model.indexes import MIRROR, project_names
from devpi_twisted.model.releases import DOCZIP, RELEASEFILE, TOXRESULT, Yanked, link_basename, version_names
from devpi_twisted.model.state import StateReader
from devpi_twisted.store.blobs import IBlobStore

COPY_BUFFER = 1024 * 1024


@dataclass
class ExportSummary:
    """What an export wrote."""

    users: int = 0
    indexes: int = 0
    projects: int = 0
    files: int = 0


class Exporter:
    """Writes one export directory from a consistent state."""

    def __init__(self, state: StateReader, blobs: IBlobStore, directory: str) -> None:
        self._state = state
        self._blobs = blobs
        self._directory = directory
        self.summary = ExportSummary()

    def run(self) -> ExportSummary:
        """Copy every file, then write dataindex.json; raises L{DumpError}."""
        data: dict[str, Any] = {"users": {}, "indexes": {}}
        for username in self._state.children(keys.USERS):
            data["users"][username] = user_to_dump(username, self._state.get(keys.user(username)))
            self.summary.users += 1
            for indexname in self._state.children(keys.indexes_of(username)):
                name = f"{username}/{indexname}"
                data["indexes"][name] = self._index(username, indexname)
                self.summary.indexes += 1
        data.update(dumpversion=DUMPVERSION, pythonversion=list(sys.version_info))
        data[OURS] = __version__
        write_dataindex(self._directory, data)
        return self.summary

    def _index(self, username: str, indexname: str) -> dict[str, Any]:
        config = self._state.get(keys.index(username, indexname))
        dumped: dict[str, Any] = {"indexconfig": config}
        if config["type"] == MIRROR:
            return dumped
        projects: dict[str, Any] = {}
        files: list[dict[str, Any]] = []
        yanked: dict[str, dict[str, Yanked]] = {}
        for project in project_names(self._state, username, indexname):
            projects[project] = {}
            for version in version_names(self._state, username, indexname, project):
                record = self._state.get(keys.version(username, indexname, project, version))
                projects[project][version] = version_to_dump(record)
                if record.get("yanked"):
                    yanked.setdefault(project, {})[version] = record["yanked"]
                files.extend(self._files(f"{username}/{indexname}", project, version, record))
            self.summary.projects += 1
        dumped.update(projects=projects, files=files)
        if yanked:
            dumped[OURS] = {"yanked": yanked}
        return dumped

    def _files(
        self, index: str, project: str, version: str, record: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """A version's files as devpi orders them: release files, tox results, doc zips."""
        links = record["+elinks"]
        releases = {link["entrypath"]: link for link in links if link["rel"] == RELEASEFILE}
        files = []
        for link in releases.values():
            relpath = releasefile_path(index, project, version, link_basename(link))
            files.append(self._copy(RELEASEFILE, relpath, link))
        for link in links:
            if link["rel"] == TOXRESULT and link.get("for_entrypath") in releases:
                release = releases[link["for_entrypath"]]
                sha256 = release["hashes"]["sha256"]
                relpath = toxresult_path(index, project, sha256, link_basename(link))
                files.append(self._copy(TOXRESULT, relpath, link, release["entrypath"]))
        for link in links:
            if link["rel"] == DOCZIP:
                files.append(self._copy(DOCZIP, doczip_path(index, project, version), link))
        return files

    def _copy(self, kind: str, relpath: str, link: dict[str, Any], *for_entrypath: str) -> dict[str, Any]:
        entry = self._state.get(keys.file(link["entrypath"]))
        destination = local_path(self._directory, relpath)
        os.makedirs(os.path.dirname(destination), exist_ok=True)
        try:
            with self._blobs.open(entry["sha256"]) as source, open(destination, "xb") as target:
                shutil.copyfileobj(source, target, COPY_BUFFER)
        except FileNotFoundError:
            raise DumpError(
                f"the file of {link['entrypath']} (sha256 {entry['sha256']}) is missing "
                "from the blob store; devpi-twisted fsck tells which others are"
            )
        except FileExistsError:
            raise DumpError(f"two files would be exported as {relpath}")
        self.summary.files += 1
        return file_to_dump(kind, relpath, link, entry, *for_entrypath)

