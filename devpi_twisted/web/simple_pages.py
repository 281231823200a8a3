"""Rendering simple pages: PEP 503 HTML and PEP 691 JSON with PEP 592/658/700/708/740/792 data."""

from __future__ import annotations

import json
from html import escape
from typing import Any, Optional

from devpi_twisted.model.links import ProjectLinks, ReleaseLink

#: The version project lists claim, and the least a project page claims.
API_VERSION = "1.1"
_HEAD = (
    '<!DOCTYPE html>\n<html lang="en"><head>'
    '<meta name="pypi:repository-version" content="{version}">'
    "{metas}<title>{title}</title></head><body><h1>{title}</h1>\n"
)
_TAIL = "</body></html>\n"


def _compact(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode("utf-8")


def api_version(page: ProjectLinks, as_json: bool) -> str:
    """
    The simple API version a project page claims: the least one defining
    every field it emits (PEP 708: 1.2, PEP 740: 1.3, PEP 792: 1.4). As JSON,
    1.0 when a file's size is unknown, since PEP 700 makes C{size} mandatory
    from 1.1 on (the page then leaves out every later field).
    """
    if as_json and any(link.size is None for link in page.links):
        return "1.0"
    if page.status:
        return "1.4"
    if any(link.provenance for link in page.links):
        return "1.3"
    if page.tracks or page.alternate_locations:
        return "1.2"
    return API_VERSION


def _provenance_url(link: ReleaseLink, prefix: str) -> Optional[str]:
    if link.provenance is None:
        return None
    return link.provenance if "://" in link.provenance else prefix + link.provenance


def _anchor(link: ReleaseLink, prefix: str) -> str:
    attributes = ""
    if link.requires_python:
        attributes += f' data-requires-python="{escape(link.requires_python)}"'
    if link.yanked is not False:
        reason = "" if link.yanked is True else str(link.yanked)
        attributes += f' data-yanked="{escape(reason)}"'
    if link.core_metadata_sha256 or link.core_metadata:
        spec = f"sha256={link.core_metadata_sha256}" if link.core_metadata_sha256 else "true"
        attributes += f' data-dist-info-metadata="{spec}" data-core-metadata="{spec}"'
    provenance = _provenance_url(link, prefix)
    if provenance is not None:
        attributes += f' data-provenance="{escape(provenance)}"'
    fragment = f"#sha256={link.sha256}" if link.sha256 else ""
    href = escape(f"{prefix}{link.relpath}{fragment}")
    return f'{escape(link.index)} <a href="{href}"{attributes}>{escape(link.filename)}</a><br>\n'


def _metas(page: ProjectLinks) -> str:
    """PEP 708 and PEP 792 C{<meta>} elements."""
    metas = [("pypi:tracks", url) for url in page.tracks]
    metas += [("pypi:alternate-locations", url) for url in page.alternate_locations]
    if page.status:
        metas.append(("pypi:project-status", page.status["status"]))
        if page.status.get("reason"):
            metas.append(("pypi:project-status-reason", page.status["reason"]))
    return "".join(f'<meta name="{name}" content="{escape(value)}">' for name, value in metas)


def project_html(page: ProjectLinks, index: str, prefix: str) -> bytes:
    """A project's links as HTML; C{prefix} leads from the page to the server root."""
    title = escape(f"{index}: links for {page.project}")
    parts = [_HEAD.format(version=api_version(page, False), metas=_metas(page), title=title)]
    if page.hidden_mirrors:
        mirrors = ", ".join(f"<strong>{escape(m)}</strong>" for m in page.hidden_mirrors)
        where = "named in" if page.merge_named_only else "in"
        parts.append(
            f"<p><strong>INFO:</strong> Because this project isn't {where} the "
            f"<code>mirror_whitelist</code>, no releases from {mirrors} are included.</p>\n"
        )
    parts.extend(_anchor(link, prefix) for link in page.links)
    parts.append(_TAIL)
    return "".join(parts).encode("utf-8")


def _file(link: ReleaseLink, prefix: str, version: str) -> dict[str, Any]:
    data: dict[str, Any] = {
        "filename": link.filename,
        "url": f"{prefix}{link.relpath}",
        "hashes": {"sha256": link.sha256} if link.sha256 else {},
    }
    if link.requires_python:
        data["requires-python"] = link.requires_python
    if link.yanked is not False:
        data["yanked"] = link.yanked
    if link.core_metadata_sha256 or link.core_metadata:
        spec: Any = {"sha256": link.core_metadata_sha256} if link.core_metadata_sha256 else True
        data["core-metadata"] = spec
        data["dist-info-metadata"] = spec
    if version == "1.0":
        return data
    data["size"] = link.size
    if link.upload_time is not None:
        data["upload-time"] = link.upload_time
    provenance = _provenance_url(link, prefix)
    if provenance is not None:
        data["provenance"] = provenance
    return data


def project_json(page: ProjectLinks, prefix: str) -> bytes:
    """A project's links as PEP 691 JSON, claiming the version of what it carries (L{api_version})."""
    version = api_version(page, True)
    data: dict[str, Any] = {"meta": {"api-version": version}, "name": page.project}
    if version != "1.0":
        data["versions"] = page.versions
        if page.tracks:
            data["tracks"] = list(page.tracks)
        if page.alternate_locations:
            data["alternate-locations"] = list(page.alternate_locations)
        if page.status:
            data["project-status"] = page.status
    data["files"] = [_file(link, prefix, version) for link in page.links]
    if page.hidden_mirrors:
        # private (PEP 691 reserves "_" keys): the mirrors left out by the whitelist rule
        data["_hidden-mirrors"] = page.hidden_mirrors
    return _compact(data)


def list_html(names: list[str], index: str, prefix: str) -> bytes:
    """An index's project list as HTML, linking C{prefix + name/}."""
    title = escape(f"{index}: simple list (including inherited indices)")
    parts = [_HEAD.format(version=API_VERSION, metas="", title=title)]
    parts.extend(
        f'<a href="{escape(prefix + name)}/">{escape(name)}</a><br>\n' for name in names
    )
    parts.append(_TAIL)
    return "".join(parts).encode("utf-8")


def list_json(names: list[str]) -> bytes:
    """An index's project list as PEP 691 JSON."""
    return _compact(
        {"meta": {"api-version": API_VERSION}, "projects": [{"name": n} for n in names]}
    )
