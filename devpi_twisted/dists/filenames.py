"""Release file names: valid archive names, project and version checks, dist types."""

from __future__ import annotations

import re
from typing import Optional

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion

from devpi_twisted.dists.errors import InvalidDistribution

# devpi's valid archive names (devpi_common.validation.safe_filenames)
ARCHIVE_RE = re.compile(r".+?\.(exe|tar\.gz|bz2|rpm|deb|zip|tgz|egg|dmg|msi|whl)$", re.IGNORECASE)

# PEP 508 names; devpi also requires ASCII
PROJECT_NAME_RE = re.compile(r"([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])", re.IGNORECASE)

# a file name never contains a path separator or a control character
_UNSAFE_IN_FILENAME = re.compile(r"[/\\\x00-\x1f\x7f]")
_NON_ALNUM_RUNS = re.compile(r"[^A-Za-z0-9]+")
_LEGAL_NAME_CHARS = re.compile(r"[A-Za-z0-9._-]+")
_URL_UNSAFE = re.compile(r'[<>%#"]')
_UNSAFE_IN_VERSION = re.compile(r"[/\x00-\x1f\x7f]")

# what twine sends as `filetype`, by suffix (longest suffixes first)
_DIST_TYPES = (
    (".whl", "bdist_wheel"),
    (".tar.gz", "sdist"),
    (".tgz", "sdist"),
    (".tar.bz2", "sdist"),
    (".zip", "sdist"),
    (".bz2", "sdist"),
    (".egg", "bdist_egg"),
    (".exe", "bdist_wininst"),
    (".msi", "bdist_msi"),
    (".rpm", "bdist_rpm"),
    (".dmg", "bdist_dmg"),
    (".deb", "bdist_deb"),
)


def check_archive_name(filename: str) -> str:
    """Return C{filename} if devpi accepts it as a release file name.

    Besides devpi's suffix rule, names with a path separator or a control
    character and names starting with C{.} are refused.
    """
    if (
        not isinstance(filename, str)
        or not ARCHIVE_RE.fullmatch(filename)
        or _UNSAFE_IN_FILENAME.search(filename)
        or filename.startswith(".")
    ):
        raise InvalidDistribution(f"{filename!r} is not a valid archive name")
    return filename


def _loose_normalize(name: str) -> str:
    """devpi's normalize_name: runs of non-alphanumerics become C{-}, lower case."""
    return _NON_ALNUM_RUNS.sub("-", name).lower()


def escape_version(version: str) -> str:
    """The PEP 427 escaped form of a version, as it appears in wheel names."""
    return re.sub(r"[^\w\d.]+", "_", version)


def check_matches(filename: str, name: str, version: str) -> None:
    """Refuse a file name that does not start with the project name or lacks the version."""
    if not _loose_normalize(filename).startswith(_loose_normalize(name)):
        raise InvalidDistribution(f"filename {filename!r} does not match project name {name!r}")
    if version not in filename and escape_version(version) not in filename:
        raise InvalidDistribution(f"filename {filename!r} does not contain version {version!r}")


def is_wheel(filename: str) -> bool:
    """Whether the file name is a wheel's."""
    return filename.lower().endswith(".whl")


def dist_type(filename: str) -> str:
    """What twine sends as C{filetype}: C{bdist_wheel}, C{sdist}, C{bdist_egg}, ..."""
    check_archive_name(filename)
    lower = filename.lower()
    for suffix, kind in _DIST_TYPES:
        if lower.endswith(suffix):
            return kind
    raise AssertionError(f"ARCHIVE_RE and _DIST_TYPES disagree on {filename!r}")


def check_project_name(name: object) -> str:
    """Return C{name} if it is a valid (PEP 508, ASCII) project name."""
    if not isinstance(name, str) or not name:
        raise InvalidDistribution('invalid metadata: Missing required field "name"')
    if not _LEGAL_NAME_CHARS.fullmatch(name):
        raise InvalidDistribution(
            "invalid metadata: Invalid package name. Names must contain only ASCII "
            "letters, digits, underscores, hyphens, and periods"
        )
    if not PROJECT_NAME_RE.fullmatch(name[0]):
        raise InvalidDistribution(
            "invalid metadata: Invalid package name. Names must start with an ASCII letter or digit"
        )
    if not PROJECT_NAME_RE.fullmatch(name[-1]):
        raise InvalidDistribution(
            "invalid metadata: Invalid package name. Names must end with an ASCII letter or digit"
        )
    return name


def check_version(version: object) -> str:
    """Return C{version} unless it is empty or unsafe in a URL or path.

    Like devpi, versions that are not PEP 440 versions are accepted.
    """
    if not isinstance(version, str) or not version:
        raise InvalidDistribution('invalid metadata: Missing required field "version"')
    if _URL_UNSAFE.search(version):
        raise InvalidDistribution("invalid metadata: Invalid package name or version (URL safety)")
    if _UNSAFE_IN_VERSION.search(version):
        raise InvalidDistribution(
            f"invalid metadata: Invalid version {version!r}: "
            "'/' and control characters are not allowed"
        )
    return version


def version_from_filename(filename: str) -> Optional[str]:
    """The version a wheel or sdist file name carries, or None if it cannot be read."""
    try:
        if filename.lower().endswith(".whl"):
            return str(parse_wheel_filename(filename)[1])
        return str(parse_sdist_filename(filename)[1])
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        return None
