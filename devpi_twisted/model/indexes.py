"""Index configs: stage and mirror keys, defaults, validation, create/modify/delete."""

from __future__ import annotations

import re
from typing import Any, Callable, Optional, cast
from urllib.parse import urlsplit

from devpi_twisted.model import keys
from devpi_twisted.model.acl import ANONYMOUS, normalize_principal
from devpi_twisted.model.errors import Conflict, Forbidden, InvalidInput, NotFound
from devpi_twisted.model.names import check_indexname, normalize_project
from devpi_twisted.model.records import IndexConfig
from devpi_twisted.model.state import StateReader, StateWriter

STAGE = "stage"
MIRROR = "mirror"
PYPI_SIMPLE_URL = "https://pypi.org/simple/"
PYPI_WEB_URL_FMT = "https://pypi.org/project/{name}/"

LIST_KEYS = frozenset(["bases", "acl_upload", "acl_toxresult_upload", "mirror_whitelist"])
_COMMON_OPTIONAL = ("title", "description", "custom_data")
_MIRROR_OPTIONAL = (
    "mirror_url",
    "mirror_cache_expiry",
    "mirror_web_url_fmt",
    "mirror_use_external_urls",
    "mirror_no_project_list",
    "mirror_ignore_serial_header",
    "mirror_provides_core_metadata",
)


_OPERATION = re.compile(r"^(?P<key>[A-Za-z_]+)(?P<op>\+=|-=|=)(?P<value>.*)$", re.S)


def stage_defaults(owner: str) -> IndexConfig:
    """The config of a stage index created with no keys."""
    return {
        "type": STAGE,
        "volatile": True,
        "bases": [],
        "acl_upload": [owner],
        "acl_toxresult_upload": [ANONYMOUS],
        "mirror_whitelist": [],
        "mirror_whitelist_inheritance": "intersection",
    }


def mirror_defaults(owner: str) -> IndexConfig:
    """The config of a mirror index created with no keys."""
    return {"type": MIRROR, "volatile": True}


def root_pypi_config() -> IndexConfig:
    """The config of C{root/pypi} as a new server creates it."""
    return {
        "type": MIRROR,
        "volatile": False,
        "title": "PyPI",
        "mirror_url": PYPI_SIMPLE_URL,
        "mirror_web_url_fmt": PYPI_WEB_URL_FMT,
    }


_DEFAULTS: dict[str, Callable[[str], IndexConfig]] = {
    STAGE: stage_defaults,
    MIRROR: mirror_defaults,
}
#: C{mirror_merge_named_only}: a project a stage holds merges with mirrors only when a
#: C{mirror_whitelist} names it (a C{*} does not count): no dependency confusion by wildcard.
_STAGE_OPTIONAL = ("mirror_merge_named_only",)
_OPTIONAL = {
    STAGE: _COMMON_OPTIONAL + _STAGE_OPTIONAL,
    MIRROR: _COMMON_OPTIONAL + _MIRROR_OPTIONAL,
}


def config_keys(kind: str) -> frozenset[str]:
    """Every key an index config of type C{kind} (C{stage} or C{mirror}) may hold."""
    return frozenset(_DEFAULTS[kind]("")) | frozenset(_OPTIONAL[kind])


def _as_bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "yes"):
        return True
    if isinstance(value, str) and value.lower() in ("false", "no"):
        return False
    raise InvalidInput(f"Unknown boolean value {value!r}.")


def _as_list(key: str, value: Any) -> list[str]:
    if isinstance(value, str):
        value = [item.strip() for item in value.split(",")]
    if not isinstance(value, list) or not all(isinstance(i, str) for i in value):
        raise InvalidInput(f"'{key}' must be a list of strings or a comma separated string")
    result: list[str] = []
    for item in value:
        if item and item not in result:
            result.append(item)
    return result


def _as_text(key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"'{key}' must be a string")
    return value


def _as_principals(key: str, value: Any) -> list[str]:
    # normalizing may make two items equal: deduplicate again
    return _as_list(key, [normalize_principal(p) for p in _as_list(key, value)])


def _as_whitelist(key: str, value: Any) -> list[str]:
    names = [n if n == "*" else normalize_project(n) for n in _as_list(key, value)]
    return _as_list(key, names)


def _as_inheritance(key: str, value: Any) -> str:
    if isinstance(value, str) and value.lower() in ("intersection", "union"):
        return value.lower()
    raise InvalidInput(
        f"Unknown value {value!r} for mirror_whitelist_inheritance, "
        "must be 'intersection' or 'union'."
    )


def _as_url(key: str, value: Any) -> str:
    if isinstance(value, str):
        parts = urlsplit(value)
        if parts.scheme in ("http", "https") and parts.netloc:
            return value
    raise InvalidInput(f"'{key}' option must be a URL.")


def _as_seconds(key: str, value: Any) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise InvalidInput(f"'{key}' option must be an integer")


def _as_any(key: str, value: Any) -> Any:
    return value


_VALIDATORS: dict[str, Callable[[str, Any], Any]] = {
    "volatile": _as_bool,
    "bases": _as_list,
    "acl_upload": _as_principals,
    "acl_toxresult_upload": _as_principals,
    "mirror_whitelist": _as_whitelist,
    "mirror_whitelist_inheritance": _as_inheritance,
    "mirror_merge_named_only": _as_bool,
    "title": _as_text,
    "description": _as_text,
    "custom_data": _as_any,
    "mirror_url": _as_url,
    "mirror_cache_expiry": _as_seconds,
    "mirror_web_url_fmt": _as_text,
    "mirror_use_external_urls": _as_bool,
    "mirror_no_project_list": _as_bool,
    "mirror_ignore_serial_header": _as_bool,
    "mirror_provides_core_metadata": _as_bool,
}


def _parse_base(spec: str) -> tuple[str, str]:
    username, sep, indexname = spec.partition("/")
    if not sep or not username or not indexname or "/" in indexname:
        raise InvalidInput(f"invalid base index spec: {spec!r}")
    return username, indexname


def get_index(state: StateReader, username: str, indexname: str) -> IndexConfig:
    """The config of an index; raises L{NotFound}."""
    config = state.get(keys.index(username, indexname))
    if config is None:
        raise NotFound(f"The stage {username}/{indexname} could not be found.")
    return cast(IndexConfig, config)


def project_names(state: StateReader, username: str, indexname: str) -> list[str]:
    """The sorted normalized names of the projects stored on this index."""
    return state.children(keys.projects_of(username, indexname))


def validate_config(
    state: StateReader, username: str, indexname: str, raw: Any
) -> IndexConfig:
    """
    The full config of C{username/indexname} built from C{raw}: defaults for
    the keys it lacks, every value validated and coerced.
    """
    if not isinstance(raw, dict):
        raise InvalidInput("the index config must be a JSON object")
    kind = raw.get("type", STAGE)
    if kind not in _DEFAULTS:
        raise InvalidInput(f"unknown index type {kind!r}")
    config: dict[str, Any] = dict(_DEFAULTS[kind](username))
    allowed = set(config) | set(_OPTIONAL[kind])
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise InvalidInput(
            "indexconfig got unexpected keyword arguments: "
            + ", ".join(f"{key}={raw[key]}" for key in unknown)
        )
    for key, value in raw.items():
        if key != "type":
            config[key] = _VALIDATORS[key](key, value)
    if kind == STAGE:
        _check_bases(state, f"{username}/{indexname}", config["bases"])
    return cast(IndexConfig, config)


def _check_bases(state: StateReader, name: str, bases: list[str]) -> None:
    for base in bases:
        if state.get(keys.index(*_parse_base(base))) is None:
            raise InvalidInput(f"base index {base!r} does not exist")
    path = _path_back_to(state, name, bases, [name])
    if path is not None:
        raise InvalidInput(
            f"bases of {name!r} would form a cycle: " + " -> ".join(path)
        )


def _path_back_to(
    state: StateReader, start: str, bases: list[str], path: list[str]
) -> Optional[list[str]]:
    for base in bases:
        if base == start:
            return path + [base]
        if base in path:
            continue
        config = state.get(keys.index(*_parse_base(base))) or {}
        found = _path_back_to(state, start, config.get("bases", []), path + [base])
        if found is not None:
            return found
    return None


def create_index(
    txn: StateWriter, username: str, indexname: str, raw: Any
) -> IndexConfig:
    """Create an index under an existing user; return its config."""
    check_indexname(indexname)
    if indexname.startswith("+"):
        raise InvalidInput(f"indexname {indexname!r} may not start with '+'")
    if txn.get(keys.user(username)) is None:
        raise NotFound(f"no user {username!r}")
    if txn.get(keys.index(username, indexname)) is not None:
        raise Conflict(f"index '{username}/{indexname}' exists")
    config = validate_config(txn, username, indexname, raw)
    txn.set(keys.index(username, indexname), config)
    return config


def apply_operations(config: IndexConfig, operations: list[Any]) -> dict[str, Any]:
    """Apply devpi-client's C{key=value}, C{key+=value}, C{key-=value} edits (unvalidated)."""
    result: dict[str, Any] = dict(config)
    for operation in operations:
        match = _OPERATION.match(operation) if isinstance(operation, str) else None
        if match is None:
            raise InvalidInput(f"invalid key=value operation {operation!r}")
        key, op, value = match.group("key", "op", "value")
        if op == "=":
            result[key] = value
        elif op == "-=" and value == "":
            result.pop(key, None)
        elif key not in LIST_KEYS:
            raise InvalidInput(f"The {key!r} setting is not a list")
        else:
            items = _as_list(key, result.get(key, []))
            normalized = _VALIDATORS[key](key, [value])
            value = normalized[0] if normalized else value
            if op == "+=":
                if value not in items:
                    items.append(value)
            elif value in items:
                items.remove(value)
            else:
                raise InvalidInput(f"The {key!r} setting doesn't have value {value!r}")
            result[key] = items
    return result


def modify_index(
    txn: StateWriter,
    username: str,
    indexname: str,
    body: Any,
    error_on_noop: bool = False,
) -> IndexConfig:
    """
    Change an index's config, from either a complete config (keys not given
    go back to their defaults) or a list of key/value operations.
    """
    current = get_index(txn, username, indexname)
    if isinstance(body, list):
        raw = apply_operations(current, body)
    elif isinstance(body, dict):
        raw = body.get("result", body) if body.get("type") == "indexconfig" else body
        if not isinstance(raw, dict):
            raise InvalidInput("the index config must be a JSON object")
        raw = {key: value for key, value in raw.items() if key != "projects"}
    else:
        raise InvalidInput("expected a JSON object or a list of key=value strings")
    raw.setdefault("type", current["type"])
    if raw["type"] != current["type"]:
        raise InvalidInput("the 'type' of an index can't be changed")
    config = validate_config(txn, username, indexname, raw)
    if config == current:
        if error_on_noop:
            raise InvalidInput("The requested modifications resulted in no changes")
        return config
    txn.set(keys.index(username, indexname), config)
    return config


def delete_index(txn: StateWriter, username: str, indexname: str) -> None:
    """Delete a volatile index."""
    config = get_index(txn, username, indexname)
    if not config["volatile"]:
        raise Forbidden(f"index {username}/{indexname} non-volatile, cannot delete")
    txn.delete(keys.index(username, indexname))
