"""Core metadata of release files: read from wheels and sdists, as devpi's flat dict."""

from __future__ import annotations

import bz2
import email.parser
import email.policy
import gzip
import re
import tarfile
import zlib
from typing import Any, BinaryIO, Callable, Iterable, Optional, Protocol, Union, cast

from packaging.metadata import parse_email
from packaging.utils import canonicalize_name, canonicalize_version

from devpi_twisted.dists import zips
from devpi_twisted.dists.errors import InvalidDistribution
from devpi_twisted.dists.filenames import dist_type

# devpi's version metadata keys, in devpi's order (protocol 3.4)
METADATA_KEYS: tuple[str, ...] = (
    "name",
    "version",
    "metadata_version",
    "summary",
    "home_page",
    "author",
    "author_email",
    "maintainer",
    "maintainer_email",
    "license",
    "description",
    "keywords",
    "platform",
    "classifiers",
    "download_url",
    "supported_platform",
    "comment",
    "provides",
    "requires",
    "obsoletes",
    "project_urls",
    "provides_dist",
    "obsoletes_dist",
    "requires_dist",
    "requires_external",
    "requires_python",
    "description_content_type",
    "provides_extras",
    "dynamic",
    "license_expression",
    "license_file",
)

# the keys whose values are lists (repeated form fields, multiple-use headers)
LIST_KEYS: frozenset[str] = frozenset(
    {
        "platform",
        "classifiers",
        "supported_platform",
        "provides",
        "requires",
        "obsoletes",
        "project_urls",
        "provides_dist",
        "obsoletes_dist",
        "requires_dist",
        "requires_external",
        "provides_extras",
        "dynamic",
        "license_file",
    }
)

MAX_METADATA_SIZE = 10 * 1024 * 1024  # bytes of METADATA / PKG-INFO
MAX_UNPACKED_SIZE = 1024 * 1024 * 1024  # bytes of an sdist's tar stream scanned for PKG-INFO
MAX_MEMBERS = 50_000  # members of a release archive
MAX_EXTENDED_HEADER_SIZE = 1024 * 1024  # bytes of one pax / GNU long name header in a tar

# devpi key -> packaging's RawMetadata key, where they differ
_RAW_KEYS = {
    "platform": "platforms",
    "supported_platform": "supported_platforms",
    "provides_extras": "provides_extra",
    "license_file": "license_files",
}
# devpi key -> the metadata header name, where it is not the key with "-" for "_"
_HEADER_NAMES = {
    "classifiers": "classifier",
    "project_urls": "project-url",
    "provides_extras": "provides-extra",
}
# kept as the raw header text: packaging splits keywords and maps project URLs
_RAW_HEADER_KEYS = ("keywords", "project_urls")
_UNKNOWN = "UNKNOWN"

_WHEEL_METADATA = re.compile(r"[^/]+\.dist-info/METADATA")
_SDIST_PKG_INFO = re.compile(r"[^/]+/PKG-INFO")
_EGG_PKG_INFO = "EGG-INFO/PKG-INFO"
_TAR_ERRORS = (tarfile.TarError, EOFError, OSError, zlib.error)


def carries_metadata(filename: str) -> bool:
    """Whether L{read_core_metadata} can read this kind of file (wheel, sdist, egg)."""
    try:
        return dist_type(filename) in ("bdist_wheel", "sdist", "bdist_egg")
    except InvalidDistribution:
        return False


def read_core_metadata(
    path: Union[str, BinaryIO],
    filename: str,
    *,
    max_size: int = MAX_METADATA_SIZE,
    max_unpacked: int = MAX_UNPACKED_SIZE,
    max_members: int = MAX_MEMBERS,
) -> bytes:
    """The raw core metadata of the release file at C{path} (or, for zips, in an open file) named C{filename}.

    A wheel's C{*.dist-info/METADATA} (exactly one at the top level), an sdist's
    top-level C{*/PKG-INFO} (the shortest path if several), an egg's
    C{EGG-INFO/PKG-INFO}. Nothing is extracted; only that one member is read,
    at most C{max_size} bytes of it.
    """
    label = repr(filename)
    kind = dist_type(filename)
    if kind == "bdist_wheel":
        return _read_from_zip(path, label, "METADATA", _wheel_metadata, max_size, max_members)
    if kind == "bdist_egg":
        return _read_from_zip(path, label, "PKG-INFO", _egg_pkg_info, max_size, max_members)
    if kind == "sdist":
        lower = filename.lower()
        if lower.endswith(".zip"):
            return _read_from_zip(path, label, "PKG-INFO", _sdist_pkg_info, max_size, max_members)
        opener = _open_gzip if lower.endswith((".tar.gz", ".tgz")) else _open_bz2
        return _read_from_tar(path, label, opener, max_size, max_unpacked, max_members)
    raise InvalidDistribution(
        f"cannot read metadata from {label}: only wheels, sdists and eggs have it"
    )


def _wheel_metadata(names: Iterable[str]) -> list[str]:
    return [name for name in names if _WHEEL_METADATA.fullmatch(name)]


def _egg_pkg_info(names: Iterable[str]) -> list[str]:
    return [name for name in names if name == _EGG_PKG_INFO]


def _sdist_pkg_info(names: Iterable[str]) -> list[str]:
    found = [name for name in names if _SDIST_PKG_INFO.fullmatch(name)]
    return sorted(found, key=len)[:1]


def _read_from_zip(
    path: Union[str, BinaryIO],
    label: str,
    what: str,
    select: Callable[[Iterable[str]], list[str]],
    max_size: int,
    max_members: int,
) -> bytes:
    with zips.open_zip(path, label, max_members) as archive:
        infos = archive.infolist()
        chosen = select(info.filename for info in infos)
        if not chosen:
            raise InvalidDistribution(f"no {what} found in {label}")
        if len(chosen) > 1:
            raise InvalidDistribution(f"more than one {what} found in {label}: {', '.join(chosen)}")
        (info,) = [info for info in infos if info.filename == chosen[0]]
        return zips.read_member(archive, info, label, max_size)


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class _BoundedReader:
    """A read-only stream refusing to yield more than C{limit} bytes in total."""

    def __init__(self, stream: _Readable, limit: int, label: str) -> None:
        self._stream = stream
        self._left = limit
        self._limit = limit
        self._label = label

    def read(self, size: Optional[int] = -1) -> bytes:
        if size is None or size < 0 or size > self._left:
            size = self._left + 1
        data = self._stream.read(size)
        self._left -= len(data)
        if self._left < 0:
            raise InvalidDistribution(f"{self._label} unpacks to more than {self._limit} bytes")
        return data


class _BoundedTarInfo(tarfile.TarInfo):
    """Refuses pax and GNU long name headers too large to hold in memory."""

    def _proc_member(self, tarfile_: tarfile.TarFile) -> tarfile.TarInfo:
        extended = (
            tarfile.GNUTYPE_LONGNAME,
            tarfile.GNUTYPE_LONGLINK,
            tarfile.XHDTYPE,
            tarfile.XGLTYPE,
        )
        if self.type in extended and self.size > MAX_EXTENDED_HEADER_SIZE:
            raise tarfile.ReadError("extended header too large")
        member: tarfile.TarInfo = super()._proc_member(tarfile_)  # type: ignore[misc]  # a private hook the stubs leave out
        return member


def _open_gzip(raw: BinaryIO) -> _Readable:
    return gzip.GzipFile(fileobj=raw, mode="rb")


def _open_bz2(raw: BinaryIO) -> _Readable:
    return bz2.BZ2File(raw, mode="rb")


def _read_from_tar(
    path: Union[str, BinaryIO],
    label: str,
    decompress: Callable[[BinaryIO], _Readable],
    max_size: int,
    max_unpacked: int,
    max_members: int,
) -> bytes:
    """Scan the whole compressed stream once (it may be corrupt anywhere) for PKG-INFO."""
    best: Optional[tuple[str, bytes]] = None
    with zips.opened(path) as raw:
        try:
            stream = _BoundedReader(decompress(raw), max_unpacked, label)
            # the stubs want a seekable, writable file; stream mode "r|" only reads
            archive = tarfile.open(  # type: ignore[call-overload]
                fileobj=stream, mode="r|", tarinfo=_BoundedTarInfo
            )
            with archive:
                for count, info in enumerate(archive, 1):
                    if count > max_members:
                        raise InvalidDistribution(f"{label} has more than {max_members} members")
                    name = info.name[2:] if info.name.startswith("./") else info.name
                    if not (info.isreg() and _SDIST_PKG_INFO.fullmatch(name)):
                        continue
                    if best is not None and len(best[0]) <= len(name):
                        continue
                    if info.size > max_size:
                        raise InvalidDistribution(
                            f"{name} in {label} is larger than {max_size} bytes"
                        )
                    member = archive.extractfile(info)
                    assert member is not None
                    best = (name, member.read())
            while stream.read(64 * 1024):
                pass  # what follows the tar's end: read it so the checksum is verified
        except _TAR_ERRORS:
            raise InvalidDistribution(f"{label} is not a valid tar archive") from None
    if best is None:
        raise InvalidDistribution(f"no PKG-INFO found in {label}")
    return best[1]


def _unfold(value: str, keep_lines: bool = False) -> str:
    """A header value with its folding undone; C{keep_lines} keeps the line breaks."""
    if "\n" not in value:
        return value
    lines = value.splitlines()
    if keep_lines:
        rest = [line[8:] if line.startswith(" " * 8) else line.lstrip() for line in lines[1:]]
        return "\n".join([lines[0], *rest])
    return " ".join(line.strip() for line in lines if line.strip())


def parse_core_metadata(raw: bytes) -> dict[str, Any]:
    """devpi's flat metadata dict from METADATA / PKG-INFO bytes.

    Every key of L{METADATA_KEYS} is present: missing text fields are C{""},
    missing list fields C{[]}; C{UNKNOWN} counts as missing. C{keywords} and
    C{project_urls} keep the raw header text (C{"label, url"}). The description
    is the body if there is one, else the C{Description} header.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    parsed, unparsed = parse_email(text)
    fields = cast(dict[str, Any], parsed)
    headers = email.parser.Parser(policy=email.policy.compat32).parsestr(text, headersonly=True)
    result: dict[str, Any] = {}
    for key in METADATA_KEYS:
        header = _HEADER_NAMES.get(key, key.replace("_", "-"))
        from_header = [str(item) for item in headers.get_all(header, [])]
        value: Any = None if key in _RAW_HEADER_KEYS else fields.get(_RAW_KEYS.get(key, key))
        if key in LIST_KEYS:
            values = from_header if value is None else value
            result[key] = [item for item in values if item and item != _UNKNOWN]
            continue
        if key == "description" and "description" in unparsed:
            value = unparsed["description"][-1]  # header and body both given: the body wins
        elif value is None or value in from_header:
            value = _unfold(from_header[0], keep_lines=key == "description") if from_header else ""
        result[key] = "" if value == _UNKNOWN else value
    return result


def metadata_from_form(fields: dict[str, list[str]]) -> dict[str, Any]:
    """devpi's flat metadata dict from upload form fields.

    List keys take every repeated value, text keys the first; C{UNKNOWN}
    counts as missing, as in L{parse_core_metadata}.
    """
    result: dict[str, Any] = {}
    for key in METADATA_KEYS:
        values = fields.get(key, [])
        if key in LIST_KEYS:
            result[key] = [value for value in values if value and value != _UNKNOWN]
        else:
            value = values[0] if values else ""
            result[key] = "" if value == _UNKNOWN else value
    return result


def _same_version(a: str, b: str) -> bool:
    if a == b:
        return True
    try:
        return canonicalize_version(a, strip_trailing_zero=False) == canonicalize_version(
            b, strip_trailing_zero=False
        )
    except (TypeError, ValueError):
        return False


def check_form_matches(form_meta: dict[str, Any], file_meta: dict[str, Any]) -> None:
    """Refuse form metadata naming another project or version than the file's own."""
    form_name, file_name = form_meta.get("name", ""), file_meta.get("name", "")
    if canonicalize_name(form_name) != canonicalize_name(file_name):
        raise InvalidDistribution(
            f"form name {form_name!r} does not match the file's metadata name {file_name!r}"
        )
    form_version, file_version = form_meta.get("version", ""), file_meta.get("version", "")
    if not _same_version(form_version, file_version):
        raise InvalidDistribution(
            f"form version {form_version!r} does not match "
            f"the file's metadata version {file_version!r}"
        )
