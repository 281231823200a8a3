"""Users: their records, the fields clients may set, create/modify/delete."""

from __future__ import annotations

import time
from typing import Any, Optional, cast

from devpi_twisted.model import keys
from devpi_twisted.model.releases import delete_index
from devpi_twisted.model.errors import Conflict, Forbidden, InvalidInput, NotFound
from devpi_twisted.model.names import check_username
from devpi_twisted.model.records import UserFields, UserRecord, UserView
from devpi_twisted.model.state import StateReader, StateWriter

#: Fields a client may set besides the password.
FIELDS = ("email", "title", "description", "custom_data")
#: Fields a client gets back and may send again, which are never changed by it.
READ_ONLY = ("username", "created", "modified", "indexes")


def timestamp(now: float) -> str:
    """devpi's UTC time format for C{created} and C{modified}."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))


def parse_user_body(body: Any, creating: bool) -> tuple[Optional[str], UserFields]:
    """
    Split a PUT/PATCH body into (password or None, other fields), refusing
    unknown keys and values of the wrong type.
    """
    if not isinstance(body, dict):
        raise InvalidInput("the user config must be a JSON object")
    ignored = () if creating else READ_ONLY
    unknown = sorted(set(body) - set(FIELDS) - {"password"} - set(ignored))
    if unknown:
        raise InvalidInput("Unknown keys in user config: " + ", ".join(unknown))
    password = body.get("password")
    if password is None and creating:
        raise InvalidInput("password needs to be set")
    if password is not None and not isinstance(password, str):
        raise InvalidInput("password must be a string")
    for key in ("email", "title", "description"):
        if key in body and not isinstance(body[key], str):
            raise InvalidInput(f"{key} must be a string")
    return password, cast(UserFields, {key: body[key] for key in FIELDS if key in body})


def get_user(state: StateReader, username: str) -> UserRecord:
    """The stored record of a user (including C{pwhash}); raises L{NotFound}."""
    record = state.get(keys.user(username))
    if record is None:
        raise NotFound(f"no user {username!r}")
    return cast(UserRecord, record)


def create_user(
    txn: StateWriter, username: str, pwhash: str, fields: UserFields, now: float
) -> None:
    """Create a user with an already hashed password."""
    check_username(username)
    if username.startswith("+"):
        raise InvalidInput(f"username {username!r} may not start with '+'")
    if txn.get(keys.user(username)) is not None:
        raise Conflict("user already exists")
    # (the casts: mypy's strict checks do not let open TypedDicts be merged)
    record = cast(UserRecord, {**fields, "pwhash": pwhash, "created": timestamp(now)})
    txn.set(keys.user(username), record)


def modify_user(
    txn: StateWriter,
    username: str,
    fields: UserFields,
    pwhash: Optional[str],
    now: float,
) -> None:
    """Update some fields and, if C{pwhash} is given, the password."""
    record = cast(UserRecord, {**get_user(txn, username), **fields})
    if pwhash is not None:
        record["pwhash"] = pwhash
    record["modified"] = timestamp(now)
    txn.set(keys.user(username), record)


def changed_fields(record: UserRecord, fields: UserFields) -> UserFields:
    """The C{fields} whose values differ from the stored C{record}'s."""
    return cast(UserFields, {key: value for key, value in fields.items() if record.get(key) != value})


def delete_user(txn: StateWriter, username: str) -> None:
    """Delete a user and its indexes, unless one of them is non-volatile."""
    get_user(txn, username)
    indexnames = txn.children(keys.indexes_of(username))
    for indexname in indexnames:
        if not txn.get(keys.index(username, indexname))["volatile"]:
            raise Forbidden(f"user {username!r} has non-volatile index: {indexname}")
    for indexname in indexnames:
        delete_index(txn, username, indexname)
    txn.delete(keys.user(username))


def user_view(state: StateReader, username: str) -> UserView:
    """A user as clients see it: no password hash, with its index configs."""
    record = get_user(state, username)
    view = cast(UserView, {key: value for key, value in record.items() if key != "pwhash"})
    view["username"] = username
    view["indexes"] = {
        indexname: state.get(keys.index(username, indexname))
        for indexname in state.children(keys.indexes_of(username))
    }
    return view


def list_users(state: StateReader) -> dict[str, UserView]:
    """Every user as clients see it, by name."""
    return {name: user_view(state, name) for name in state.children(keys.USERS)}
