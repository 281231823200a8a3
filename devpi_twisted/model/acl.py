"""Who may do what: identities, principals and the user/index permission rules."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Optional

from devpi_twisted.model.errors import Forbidden, PermissionDenied
from devpi_twisted.model.records import IndexConfig

ANONYMOUS = ":ANONYMOUS:"
AUTHENTICATED = ":AUTHENTICATED:"
ROOT = "root"


@dataclass(frozen=True)
class Identity:
    """Who a request is from: a user name, or None for anonymous."""

    username: Optional[str] = None
    groups: tuple[str, ...] = ()

    @property
    def principals(self) -> frozenset[str]:
        """Every principal an ACL may name to include this identity."""
        if self.username is None:
            return frozenset([ANONYMOUS])
        return frozenset(
            [ANONYMOUS, AUTHENTICATED, self.username]
            + [f":{group}" for group in self.groups]
        )


def normalize_principal(principal: str) -> str:
    """C{:anonymous:} and C{:authenticated:} in any case become upper case."""
    if principal.upper() in (ANONYMOUS, AUTHENTICATED):
        return principal.upper()
    return principal


def allows(acl: Iterable[str], identity: Identity) -> bool:
    """Whether an ACL (a list of principals) includes C{identity}."""
    return not identity.principals.isdisjoint(acl)


@dataclass(frozen=True)
class Policy:
    """
    The permission rules for users and indexes. With C{restrict_modify} set
    (devpi's C{--restrict-modify}), only those principals manage users and
    indexes; users may still change their own password.
    """

    restrict_modify: Optional[frozenset[str]] = field(default=None)

    def _is_modifier(self, identity: Identity) -> bool:
        assert self.restrict_modify is not None
        return allows(self.restrict_modify, identity)

    def _is_self_or_root(self, identity: Identity, username: str) -> bool:
        return identity.username in (username, ROOT)

    def check_create_user(self, identity: Identity, username: str) -> None:
        if self.restrict_modify is not None and not self._is_modifier(identity):
            raise PermissionDenied(f"no permission to create user {username}")

    def check_modify_user(
        self, identity: Identity, username: str, password_only: bool
    ) -> None:
        if self.restrict_modify is None or (
            password_only and identity.username == username
        ):
            allowed = self._is_self_or_root(identity, username)
        else:
            allowed = self._is_modifier(identity)
        if not allowed:
            raise PermissionDenied(f"no permission to modify user {username}")

    def check_delete_user(self, identity: Identity, username: str) -> None:
        if username == ROOT:
            raise Forbidden("the root user cannot be deleted")
        if self.restrict_modify is None:
            allowed = self._is_self_or_root(identity, username)
        else:
            allowed = self._is_modifier(identity) and identity.username != username
        if not allowed:
            raise PermissionDenied(f"no permission to delete user {username}")

    def _check_index(
        self, identity: Identity, username: str, indexname: str, action: str
    ) -> None:
        if self.restrict_modify is None:
            allowed = self._is_self_or_root(identity, username)
        else:
            allowed = self._is_modifier(identity)
        if not allowed:
            raise PermissionDenied(
                f"no permission to {action} index {username}/{indexname}"
            )

    def check_create_index(
        self, identity: Identity, username: str, indexname: str
    ) -> None:
        self._check_index(identity, username, indexname, "create")

    def check_modify_index(
        self, identity: Identity, username: str, indexname: str
    ) -> None:
        self._check_index(identity, username, indexname, "modify")

    def check_delete_index(
        self, identity: Identity, username: str, indexname: str
    ) -> None:
        self._check_index(identity, username, indexname, "delete")


def may_upload(identity: Identity, config: IndexConfig) -> bool:
    """Whether C{identity} may upload to, or push into, an index with C{config}: its C{acl_upload}."""
    return allows(config["acl_upload"], identity)


def may_upload_toxresult(identity: Identity, config: IndexConfig) -> bool:
    """Whether C{identity} may attach tox results to an index's files: its C{acl_toxresult_upload}."""
    return allows(config["acl_toxresult_upload"], identity)


def may_delete_entries(identity: Identity, username: str, config: IndexConfig) -> bool:
    """
    devpi's C{del_entry}: whether C{identity} may delete files, versions and
    projects of an index owned by C{username} with C{config}: its
    C{acl_upload} principals, the owner and root.
    """
    if identity.username in (username, ROOT):
        return True
    return allows(config.get("acl_upload", []), identity)
