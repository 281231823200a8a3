"""Reading upstream simple pages: PEP 691 JSON and PEP 503 HTML, robustly."""

from __future__ import annotations

import hashlib
import html
import json
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from types import MappingProxyType
from typing import Any, Iterable, Mapping, Optional, Union
from urllib.parse import quote, unquote, urljoin, urlsplit

from packaging.utils import canonicalize_name

from devpi_twisted.dists.filenames import PROJECT_NAME_RE

#: What a mirror asks upstream for: PEP 691 JSON first, HTML as a fallback.
ACCEPT = (
    b"application/vnd.pypi.simple.v1+json, "
    b"application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01"
)

#: The major version of the simple API (PEP 629, PEP 691) this module reads.
SUPPORTED_MAJOR = 1

JSON_TYPES = frozenset(
    {
        "application/vnd.pypi.simple.v1+json",
        "application/vnd.pypi.simple.latest+json",
        "application/json",
    }
)
HTML_TYPES = frozenset(
    {
        "text/html",
        "application/vnd.pypi.simple.v1+html",
        "application/vnd.pypi.simple.latest+html",
        "application/xhtml+xml",
    }
)
_SIMPLE_TYPE_PREFIX = "application/vnd.pypi.simple."

_STARTS_LIKE_JSON = re.compile(rb"(?:\xef\xbb\xbf)?[ \t\r\n]*\{")
_CHARSET = re.compile(r";\s*charset\s*=\s*[\"']?([^\s;\"']+)", re.IGNORECASE)
_UNSAFE_IN_FILENAME = re.compile(r"[/\\\x00-\x1f\x7f-\x9f]")
_HEX = re.compile(r"[0-9a-fA-F]+")
_HTTP_URL = re.compile(r"https?://", re.IGNORECASE)
# spaces, control and non-ASCII characters in a link are percent-encoded (as UTF-8)
_NEEDS_QUOTING = re.compile(r"[^\x21-\x7e]")
_URL_SAFE = "!#$%&'()*+,/:;=?@[]~"
_API_VERSION = re.compile(r"\s*(\d+)(?:\.\d+)*\s*")


def _hex_lengths() -> Mapping[str, Optional[int]]:
    """hashlib's algorithm names -> hex digest length (None: any length, the shakes)."""
    lengths: dict[str, Optional[int]] = {}
    for name in sorted(hashlib.algorithms_available | hashlib.algorithms_guaranteed):
        name = name.lower()
        if name.startswith("shake_"):
            lengths[name] = None
            continue
        try:
            lengths[name] = hashlib.new(name).digest_size * 2
        except ValueError:  # listed but not usable here (e.g. FIPS mode)
            continue
    return MappingProxyType(lengths)


_HEX_LENGTHS = _hex_lengths()


class UpstreamPageError(Exception):
    """An upstream simple page cannot be understood; C{message} says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class UpstreamLink:
    """One release file listed on an upstream project page."""

    filename: str
    url: str
    hashes: dict[str, str]
    requires_python: Optional[str] = None
    yanked: Union[bool, str] = False
    core_metadata: Union[bool, dict[str, str]] = False
    size: Optional[int] = None
    upload_time: Optional[str] = None
    #: PEP 740: the absolute URL of the file's provenance
    provenance: Optional[str] = None


@dataclass(frozen=True)
class UpstreamPage:
    """An upstream project page: its links in page order, PEP 700 versions and PEP 792 status if given."""

    links: tuple[UpstreamLink, ...]
    versions: Optional[tuple[str, ...]] = None
    #: PEP 792: C{{"status": ..., "reason": ...}} (reason optional)
    status: Optional[dict[str, str]] = None


# -- content types and decoding --------------------------------------------------------


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def is_json(content_type: str) -> bool:
    """Whether C{content_type} announces a PEP 691 JSON page."""
    return _media_type(content_type) in JSON_TYPES


def _reads_as_json(body: bytes, content_type: str) -> bool:
    """JSON or HTML, by content type; a missing or unknown type is sniffed."""
    media = _media_type(content_type)
    if media in JSON_TYPES:
        return True
    if media in HTML_TYPES:
        return False
    if media.startswith(_SIMPLE_TYPE_PREFIX):
        raise UpstreamPageError(f"unsupported simple API content type {media!r}")
    return _STARTS_LIKE_JSON.match(body) is not None


def _load_json(body: bytes) -> dict[str, Any]:
    """The top-level object of a PEP 691 page, its api-version checked."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UpstreamPageError("upstream JSON page is not UTF-8") from None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as error:
        raise UpstreamPageError(f"upstream JSON page is not valid JSON: {error}") from None
    if not isinstance(data, dict):
        raise UpstreamPageError("upstream JSON page is not a JSON object")
    meta = data.get("meta")
    if not isinstance(meta, dict):
        raise UpstreamPageError("upstream JSON page has no 'meta' object")
    _check_api_version(meta.get("api-version"))
    return data


def _check_api_version(version: object, *, strict: bool = True) -> None:
    """Refuse a simple API version whose major version is not the one supported.

    An unreadable version is refused too, unless not C{strict} (then it is ignored).
    """
    match = _API_VERSION.fullmatch(version) if isinstance(version, str) else None
    if match is None:
        if not strict:
            return
        raise UpstreamPageError(f"upstream page has an invalid api-version {version!r}")
    if int(match.group(1)) != SUPPORTED_MAJOR:
        found = match.group(0).strip()
        raise UpstreamPageError(f"upstream page has unsupported api-version {found!r}")


def _decode_html(body: bytes, content_type: str) -> str:
    """The text of an HTML page: its declared charset, else UTF-8, else latin-1."""
    match = _CHARSET.search(content_type)
    text = None
    for encoding in (match.group(1) if match else None, "utf-8"):
        if encoding is None:
            continue
        try:
            text = body.decode(encoding)
            break
        except (LookupError, UnicodeDecodeError):
            continue
    if text is None:
        text = body.decode("latin-1")
    if "\x00" in text:
        raise UpstreamPageError("upstream page is not text (it contains NUL bytes)")
    return text.removeprefix("\ufeff")


# -- HTML ------------------------------------------------------------------------------


#: the PEP 792 <meta> names read from HTML pages
_STATUS_METAS = ("pypi:project-status", "pypi:project-status-reason")

# Fed last: every construct left open then ends at its ">", so html.parser does
# not rescan the rest of the page once per "<" (quadratic before CVE-2025-6069's fix).
_END_SENTINEL = "<devpi-twisted-end-of-page>"


class _Anchors(HTMLParser):
    """Collects C{<a href>} attributes and texts, the first C{<base href>}, the PEP 629 version."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.anchors: list[tuple[dict[str, Optional[str]], str]] = []
        self.base: Optional[str] = None
        self.repository_version: Optional[str] = None
        self.metas: dict[str, str] = {}
        self._attrs: Optional[dict[str, Optional[str]]] = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, Optional[str]]]) -> None:
        if tag == "a":
            self._finish()
            first: dict[str, Optional[str]] = {}
            for key, value in attrs:
                first.setdefault(key, value)
            if first.get("href") is not None:
                self._attrs = first
        elif tag == "base" and self.base is None:
            href = dict(attrs).get("href")
            if href is not None:
                self.base = href
        elif tag == "meta":
            values = dict(attrs)
            name = (values.get("name") or "").strip().lower()
            if name == "pypi:repository-version" and self.repository_version is None:
                self.repository_version = values.get("content") or ""
            elif name in _STATUS_METAS:
                self.metas.setdefault(name, values.get("content") or "")

    def parse_marked_section(self, i: int, report: bool = True) -> int:
        """A C{<![...]>} section html.parser cannot read is skipped like a bogus comment."""
        try:
            return super().parse_marked_section(i, report)
        except AssertionError:
            return self.parse_bogus_comment(i)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._finish()

    def handle_data(self, data: str) -> None:
        if self._attrs is not None:
            self._text.append(data)

    def close(self) -> None:
        self.feed(_END_SENTINEL)
        super().close()
        self._finish()

    def _finish(self) -> None:
        if self._attrs is not None:
            text = "".join(self._text).removesuffix(_END_SENTINEL)
            self.anchors.append((self._attrs, text.strip()))
        self._attrs = None
        self._text = []


def _read_html(body: bytes, content_type: str) -> _Anchors:
    parser = _Anchors()
    try:
        parser.feed(_decode_html(body, content_type))
        parser.close()
    except (AssertionError, ValueError) as error:  # html.parser's rare give-ups
        raise UpstreamPageError(f"upstream HTML page cannot be parsed: {error}") from None
    if parser.repository_version is not None:
        _check_api_version(parser.repository_version, strict=False)
    return parser


def _html_links(parser: _Anchors, page_url: str) -> list[UpstreamLink]:
    base = page_url if parser.base is None else urljoin(page_url, parser.base.strip())
    links = []
    for attrs, text in parser.anchors:
        href = (attrs.get("href") or "").strip()
        if not href:
            continue
        resolved = _resolve(base, href)
        if resolved is None:
            continue
        url, fragment = resolved
        metadata = _attribute(attrs, "data-core-metadata", "data-dist-info-metadata")
        yanked = _attribute(attrs, "data-yanked")
        provenance = _attribute(attrs, "data-provenance")
        links.append(
            UpstreamLink(
                filename=text or _basename(url),
                url=url,
                hashes=_fragment_hashes(fragment),
                requires_python=_html_requires_python(attrs.get("data-requires-python")),
                yanked=False if yanked is None else _yanked(yanked),
                core_metadata=_html_metadata(metadata),
                provenance=_provenance(base, provenance),
            )
        )
    return links


def _provenance(base: str, value: object) -> Optional[str]:
    """A PEP 740 provenance URL made absolute; None unless it is an http(s) URL."""
    if not isinstance(value, str) or not value.strip():
        return None
    resolved = _resolve(base, value.strip())
    return None if resolved is None else resolved[0]


#: PEP 792's project states
PROJECT_STATES = frozenset({"active", "archived", "quarantined", "deprecated"})


def _status(status: object, reason: object) -> Optional[dict[str, str]]:
    """A PEP 792 project status; None when absent, unknown, or plain "active" without reason."""
    if not isinstance(status, str) or status.strip().lower() not in PROJECT_STATES:
        return None
    found = {"status": status.strip().lower()}
    if isinstance(reason, str) and reason.strip():
        found["reason"] = reason.strip()
    return None if found == {"status": "active"} else found


def _attribute(attrs: dict[str, Optional[str]], *names: str) -> Optional[str]:
    """The first of the named attributes present (C{""} when it has no value), else None."""
    for name in names:
        if name in attrs:
            return attrs[name] or ""
    return None


def _html_requires_python(value: Optional[str]) -> Optional[str]:
    """The attribute, unescaped once more (as pip does) for pages that escape it twice."""
    if value is not None and "&" in value:
        value = html.unescape(value)
    return _requires_python(value)


def _html_metadata(value: Optional[str]) -> Union[bool, dict[str, str]]:
    """A PEP 658/714 attribute: absent or C{false} -> False, C{true} -> True, C{alg=hex} -> hashes.

    Like pip, any other value still means the metadata file exists (True).
    """
    if value is None:
        return False
    value = value.strip()
    if value.lower() == "false":
        return False
    name, sep, digest = value.partition("=")
    hashes = _valid_hashes({name: digest}) if sep else {}
    return hashes or True


# -- links, shared ---------------------------------------------------------------------


def _resolve(base: str, href: str) -> Optional[tuple[str, str]]:
    """The absolute http(s) URL without its fragment, and the fragment; None for other URLs."""
    try:
        absolute = urljoin(base, href)
    except ValueError:  # e.g. an invalid IPv6 host
        return None
    if not _HTTP_URL.match(absolute):
        return None
    url, _, fragment = absolute.partition("#")
    if _NEEDS_QUOTING.search(url):
        url = quote(url, safe=_URL_SAFE)
    return url, fragment


def _basename(url: str) -> str:
    return unquote(urlsplit(url).path.rpartition("/")[2])


def _safe_filename(filename: str) -> bool:
    return filename not in ("", ".", "..") and not _UNSAFE_IN_FILENAME.search(filename)


def _valid_hashes(hashes: Mapping[Any, Any]) -> dict[str, str]:
    """Hashes with a hashlib algorithm name and a hex digest of the right length."""
    valid: dict[str, str] = {}
    for name, digest in hashes.items():
        if not isinstance(name, str) or not isinstance(digest, str):
            continue
        name = name.strip().lower()
        digest = digest.strip()
        if name not in _HEX_LENGTHS or not _HEX.fullmatch(digest):
            continue
        length = _HEX_LENGTHS[name]
        if (length is None and len(digest) % 2 == 0) or len(digest) == length:
            valid.setdefault(name, digest.lower())
    return valid


def _fragment_hashes(fragment: str) -> dict[str, str]:
    """C{sha256=HEX} (C{&}-separated pairs allowed) from a URL fragment."""
    if not fragment:
        return {}
    pairs: dict[str, str] = {}
    for part in fragment.split("&"):
        name, sep, digest = part.partition("=")
        if sep:
            pairs.setdefault(name, digest)
    return _valid_hashes(pairs)


def _requires_python(value: object) -> Optional[str]:
    if not isinstance(value, str):
        return None
    return value.strip() or None


def _yanked(value: object) -> Union[bool, str]:
    """False, True, or a non-empty reason (a blank reason is just True)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value.strip() or True
    return False


def _deduplicated(links: list[UpstreamLink]) -> tuple[UpstreamLink, ...]:
    """Links with safe filenames, the first of each filename."""
    seen: set[str] = set()
    kept = []
    for link in links:
        if link.filename in seen or not _safe_filename(link.filename):
            continue
        seen.add(link.filename)
        kept.append(link)
    return tuple(kept)


# -- JSON ------------------------------------------------------------------------------


def _json_links(data: dict[str, Any], page_url: str) -> list[UpstreamLink]:
    files = data.get("files")
    if not isinstance(files, list):
        raise UpstreamPageError("upstream JSON page has no 'files' list")
    links = []
    for entry in files:
        if not isinstance(entry, dict):
            continue
        filename, href = entry.get("filename"), entry.get("url")
        if not isinstance(filename, str) or not isinstance(href, str) or not href.strip():
            continue
        resolved = _resolve(page_url, href.strip())
        if resolved is None:
            continue
        url, fragment = resolved
        hashes = entry.get("hashes")
        valid = _valid_hashes(hashes) if isinstance(hashes, dict) else {}
        size = entry.get("size")
        upload_time = entry.get("upload-time")
        links.append(
            UpstreamLink(
                filename=filename,
                url=url,
                hashes=valid or _fragment_hashes(fragment),
                requires_python=_requires_python(entry.get("requires-python")),
                yanked=_yanked(entry.get("yanked", False)),
                core_metadata=_json_metadata(entry),
                size=size if type(size) is int and size >= 0 else None,
                upload_time=upload_time if isinstance(upload_time, str) and upload_time else None,
                provenance=_provenance(page_url, entry.get("provenance")),
            )
        )
    return links


def _json_metadata(entry: dict[str, Any]) -> Union[bool, dict[str, str]]:
    """PEP 714 C{core-metadata}, else the older C{dist-info-metadata}."""
    value = entry.get("core-metadata")
    if not isinstance(value, (bool, dict)):
        value = entry.get("dist-info-metadata")
    if isinstance(value, bool):
        return value
    if isinstance(value, dict):
        return _valid_hashes(value) or True
    return False


def _json_versions(data: dict[str, Any]) -> Optional[tuple[str, ...]]:
    versions = data.get("versions")
    if not isinstance(versions, list):
        return None
    return tuple(version for version in versions if isinstance(version, str))


# -- the API ---------------------------------------------------------------------------


def parse_project_page(body: bytes, content_type: str, page_url: str) -> UpstreamPage:
    """Read an upstream project page (PEP 691 JSON or PEP 503 HTML) fetched from C{page_url}.

    Links get absolute URLs; links with unsafe file names or non-http(s) URLs
    are skipped, and of links with the same file name the first is kept.
    Raises L{UpstreamPageError} for a page that cannot be understood.
    """
    if _reads_as_json(body, content_type):
        data = _load_json(body)
        status = data.get("project-status")
        status = _status(status.get("status"), status.get("reason")) if isinstance(status, dict) else None
        return UpstreamPage(_deduplicated(_json_links(data, page_url)), _json_versions(data), status)
    parser = _read_html(body, content_type)
    status = _status(parser.metas.get("pypi:project-status"), parser.metas.get("pypi:project-status-reason"))
    return UpstreamPage(_deduplicated(_html_links(parser, page_url)), None, status)


def parse_project_list(body: bytes, content_type: str) -> list[str]:
    """Read an upstream project list: normalized names, each once, in page order.

    Names that are not valid project names are skipped. Raises
    L{UpstreamPageError} for a page that cannot be understood.
    """
    if _reads_as_json(body, content_type):
        projects = _load_json(body).get("projects")
        if not isinstance(projects, list):
            raise UpstreamPageError("upstream JSON page has no 'projects' list")
        names: Iterable[object] = (
            entry.get("name") for entry in projects if isinstance(entry, dict)
        )
    else:
        names = (text for _, text in _read_html(body, content_type).anchors)
    seen: set[str] = set()
    result: list[str] = []
    for name in names:
        if not isinstance(name, str) or not PROJECT_NAME_RE.fullmatch(name.strip()):
            continue
        normalized = canonicalize_name(name.strip())
        if normalized not in seen:
            seen.add(normalized)
            result.append(normalized)
    return result
