"""The layout of the store's keys: one function per kind of record."""

USERS = "user"
INDEXES = "index"


def user(name: str) -> str:
    """The record of user C{name}."""
    return f"{USERS}/{name}"


def indexes_of(username: str) -> str:
    """The parent of the index configs of user C{username}."""
    return f"{INDEXES}/{username}"


def index(username: str, indexname: str) -> str:
    """The config of index C{username/indexname}."""
    return f"{INDEXES}/{username}/{indexname}"


def projects_of(username: str, indexname: str) -> str:
    """The parent of the project records of index C{username/indexname}."""
    return f"project/{username}/{indexname}"
