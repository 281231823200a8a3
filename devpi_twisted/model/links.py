"""What an index serves for a project: release links and versions through its bases."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Optional

from devpi_twisted.dists.filenames import is_wheel, version_from_filename
from devpi_twisted.model import keys, mirrors
from devpi_twisted.model.indexes import MIRROR
from devpi_twisted.model.inherit import Resolution, project_visibility, resolution_order
from devpi_twisted.model.releases import PROVENANCE_SUFFIX, RELEASEFILE, Yanked, version_key, version_names
from devpi_twisted.model.state import StateReader
from devpi_twisted.model.records import IndexConfig, VersionRecord


@dataclass(frozen=True)
class ReleaseLink:
    """One installable file as a simple page lists it."""

    index: str
    filename: str
    relpath: str
    sha256: Optional[str]
    version: str
    requires_python: Optional[str]
    yanked: Yanked
    core_metadata_sha256: Optional[str]
    size: Optional[int]
    upload_time: Optional[str]
    #: The file's core metadata is served even though its hash is unknown (PEP 714 "true").
    core_metadata: bool = False
    #: PEP 740: an absolute URL (upstream's), or a relpath on this server.
    provenance: Optional[str] = None


@dataclass(frozen=True)
class ProjectLinks:
    """A project's links on an index, and what the page should tell about it."""

    project: str
    links: list[ReleaseLink]
    versions: list[str]
    hidden_mirrors: list[str]
    missing_bases: list[str]
    exists: bool
    #: PEP 792: the project's status where not plain "active" ({"status", "reason"})
    status: Optional[dict[str, str]] = None
    #: PEP 708: the upstream project pages a page that only mirrors them tracks
    tracks: tuple[str, ...] = ()
    #: PEP 708: the upstream project pages a page merges with its own uploads (whitelisted)
    alternate_locations: tuple[str, ...] = ()
    #: the index merges only projects its whitelist names (C{mirror_merge_named_only})
    merge_named_only: bool = False


def _split(name: str) -> tuple[str, str]:
    username, _, indexname = name.partition("/")
    return username, indexname


def _holds(state: StateReader, name: str, project: str) -> bool:
    return state.get(keys.project(*_split(name), project)) is not None


def stage_links(state: StateReader, name: str, project: str) -> list[ReleaseLink]:
    """The release files of a project stored on one stage index."""
    username, indexname = _split(name)
    links = []
    for version in version_names(state, username, indexname, project):
        record = state.get(keys.version(username, indexname, project, version))
        for link in record["+elinks"]:
            if link["rel"] != RELEASEFILE:
                continue
            entry: dict[str, Any] = state.get(keys.file(link["entrypath"])) or {}
            links.append(
                ReleaseLink(
                    index=name,
                    filename=link["entrypath"].rsplit("/", 1)[-1],
                    relpath=link["entrypath"],
                    sha256=link["hashes"]["sha256"],
                    version=version,
                    requires_python=record.get("requires_python"),
                    yanked=record.get("yanked", False),
                    core_metadata_sha256=entry.get("core_metadata_sha256"),
                    size=entry.get("size"),
                    upload_time=entry.get("upload_time"),
                    provenance=link["entrypath"] + PROVENANCE_SUFFIX
                    if entry.get("provenance_sha256")
                    else None,
                )
            )
    return links


def mirror_links(state: StateReader, name: str, project: str) -> Optional[list[ReleaseLink]]:
    """The links of a project's cached upstream page on mirror C{name}, or None."""
    username, indexname = _split(name)
    page = mirrors.get_page(state, username, indexname, project)
    if page is None:
        return None
    links = []
    for link in page["links"]:
        relpath = mirrors.link_relpath(username, indexname, link)
        entry: dict[str, Any] = state.get(keys.file(relpath)) or {}
        metadata_sha256, offered = served_core_metadata(state, relpath, link, entry)
        links.append(
            ReleaseLink(
                index=name,
                filename=link["filename"],
                relpath=relpath,
                sha256=link["hashes"].get("sha256"),
                version=version_from_filename(link["filename"]) or "",
                requires_python=link.get("requires_python"),
                yanked=link.get("yanked", False),
                core_metadata_sha256=metadata_sha256,
                size=link.get("size") if link.get("size") is not None else entry.get("size"),
                upload_time=link.get("upload_time"),
                core_metadata=offered,
                provenance=link.get("provenance"),
            )
        )
    return links


def served_core_metadata(
    state: StateReader, relpath: str, link: dict[str, Any], entry: dict[str, Any]
) -> tuple[Optional[str], bool]:
    """
    The sha256 of the core metadata a mirror serves for a file (None while
    it is not fetched yet and upstream gave no hash), and whether it is
    served at all: every wheel's is (from upstream's C{.metadata}, by Range
    or from the whole wheel) unless the stored wheel turned out to have
    none; other files' only when upstream offers it.
    """
    stored = state.get(keys.file(relpath + ".metadata"))
    upstream = link.get("core_metadata") or False
    if stored is not None:
        return stored["sha256"], True
    if entry.get("core_metadata_sha256"):
        return entry["core_metadata_sha256"], True
    if entry and is_wheel(link["filename"]):
        return None, False
    sha256 = upstream.get("sha256") if isinstance(upstream, dict) else None
    return sha256, bool(upstream) or is_wheel(link["filename"])


def project_links(state: StateReader, name: str, project: str) -> ProjectLinks:
    """
    A project's links on index C{name} (normalized project name): its own
    and its bases', in resolution order, each filename once (first wins),
    with mirrors left out where devpi's whitelist rule says so. Mirrors
    contribute their cached upstream pages (refreshing them is the caller's).
    """
    resolution = resolution_order(state, name)
    visibility = project_visibility(
        resolution, project, lambda index: _holds(state, index, project)
    )
    configs = dict(resolution.order)
    links: list[ReleaseLink] = []
    seen: set[str] = set()
    exists = False
    status: Optional[dict[str, str]] = None
    upstream: list[str] = []
    own = False
    for index in visibility.included:
        if configs[index]["type"] == MIRROR:
            found = mirror_links(state, index, project)
            if found is not None:
                status = status or mirror_status(state, index, project)
                upstream.append(mirrors.upstream_project_url(configs[index], project))
        else:
            found = stage_links(state, index, project) if _holds(state, index, project) else None
            own = own or found is not None
        if found is None:
            continue
        exists = True
        for link in found:
            if link.filename not in seen:
                seen.add(link.filename)
                links.append(link)
    links.sort(key=lambda link: (version_key(link.version), link.filename), reverse=True)
    versions = sorted({link.version for link in links if link.version}, key=version_key)
    return ProjectLinks(
        project,
        links,
        versions,
        visibility.hidden_mirrors,
        resolution.missing,
        exists,
        status,
        tracks=() if own else tuple(upstream),
        alternate_locations=tuple(upstream) if own else (),
        merge_named_only=bool(resolution.order and resolution.order[0][1].get("mirror_merge_named_only")),
    )


def installable_offline(state: StateReader, page: ProjectLinks) -> ProjectLinks:
    """What an offline server's page shows: only the links whose files are here (installers cannot get the others)."""
    kept = [link for link in page.links if state.get(keys.file(link.relpath)) is not None]
    versions = {link.version for link in kept}
    return replace(page, links=kept, versions=[v for v in page.versions if v in versions])


def mirror_status(state: StateReader, name: str, project: str) -> Optional[dict[str, str]]:
    """The PEP 792 status upstream gave a project on mirror C{name}, if any."""
    page = mirrors.get_page(state, *_split(name), project)
    return None if page is None else page.get("status")


def mirrors_to_refresh(state: StateReader, name: str, project: str) -> list[tuple[str, IndexConfig]]:
    """The mirrors whose upstream page a project's page on C{name} needs, with their configs."""
    resolution = resolution_order(state, name)
    visibility = project_visibility(
        resolution, project, lambda index: _holds(state, index, project)
    )
    configs = dict(resolution.order)
    return [(index, configs[index]) for index in visibility.included if configs[index]["type"] == MIRROR]


def project_names(
    state: StateReader, name: str, mirror_names: Optional[dict[str, list[str]]] = None
) -> list[str]:
    """
    Every project an index serves, its own and its bases', in order, once
    each; C{mirror_names} gives the project lists of the mirrors in the order.
    """
    names: dict[str, None] = {}
    for index, config in resolution_order(state, name).order:
        if config["type"] == MIRROR:
            found = (mirror_names or {}).get(index, [])
        else:
            found = state.children(keys.projects_of(*_split(index)))
        for project in found:
            names.setdefault(project, None)
    return list(names)


def mirrors_in_order(state: StateReader, name: str) -> list[tuple[str, IndexConfig]]:
    """The mirror indexes in the resolution order of C{name}, with their configs."""
    return [
        (index, config)
        for index, config in resolution_order(state, name).order
        if config["type"] == MIRROR
    ]


def project_versions(
    state: StateReader, name: str, project: str, ignore_bases: bool = False
) -> dict[str, tuple[str, VersionRecord]]:
    """
    Every version of a project visible on index C{name}, mapped to the index
    holding it and its record; the first index in resolution order wins.
    """
    resolution: Resolution = resolution_order(state, name)
    if ignore_bases:
        resolution = Resolution(resolution.order[:1])
    visibility = project_visibility(
        resolution, project, lambda index: _holds(state, index, project)
    )
    configs = dict(resolution.order)
    found: dict[str, tuple[str, VersionRecord]] = {}
    for index in visibility.included:
        if configs[index]["type"] == MIRROR:
            continue
        username, indexname = _split(index)
        for version in version_names(state, username, indexname, project):
            if version not in found:
                record = state.get(keys.version(username, indexname, project, version))
                found[version] = (index, record)
    return found
