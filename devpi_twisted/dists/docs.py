"""Documentation zips: validating an upload, reading one member to serve it."""

from __future__ import annotations

import mimetypes
import stat
import zipfile
from html.parser import HTMLParser

from devpi_twisted.dists import zips
from devpi_twisted.dists.errors import DocNotFound, InvalidDistribution

MAX_DOC_MEMBERS = 10_000
MAX_DOC_UNPACKED_SIZE = 1024 * 1024 * 1024  # bytes, all members together
DEFAULT_CONTENT_TYPE = "application/octet-stream"
_LABEL = "doc zip"
_READ_SIZE = 64 * 1024


def _components(name: str) -> list[str]:
    """The path components of a member name, either separator counting."""
    return name.replace("\\", "/").split("/")


def _check_member(info: zipfile.ZipInfo) -> None:
    name = info.filename
    parts = _components(name)
    if parts[0] == "" or (len(parts[0]) == 2 and parts[0][1] == ":"):
        raise InvalidDistribution(f"{_LABEL} member {name!r} has an absolute path")
    if ".." in parts:
        raise InvalidDistribution(f"{_LABEL} member {name!r} contains '..'")
    if stat.S_ISLNK(info.external_attr >> 16):
        raise InvalidDistribution(f"{_LABEL} member {name!r} is a symbolic link")
    if info.flag_bits & 0x1:
        raise InvalidDistribution(f"{_LABEL} member {name!r} is encrypted")


def _check_crc(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
    """Read a member through (bounded by its declared size) so zipfile checks its CRC."""
    try:
        with archive.open(info) as member:
            while member.read(_READ_SIZE):
                pass
    except zips.ZIP_ERRORS:
        raise InvalidDistribution(
            f"{_LABEL} is not a valid zip archive: {info.filename!r} is corrupt"
        ) from None


def check_doc_zip(
    path: str,
    *,
    max_members: int = MAX_DOC_MEMBERS,
    max_unpacked: int = MAX_DOC_UNPACKED_SIZE,
) -> list[str]:
    """Validate the uploaded doc zip at C{path}; return its file members' names.

    Refuses anything but a valid zip (every CRC checked), absolute names, C{..}
    components, symbolic links, encrypted members, more than C{max_members}
    members, more than C{max_unpacked} bytes in total.
    """
    with zips.open_zip(path, _LABEL, max_members) as archive:
        infos = archive.infolist()
        for info in infos:
            _check_member(info)
        if sum(info.file_size for info in infos) > max_unpacked:
            raise InvalidDistribution(f"{_LABEL} unpacks to more than {max_unpacked} bytes")
        for info in infos:
            _check_crc(archive, info)
        return [info.filename for info in infos if not info.is_dir()]


def content_type(name: str) -> str:
    """The content type a doc member is served with, guessed from its name."""
    guessed, _ = mimetypes.guess_type(name, strict=False)
    if guessed == "text/html":
        return "text/html; charset=utf-8"
    return guessed or DEFAULT_CONTENT_TYPE


def read_doc_member(
    path: str,
    member: str,
    *,
    max_members: int = MAX_DOC_MEMBERS,
    max_size: int = MAX_DOC_UNPACKED_SIZE,
) -> tuple[bytes, str]:
    """The bytes and content type of one member of the doc zip at C{path}.

    C{member} is a path inside the zip; C{""} and directories (with or without
    a trailing C{/}) mean their C{index.html}. Raises L{DocNotFound} for
    missing members and for paths with empty, C{.} or C{..} components.
    """
    if member == "" or member.endswith("/"):
        member += "index.html"
    if any(part in ("", ".", "..") for part in _components(member)):
        raise DocNotFound(f"no such documentation file: {member!r}")
    with zips.open_zip(path, _LABEL, max_members) as archive:
        try:
            info = archive.getinfo(member)
        except KeyError:
            info = None
        if info is None or info.is_dir():
            try:
                info = archive.getinfo(member.rstrip("/") + "/index.html")
            except KeyError:
                raise DocNotFound(f"no such documentation file: {member!r}") from None
        return zips.read_member(archive, info, _LABEL, max_size), content_type(info.filename)


class _Text(HTMLParser):
    """The words of an HTML page, without its scripts and styles."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag in ("script", "style"):
            self._skipping += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skipping:
            self._skipping -= 1

    def handle_data(self, data: str) -> None:
        if not self._skipping and data.strip():
            self.parts.append(data.strip())


def doc_text(path: str, limit: int = 1024 * 1024, *, max_members: int = MAX_DOC_MEMBERS) -> str:
    """The text of the HTML and text pages of the doc zip at C{path}, for search: at most C{limit} characters."""
    parts: list[str] = []
    size = 0
    with zips.open_zip(path, _LABEL, max_members) as archive:
        for info in archive.infolist():
            name = info.filename.lower()
            # Sphinx's _static/, _sources/ and the like are not the docs' text
            if info.is_dir() or not name.endswith((".html", ".htm", ".txt")) or "/_" in "/" + name:
                continue
            if info.file_size > limit * 4:
                continue
            raw = zips.read_member(archive, info, _LABEL, limit * 4).decode("utf-8", "replace")
            if name.endswith(".txt"):
                text = raw
            else:
                parser = _Text()
                parser.feed(raw)
                parser.close()
                text = " ".join(parser.parts)
            parts.append(text[: limit - size])
            size += len(parts[-1])
            if size >= limit:
                break
    return "\n".join(parts)
