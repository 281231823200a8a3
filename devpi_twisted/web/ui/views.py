"""What each UI page shows, read from the store into plain records (no HTML here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from devpi_twisted.dists.filenames import dist_type, is_wheel
from devpi_twisted.dists.errors import InvalidDistribution
from devpi_twisted.model import keys, mirrors
from devpi_twisted.model.indexes import MIRROR, get_index
from devpi_twisted.model.links import ReleaseLink, mirror_links, project_versions
from devpi_twisted.model.releases import DOCZIP, RELEASEFILE, TOXRESULT, Yanked, version_key
from devpi_twisted.model.records import IndexConfig
from devpi_twisted.model.state import StateReader

#: Metadata shown as a list of values, by its record key and label.
_LISTED = (
    ("classifiers", "Classifiers"),
    ("requires_dist", "Requires"),
    ("provides_extras", "Extras"),
    ("platform", "Platform"),
    ("project_urls", "Project URLs"),
)
#: Metadata shown as one value.
_SINGLE = (
    ("summary", "Summary"),
    ("author", "Author"),
    ("author_email", "Author e-mail"),
    ("maintainer", "Maintainer"),
    ("maintainer_email", "Maintainer e-mail"),
    ("license", "License"),
    ("license_expression", "License"),
    ("home_page", "Home page"),
    ("download_url", "Download URL"),
    ("keywords", "Keywords"),
    ("requires_python", "Requires Python"),
    ("metadata_version", "Metadata version"),
)


@dataclass(frozen=True)
class Page:
    """Which slice of a long list a page shows."""

    number: int
    size: int
    total: int

    @property
    def start(self) -> int:
        return (self.number - 1) * self.size

    @property
    def last(self) -> int:
        return max(1, -(-self.total // self.size))


@dataclass(frozen=True)
class IndexSummary:
    name: str
    type: str
    title: str


@dataclass(frozen=True)
class UserSummary:
    name: str
    title: str
    indexes: list[IndexSummary]


@dataclass(frozen=True)
class ProjectRow:
    """A project on an index page: its newest version and whether that has docs."""

    name: str
    version: Optional[str]
    summary: str
    files: int
    has_docs: bool


@dataclass(frozen=True)
class IndexView:
    name: str
    config: IndexConfig
    projects: list[ProjectRow]
    #: The names of a mirror's page (mirrors list names only).
    names: list[str]
    page: Page
    upstream_url: Optional[str] = None

    @property
    def is_mirror(self) -> bool:
        return self.config["type"] == MIRROR


@dataclass(frozen=True)
class VersionRow:
    version: str
    index: str
    yanked: Yanked
    has_docs: bool
    files: int


@dataclass(frozen=True)
class MirrorFile:
    """A file of a mirror project's upstream page, and whether it is cached here."""

    link: ReleaseLink
    cached: bool


@dataclass(frozen=True)
class ProjectView:
    index: str
    project: str
    versions: list[VersionRow]
    #: The newest version with docs (None: no docs).
    docs_version: Optional[str]
    #: Upstream files from the mirrors the project comes through, newest first.
    mirror_files: list[MirrorFile]
    mirror_web_url: Optional[str]
    page: Page


@dataclass(frozen=True)
class ToxLink:
    """A tox result of one release file."""

    name: str
    relpath: str
    sha256: str


@dataclass(frozen=True)
class FileRow:
    filename: str
    relpath: str
    size: Optional[int]
    type: str
    python_tag: str
    sha256: str
    upload_time: str
    uploader: str
    toxresults: list[ToxLink] = field(default_factory=list)


@dataclass(frozen=True)
class VersionView:
    index: str
    project: str
    version: str
    #: Where the version is stored (an index inherited through bases, or C{index}).
    stored_on: str
    name: str
    fields: list[tuple[str, str]]
    lists: list[tuple[str, list[str]]]
    description: str
    description_content_type: str
    files: list[FileRow]
    has_docs: bool
    newer: Optional[str]
    yanked: Yanked


def _split(name: str) -> tuple[str, str]:
    username, _, indexname = name.partition("/")
    return username, indexname


def users_and_indexes(state: StateReader) -> list[UserSummary]:
    """Every user with its indexes, for the root page."""
    result = []
    for username in state.children(keys.USERS):
        user = state.get(keys.user(username)) or {}
        summaries = []
        for indexname in state.children(keys.indexes_of(username)):
            config = state.get(keys.index(username, indexname)) or {}
            summaries.append(
                IndexSummary(f"{username}/{indexname}", config.get("type", ""), config.get("title", ""))
            )
        result.append(UserSummary(username, user.get("title", ""), summaries))
    return result


def page_of(total: int, number: int, size: int) -> Page:
    """Page C{number} (from 1, clamped to the pages there are) of C{total} items."""
    last = max(1, -(-total // size))
    return Page(min(max(1, number), last), size, total)


def _latest(state: StateReader, name: str, project: str) -> tuple[Optional[str], dict[str, Any]]:
    username, indexname = _split(name)
    versions = state.children(keys.versions_of(username, indexname, project))
    if not versions:
        return None, {}
    newest = max(versions, key=version_key)
    return newest, state.get(keys.version(username, indexname, project, newest)) or {}


def _count(record: dict[str, Any], rel: str) -> int:
    return sum(1 for link in record.get("+elinks", []) if link["rel"] == rel)


def stage_index(state: StateReader, name: str, number: int, size: int) -> IndexView:
    """A stage index's page: config and one page of its projects with their newest versions."""
    username, indexname = _split(name)
    config = get_index(state, username, indexname)
    projects = state.children(keys.projects_of(username, indexname))
    page = page_of(len(projects), number, size)
    rows = []
    for project in projects[page.start : page.start + size]:
        version, record = _latest(state, name, project)
        rows.append(
            ProjectRow(
                (state.get(keys.project(username, indexname, project)) or {}).get("name", project),
                version,
                record.get("summary", ""),
                _count(record, RELEASEFILE),
                _count(record, DOCZIP) > 0,
            )
        )
    return IndexView(name, config, rows, [], page)


def mirror_index(
    state: StateReader, name: str, names: list[str], number: int, size: int
) -> IndexView:
    """A mirror's page: config and one page of the names it offers (in upstream order)."""
    config = get_index(state, *_split(name))
    page = page_of(len(names), number, size)
    return IndexView(
        name, config, [], names[page.start : page.start + size], page, mirrors.upstream_url(config)
    )


def mirror_web_url(config: IndexConfig, project: str) -> Optional[str]:
    """The upstream's web page of a project, when the mirror says where those are."""
    fmt = config.get("mirror_web_url_fmt")
    return fmt.format(name=project) if fmt else None


def project_view(
    state: StateReader,
    name: str,
    project: str,
    mirrors_in_order: list[tuple[str, IndexConfig]],
    number: int,
    size: int,
) -> ProjectView:
    """
    A project's page: its versions through the bases (where each is from),
    and the upstream files of the mirrors it comes through, cached or not.
    """
    found = project_versions(state, name, project)
    ordered = sorted(found, key=version_key, reverse=True)
    rows = [
        VersionRow(
            version,
            found[version][0],
            found[version][1].get("yanked", False),
            _count(found[version][1], DOCZIP) > 0,
            _count(found[version][1], RELEASEFILE),
        )
        for version in ordered
    ]
    docs = next((row.version for row in rows if row.has_docs), None)
    files: list[MirrorFile] = []
    web_url = None
    for mirror, config in mirrors_in_order:
        links = mirror_links(state, mirror, project)
        if links is None:
            continue
        web_url = web_url or mirror_web_url(config, project)
        files.extend(
            MirrorFile(link, state.get(keys.file(link.relpath)) is not None) for link in links
        )
    files.sort(key=lambda f: (version_key(f.link.version), f.link.filename), reverse=True)
    total = max(len(rows), len(files))
    page = page_of(total, number, size)
    return ProjectView(
        name,
        project,
        rows[page.start : page.start + size],
        docs,
        files[page.start : page.start + size],
        web_url,
        page,
    )


def python_tag(filename: str) -> str:
    """The Python tag of a wheel (C{py3}, C{cp312}), C{source} for an sdist, else ""."""
    if is_wheel(filename):
        parts = filename[:-4].split("-")
        return parts[-3] if len(parts) >= 5 else ""
    return "source" if _file_type(filename) == "sdist" else ""


def _file_type(filename: str) -> str:
    try:
        return dist_type(filename)
    except InvalidDistribution:
        return ""


def _uploader(link: dict[str, Any]) -> str:
    for entry in link.get("_log", []):
        if entry.get("what") in ("upload", "push", "overwrite") and entry.get("who"):
            return str(entry["who"])
    return ""


def version_view(state: StateReader, name: str, project: str, version: str) -> Optional[VersionView]:
    """A version's page: filled-in metadata, files with their tox results; None if there is no such version."""
    found = project_versions(state, name, project)
    if version not in found:
        return None
    stored_on, record = found[version]
    links = record.get("+elinks", [])
    toxresults: dict[str, list[ToxLink]] = {}
    for link in links:
        if link["rel"] == TOXRESULT:
            toxresults.setdefault(link["for_entrypath"], []).append(
                ToxLink(link["entrypath"].rsplit("/", 1)[-1], link["entrypath"], link["hashes"]["sha256"])
            )
    files = []
    for link in links:
        if link["rel"] != RELEASEFILE:
            continue
        entry = state.get(keys.file(link["entrypath"])) or {}
        filename = link["entrypath"].rsplit("/", 1)[-1]
        files.append(
            FileRow(
                filename,
                link["entrypath"],
                entry.get("size"),
                _file_type(filename),
                python_tag(filename),
                link["hashes"]["sha256"],
                entry.get("upload_time", ""),
                _uploader(link),
                toxresults.get(link["entrypath"], []),
            )
        )
    fields = [(label, str(record[key])) for key, label in _SINGLE if record.get(key) not in (None, "", [])]
    lists = []
    for key, label in _LISTED:
        values = record.get(key)
        if values:
            lists.append((label, [str(v) for v in (values if isinstance(values, list) else [values])]))
    newest = max(found, key=version_key)
    return VersionView(
        index=name,
        project=project,
        version=version,
        stored_on=stored_on,
        name=record.get("name", project),
        fields=fields,
        lists=lists,
        description=record.get("description") or "",
        description_content_type=record.get("description_content_type") or "",
        files=files,
        has_docs=_count(record, DOCZIP) > 0,
        newer=newest if version_key(newest) > version_key(version) else None,
        yanked=record.get("yanked", False),
    )
