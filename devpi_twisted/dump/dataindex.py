"""dataindex.json: read, check and migrate devpi's dump (dumpversion 1 and 2), and write it."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from devpi_twisted.dists.filenames import version_from_filename
from devpi_twisted.dump.errors import DumpError
from devpi_twisted.dump.layout import DATAINDEX, local_path
from devpi_twisted.model.errors import InvalidInput
from devpi_twisted.model.indexes import MIRROR
from devpi_twisted.model.names import check_indexname, check_username, normalize_project
from devpi_twisted.model.releases import DOCZIP, RELEASEFILE, TOXRESULT, Yanked, check_version_text
from devpi_twisted.serverdir import write_atomically

#: What our export writes; devpi-server 6 writes and reads the same.
DUMPVERSION = "2"
READABLE_VERSIONS = ("1", "2")
#: devpi-twisted's own key: its version at the top, its extra data in an index; devpi ignores both.
OURS = "devpi_twisted"
#: File types in the order an import stores them (a tox result needs its release file).
FILE_TYPES = (RELEASEFILE, TOXRESULT, DOCZIP)


@dataclass(frozen=True)
class FileDesc:
    """One file of an index's dump."""

    type: str
    project: str
    version: str
    relpath: str
    hashes: dict[str, str]
    last_modified: Optional[str] = None
    upload_time: Optional[str] = None
    log: Optional[list[Any]] = None
    for_entrypath: Optional[str] = None
    #: Where it is listed, for messages: C{indexes["alice/dev"].files[3]}.
    where: str = ""

    @property
    def basename(self) -> str:
        """The file's name."""
        return self.relpath.rsplit("/", 1)[-1]

    @property
    def for_basename(self) -> str:
        """The name of the release file a tox result is for (C{""} without one)."""
        return (self.for_entrypath or "").rsplit("/", 1)[-1]


@dataclass(frozen=True)
class IndexDump:
    """One index of a dump: its config, and for a stage its projects and files."""

    name: str
    config: dict[str, Any]
    #: normalized project -> version -> version metadata
    projects: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    files: list[FileDesc] = field(default_factory=list)
    #: normalized project -> version -> yanked (devpi-twisted's extra data)
    yanked: dict[str, dict[str, Yanked]] = field(default_factory=dict)
    #: Files of a mirror index (devpi-export --include-mirrored-files), not imported.
    mirrored_files: int = 0

    @property
    def username(self) -> str:
        return self.name.partition("/")[0]

    @property
    def indexname(self) -> str:
        return self.name.partition("/")[2]

    @property
    def type(self) -> str:
        return str(self.config["type"])


@dataclass(frozen=True)
class Dump:
    """A checked and migrated dataindex.json and the directory its files are in."""

    directory: str
    dumpversion: str
    producer: str
    users: dict[str, dict[str, Any]]
    indexes: dict[str, IndexDump]
    #: What was fixed while reading (e.g. a version derived from its key).
    notes: list[str] = field(default_factory=list)

    @property
    def path(self) -> str:
        """The dataindex.json, for messages."""
        return os.path.join(self.directory, DATAINDEX)


def subkey(where: str, key: str) -> str:
    """Where C{key} of the object at C{where} is, for messages: C{indexes["alice/dev"]}."""
    return f"{where}[{json.dumps(key)}]"


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


class _Reader:
    """Checks a parsed dataindex.json; every error names the file and the key."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.path = os.path.join(directory, DATAINDEX)
        self.notes: list[str] = []

    def fail(self, where: str, problem: str) -> DumpError:
        return DumpError(f"{self.path}: {where}: {problem}")

    def mapping(self, value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, f"expected an object, found {_kind(value)}")
        return value

    def listing(self, value: Any, where: str) -> list[Any]:
        if not isinstance(value, list):
            raise self.fail(where, f"expected a list, found {_kind(value)}")
        return value

    def text(self, value: Any, where: str) -> str:
        if not isinstance(value, str) or not value:
            raise self.fail(where, f"expected a non-empty string, found {value!r}")
        return value

    def name(self, check: Callable[[object], str], value: str, where: str) -> None:
        try:
            check(value)
        except InvalidInput as error:
            raise self.fail(where, error.message)

    def version(self, value: Any, where: str) -> str:
        try:
            return check_version_text(self.text(value, where))
        except InvalidInput as error:
            raise self.fail(where, error.message)

    def project(self, value: Any, where: str) -> str:
        project = normalize_project(self.text(value, where))
        if "/" in project or project.startswith("+"):
            raise self.fail(where, f"invalid project name {value!r}")
        return project

    def dump(self, data: Any) -> Dump:
        top = self.mapping(data, "top level")
        if "dumpversion" not in top:
            raise self.fail("dumpversion", "missing")
        dumpversion = str(top["dumpversion"])
        if dumpversion not in READABLE_VERSIONS:
            raise self.fail(
                "dumpversion",
                f"unknown dumpversion {top['dumpversion']!r}; "
                f"this version reads {' and '.join(READABLE_VERSIONS)}",
            )
        users = {
            name: self.user(name, record)
            for name, record in self.mapping(top.get("users"), "users").items()
        }
        indexes = {
            name: self.index(name, raw, dumpversion)
            for name, raw in self.mapping(top.get("indexes"), "indexes").items()
        }
        if top.get(OURS):
            producer = f"devpi-twisted {top[OURS]}"
        else:
            producer = f"devpi-server {top.get('devpi_server', '(unknown version)')}"
        return Dump(self.directory, dumpversion, producer, users, indexes, self.notes)

    def user(self, name: str, raw: Any) -> dict[str, Any]:
        where = subkey("users", name)
        self.name(check_username, name, where)
        record = dict(self.mapping(raw, where))
        if record.get("pwhash") is not None:
            self.text(record["pwhash"], where + ".pwhash")
        return record

    def index(self, name: str, raw: Any, dumpversion: str) -> IndexDump:
        where = subkey("indexes", name)
        username, slash, indexname = name.partition("/")
        if not slash or "/" in indexname:
            raise self.fail(where, "an index is named user/index")
        self.name(check_username, username, where)
        self.name(check_indexname, indexname, where)
        raw = self.mapping(raw, where)
        config = dict(self.mapping(raw.get("indexconfig"), where + ".indexconfig"))
        self.text(config.get("type"), where + ".indexconfig.type")
        _migrate_config(config)
        if config["type"] == MIRROR:
            mirrored = len(self.listing(raw.get("files", []), where + ".files"))
            return IndexDump(name, config, mirrored_files=mirrored)
        projects = self.projects(raw.get("projects", {}), where + ".projects")
        files = [
            self.file(desc, f"{where}.files[{number}]", dumpversion)
            for number, desc in enumerate(self.listing(raw.get("files", []), where + ".files"))
        ]
        self.check_files(files)
        yanked = self.yanked(raw.get(OURS, {}), f"{where}.{OURS}")
        return IndexDump(name, config, projects, files, yanked)

    def projects(self, raw: Any, where: str) -> dict[str, dict[str, dict[str, Any]]]:
        """Projects by normalized name; spellings that normalize alike are merged (as devpi does)."""
        merged: dict[str, dict[str, dict[str, Any]]] = {}
        for name, versions in self.mapping(raw, where).items():
            project_where = subkey(where, name)
            project = self.project(name, project_where)
            for key, metadata in self.mapping(versions, project_where).items():
                version_where = subkey(project_where, key)
                metadata = dict(self.mapping(metadata, version_where))
                if not metadata.get("version"):
                    metadata["version"] = key
                    self.notes.append(f"{version_where}: no version in its metadata, using {key!r}")
                self.version(metadata["version"], version_where + ".version")
                metadata.setdefault("name", name)
                if normalize_project(self.text(metadata["name"], version_where + ".name")) != project:
                    raise self.fail(
                        version_where + ".name",
                        f"{metadata['name']!r} is not a name of project {project!r}",
                    )
                merged.setdefault(project, {})[metadata["version"]] = metadata
        return merged

    def file(self, raw: Any, where: str, dumpversion: str) -> FileDesc:
        desc = self.mapping(raw, where)
        kind = desc.get("type")
        if kind not in FILE_TYPES:
            raise self.fail(where + ".type", f"unknown file type {kind!r}")
        relpath = self.text(desc.get("relpath"), where + ".relpath")
        try:
            local_path(self.directory, relpath)
        except DumpError as error:
            raise self.fail(where + ".relpath", str(error))
        basename = relpath.rsplit("/", 1)[-1]
        version = desc.get("version")
        if version is None and dumpversion == "1":
            version = _version_from_basename(kind, basename)
        mapping = self.mapping(desc.get("entrymapping", {}), where + ".entrymapping")
        hashes = _hashes(mapping)
        for_entrypath = None
        if kind == TOXRESULT:
            for_entrypath = self.text(desc.get("for_entrypath"), where + ".for_entrypath")
            parts = relpath.split("/")
            algorithm, _, digest = parts[3].partition("=") if len(parts) == 5 else ("", "", "")
            if digest and hashes.get(algorithm) == digest:
                # devpi-server 6.5 to 6.8 recorded the release file's hash for tox results
                hashes = {}
        log = desc.get("log")
        if log is not None:
            self.listing(log, where + ".log")
        return FileDesc(
            type=kind,
            project=self.project(desc.get("projectname"), where + ".projectname"),
            version=self.version(version, where + ".version"),
            relpath=relpath,
            hashes=hashes,
            last_modified=_optional_text(mapping.get("last_modified")),
            upload_time=_optional_text(mapping.get("upload_time")),
            log=log,
            for_entrypath=for_entrypath,
            where=where,
        )

    def check_files(self, files: list[FileDesc]) -> None:
        """Each file listed once; each tox result next to its release file."""
        seen: set[str] = set()
        releases = {(f.project, f.version, f.basename) for f in files if f.type == RELEASEFILE}
        for desc in files:
            if desc.relpath in seen:
                raise self.fail(desc.where + ".relpath", f"{desc.relpath!r} is listed twice")
            seen.add(desc.relpath)
            if desc.type == TOXRESULT:
                target = desc.for_basename
                if (desc.project, desc.version, target) not in releases:
                    raise self.fail(
                        desc.where + ".for_entrypath",
                        f"no release file {target!r} of {desc.project} {desc.version} in this index",
                    )

    def yanked(self, raw: Any, where: str) -> dict[str, dict[str, Yanked]]:
        extras = self.mapping(raw, where)
        result: dict[str, dict[str, Yanked]] = {}
        for name, versions in self.mapping(extras.get("yanked", {}), where + ".yanked").items():
            project_where = subkey(where + ".yanked", name)
            for version, value in self.mapping(versions, project_where).items():
                if not isinstance(value, (bool, str)):
                    raise self.fail(subkey(project_where, version), "expected true or a reason")
                result.setdefault(self.project(name, project_where), {})[version] = value
        return result


def _optional_text(value: Any) -> Optional[str]:
    return value if isinstance(value, str) and value else None


def _hashes(mapping: dict[str, Any]) -> dict[str, str]:
    """The hashes an entry mapping records, from every spelling devpi used over the years."""
    raw = mapping.get("hashes")
    hashes = {
        str(algorithm): value.lower()
        for algorithm, value in (raw.items() if isinstance(raw, dict) else ())
        if isinstance(value, str)
    }
    if isinstance(mapping.get("md5"), str):
        hashes["md5"] = mapping["md5"].lower()
    spec = mapping.get("hash_spec")
    if isinstance(spec, str) and "=" in spec:
        algorithm, _, value = spec.partition("=")
        hashes[algorithm] = value.lower()
    return hashes


def _version_from_basename(kind: str, basename: str) -> Optional[str]:
    """dumpversion 1 lists no versions: read them from the file names."""
    if kind == DOCZIP:
        stem = basename[: -len(".doc.zip")] if basename.endswith(".doc.zip") else ""
        return stem.rpartition("-")[2] or None
    if kind == TOXRESULT:
        basename = basename.partition(".toxresult")[0]
    return version_from_filename(basename)


def _migrate_config(config: dict[str, Any]) -> None:
    """Index config keys older devpi-servers wrote, as devpi's importer migrates them."""
    if "uploadtrigger_jenkins" in config and not config["uploadtrigger_jenkins"]:
        del config["uploadtrigger_jenkins"]
    if "pypi_whitelist" in config:
        whitelist = config.pop("pypi_whitelist")
        config.setdefault("mirror_whitelist", whitelist)


def read_dump(directory: str) -> Dump:
    """Read and check C{directory}/dataindex.json; raises L{DumpError} naming what is wrong."""
    directory = os.path.abspath(directory)
    path = os.path.join(directory, DATAINDEX)
    if not os.path.isdir(directory):
        raise DumpError(f"there is no export directory at {directory}")
    try:
        with open(path, "rb") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise DumpError(f"{path} does not exist: {directory} is not an export directory")
    except (ValueError, UnicodeDecodeError) as error:
        raise DumpError(f"{path} is corrupt (not JSON): {error}")
    except OSError as error:
        raise DumpError(f"cannot read {path}: {error.strerror}")
    return _Reader(directory).dump(data)


def write_dataindex(directory: str, data: dict[str, Any]) -> None:
    """Write C{data} as C{directory}/dataindex.json (temp file, fsync, rename)."""
    write_atomically(os.path.join(directory, DATAINDEX), json.dumps(data, indent=2).encode("utf-8"))
