"""Name rules: user and index names as devpi allows them, PEP 503 project names."""

import re

from packaging.utils import canonicalize_name

from devpi_twisted.model.errors import InvalidInput

# devpi blocks ASCII control characters, space and every ASCII symbol but -.@_
_BLOCKED = re.compile(r"[\x00-\x20\x7f!\"#$%&'()*+,/:;<=>?\[\\\]^`{|}~]")


def _check(kind: str, name: object) -> str:
    if not isinstance(name, str) or not name:
        raise InvalidInput(f"{kind} must be a non-empty string")
    if _BLOCKED.search(name):
        raise InvalidInput(
            f"{kind} {name!r} contains characters that aren't allowed. "
            "Any ascii symbol besides -.@_ is blocked."
        )
    return name


def check_username(name: object) -> str:
    """Return C{name} if it is a valid user name, else raise L{InvalidInput}."""
    return _check("username", name)


def check_indexname(name: object) -> str:
    """Return C{name} if it is a valid index name, else raise L{InvalidInput}."""
    return _check("indexname", name)


def normalize_project(name: str) -> str:
    """The PEP 503 normalized form of a project name."""
    return canonicalize_name(name)
