"""Filling a mirror's cache through a running server: the pages and files an install of some requirements needs."""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from typing import Any, Callable, Optional, TextIO
from urllib.parse import quote, urljoin

from packaging.markers import default_environment
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.tags import sys_tags
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from devpi_twisted import __version__
from devpi_twisted.dists.requirements import Wanted

SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
#: Characters the progress bar is wide.
BAR = 30


@dataclass(frozen=True)
class File:
    """A file to have in the cache: its project, name, URL on the server, size if known."""

    project: str
    filename: str
    url: str
    size: Optional[int]


@dataclass
class Plan:
    """What warming found: the files to fetch and what could not be had."""

    pages: int = 0
    files: dict[str, File] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


class Http:
    """GETs from the server (urllib: a command runs no reactor), JSON or bytes."""

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout
        self._agent = f"devpi-twisted-warm/{__version__}"

    def get(self, url: str, accept: str) -> bytes:
        request = urllib.request.Request(url, headers={"Accept": accept, "User-Agent": self._agent})
        with urllib.request.urlopen(request, timeout=self._timeout) as response:  # an offline command
            data: bytes = response.read()
            return data


def _version(filename: str) -> Optional[Version]:
    try:
        if filename.endswith(".whl"):
            return parse_wheel_filename(filename)[1]
        return parse_sdist_filename(filename)[1]
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        return None


class CacheFiller:
    """
    Resolves requirements greedily against index C{index} of the server at
    C{url} (the newest version that fits, its dependencies from the core
    metadata the server serves), collects the pinned files of lock files,
    then has the server fetch every file (C{Accept: application/json}: the
    server stores the file and answers with its record, nothing large comes
    here).
    """

    def __init__(self, url: str, index: str, http: Http, all_files: bool, follow_deps: bool) -> None:
        self._base = url.rstrip("/") + "/" + index.strip("/") + "/+simple/"
        self._http = http
        self._all_files = all_files
        self._follow = follow_deps
        self._tags = frozenset(sys_tags())
        self._environment = default_environment()
        self._python = Version(self._environment["python_full_version"])
        self._pages: dict[str, Optional[list[dict[str, Any]]]] = {}

    def page(self, plan: Plan, project: str) -> Optional[list[dict[str, Any]]]:
        """The files of a project's page (fetched once), with absolute URLs; None if it has none."""
        if project not in self._pages:
            url = self._base + quote(project) + "/"
            try:
                data = json.loads(self._http.get(url, SIMPLE_JSON))
                files = [dict(f, url=urljoin(url, f["url"]).split("#", 1)[0]) for f in data["files"]]
                plan.pages += 1
            except (urllib.error.URLError, OSError, ValueError, KeyError) as error:
                plan.problems.append(f"{project}: {error}")
                files = None
            self._pages[project] = files
        return self._pages[project]

    def plan(self, wanted: Wanted) -> Plan:
        """The files that C{wanted} needs."""
        plan = Plan()
        for locked in wanted.locked:
            listed = {f["filename"]: f for f in self.page(plan, locked.name) or []}
            for filename in locked.filenames:
                if filename in listed:
                    self._add(plan, locked.name, listed[filename])
                else:
                    plan.problems.append(f"{locked.name} {locked.version}: {filename} is not on the index")
        queue = list(wanted.requirements)
        chosen: set[tuple[str, str]] = set()
        while queue:
            requirement = queue.pop(0)
            project = canonicalize_name(requirement.name)
            found = self._choose(plan, project, requirement.specifier)
            if found is None or (project, str(found[0])) in chosen:
                continue
            version, files = found
            chosen.add((project, str(version)))
            for entry in files:
                self._add(plan, project, entry)
            if self._follow:
                queue.extend(self._dependencies(plan, project, files, requirement.extras))
        return plan

    def _add(self, plan: Plan, project: str, entry: dict[str, Any]) -> None:
        plan.files[entry["url"]] = File(project, entry["filename"], entry["url"], entry.get("size"))

    def _fits_python(self, entry: dict[str, Any]) -> bool:
        try:
            return self._all_files or self._python in SpecifierSet(entry.get("requires-python") or "")
        except InvalidSpecifier:
            return True

    def _installable(self, filename: str) -> bool:
        if not filename.endswith(".whl"):
            return False
        try:
            return bool(parse_wheel_filename(filename)[3] & self._tags)
        except InvalidWheelFilename:
            return False

    def _choose(
        self, plan: Plan, project: str, specifier: SpecifierSet
    ) -> Optional[tuple[Version, list[dict[str, Any]]]]:
        """The newest version that fits, and the files of it an install here would use."""
        by_version: dict[Version, list[dict[str, Any]]] = {}
        for entry in self.page(plan, project) or []:
            version = _version(entry["filename"])
            if version is not None and not entry.get("yanked") and self._fits_python(entry):
                by_version.setdefault(version, []).append(entry)
        fitting = list(specifier.filter(by_version))
        if not fitting:
            if self._pages.get(project) is not None:
                plan.problems.append(f"{project}: no version fits {specifier or 'any'}")
            return None
        version = max(fitting)
        files = by_version[version]
        if self._all_files:
            return version, files
        wheels = [f for f in files if self._installable(f["filename"])]
        return version, wheels[:1] or [f for f in files if not f["filename"].endswith(".whl")][:1]

    def _dependencies(
        self, plan: Plan, project: str, files: list[dict[str, Any]], extras: set[str]
    ) -> list[Requirement]:
        """The requirements of the chosen version that apply here, from a wheel's core metadata."""
        offering = [f for f in files if f["filename"].endswith(".whl") and f.get("core-metadata")]
        if not offering:
            if files:
                plan.problems.append(f"{project}: no wheel metadata, its dependencies are not followed")
            return []
        try:
            raw = self._http.get(offering[0]["url"] + ".metadata", "*/*")
        except (urllib.error.URLError, OSError) as error:
            plan.problems.append(f"{offering[0]['filename']}.metadata: {error}")
            return []
        found = []
        for text in BytesHeaderParser().parsebytes(raw).get_all("Requires-Dist") or []:
            try:
                requirement = Requirement(text)
            except InvalidRequirement:
                continue
            marker = requirement.marker
            if marker is None or any(
                marker.evaluate({"extra": extra}) for extra in [""] + sorted(extras)
            ):
                found.append(requirement)
        return found

    def fetch(self, plan: Plan, jobs: int, progress: Callable[[File, Optional[str]], None]) -> None:
        """Have the server store every file of C{plan}, C{jobs} at a time."""

        def one(file: File) -> tuple[File, Optional[str]]:
            try:
                self._http.get(file.url, "application/json")
                return file, None
            except (urllib.error.URLError, OSError) as error:
                return file, str(error)

        with ThreadPoolExecutor(max_workers=jobs) as pool:
            for file, problem in pool.map(one, plan.files.values()):
                progress(file, problem)


class ProgressBar:
    """Files and bytes done, redrawn in place on a terminal, one summary line otherwise."""

    def __init__(self, total: list[File], out: TextIO = sys.stderr) -> None:
        self._files = len(total)
        self._bytes = sum(f.size or 0 for f in total)
        self._done = 0
        self._done_bytes = 0
        self._out = out
        self._live = out.isatty()

    def __call__(self, file: File, problem: Optional[str]) -> None:
        self._done += 1
        self._done_bytes += file.size or 0
        if problem is not None:
            self._out.write(("\n" if self._live else "") + f"{file.filename}: {problem}\n")
        if self._live:
            self._out.write("\r" + self.line())
            self._out.flush()

    def line(self) -> str:
        filled = BAR * self._done // max(1, self._files)
        mib = f"{self._done_bytes / 2**20:.1f}/{self._bytes / 2**20:.1f} MiB"
        return f"[{'#' * filled}{'.' * (BAR - filled)}] {self._done}/{self._files} files {mib}"

    def close(self) -> None:
        self._out.write(("\r" if self._live else "") + self.line() + "\n")
