"""Rendering simple pages: PEP 503 HTML and PEP 691 JSON with PEP 592/658/700 data."""

from __future__ import annotations

import json
from html import escape
from typing import Any

from devpi_twisted.model.links import ProjectLinks, ReleaseLink

API_VERSION = "1.1"
_HEAD = (
    '<!DOCTYPE html>\n<html lang="en"><head>'
    f'<meta name="pypi:repository-version" content="{API_VERSION}">'
    "<title>{title}</title></head><body><h1>{title}</h1>\n"
)
_TAIL = "</body></html>\n"


def _compact(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode("utf-8")


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
    fragment = f"#sha256={link.sha256}" if link.sha256 else ""
    href = escape(f"{prefix}{link.relpath}{fragment}")
    return f'{escape(link.index)} <a href="{href}"{attributes}>{escape(link.filename)}</a><br>\n'


def project_html(page: ProjectLinks, index: str, prefix: str) -> bytes:
    """A project's links as HTML; C{prefix} leads from the page to the server root."""
    parts = [_HEAD.format(title=escape(f"{index}: links for {page.project}"))]
    if page.hidden_mirrors:
        mirrors = ", ".join(f"<strong>{escape(m)}</strong>" for m in page.hidden_mirrors)
        parts.append(
            "<p><strong>INFO:</strong> Because this project isn't in the "
            f"<code>mirror_whitelist</code>, no releases from {mirrors} are included.</p>\n"
        )
    parts.extend(_anchor(link, prefix) for link in page.links)
    parts.append(_TAIL)
    return "".join(parts).encode("utf-8")


def _file(link: ReleaseLink, prefix: str) -> dict[str, Any]:
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
    if link.size is not None:
        data["size"] = link.size
    if link.upload_time is not None:
        data["upload-time"] = link.upload_time
    return data


def project_json(page: ProjectLinks, prefix: str) -> bytes:
    """A project's links as PEP 691 JSON (API version 1.1, with PEP 700 data)."""
    return _compact(
        {
            "meta": {"api-version": API_VERSION},
            "name": page.project,
            "versions": page.versions,
            "files": [_file(link, prefix) for link in page.links],
        }
    )


def list_html(names: list[str], index: str, prefix: str) -> bytes:
    """An index's project list as HTML, linking C{prefix + name/}."""
    parts = [_HEAD.format(title=escape(f"{index}: simple list (including inherited indices)"))]
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
