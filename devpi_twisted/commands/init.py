"""C{devpi-twisted init}: create a server directory with the root user and root/pypi."""

from __future__ import annotations

import os
import time
from typing import Optional

from passlib.hash import argon2
from twisted.python import usage

from devpi_twisted.auth.passwords import PasswordHasher
from devpi_twisted.commands import CommandError
from devpi_twisted.commands.offline import open_offline, run_here
from devpi_twisted.model import users
from devpi_twisted.model.acl import ROOT
from devpi_twisted.model.bootstrap import bootstrap
from devpi_twisted.model.state import StateWriter
from devpi_twisted.options import ServerDirOptions
from devpi_twisted.serverdir import NODEINFO


class Options(ServerDirOptions):
    """devpi-twisted init [options]."""

    longdesc = (
        "Create a server directory holding the root user and the root/pypi mirror of PyPI."
        " The server does the same on its first start; init is for scripted setups."
    )
    optParameters = [
        ["root-passwd", None, "", "password of the root user"],
        ["root-passwd-hash", None, None, "argon2 hash of the root user's password (instead of --root-passwd)"],
    ]
    optFlags = [
        ["no-root-pypi", None, "do not create the root/pypi mirror index"],
    ]

    def postOptions(self) -> None:
        pwhash = self["root-passwd-hash"]
        if pwhash is None:
            return
        if self["root-passwd"]:
            raise usage.UsageError("give --root-passwd or --root-passwd-hash, not both")
        if not argon2.identify(pwhash):
            raise usage.UsageError("--root-passwd-hash is not an argon2 hash ($argon2...)")


def _create(txn: StateWriter, pwhash: str, root_pypi: bool, now: float) -> None:
    if root_pypi:
        bootstrap(txn, pwhash, now)
    else:
        users.create_user(txn, ROOT, pwhash, {}, now)


def run(options: Options) -> int:
    """
    Create the server directory; L{CommandError} or L{ServerDirError} if it
    already holds data or cannot be used.
    """
    path = os.path.abspath(os.path.expanduser(options["serverdir"]))
    if os.path.exists(os.path.join(path, NODEINFO)):
        raise CommandError(f"{path} already holds devpi-twisted data")
    pwhash: Optional[str] = options["root-passwd-hash"]
    if pwhash is None:
        pwhash = PasswordHasher(run_here).hash_now(options["root-passwd"])
    root_pypi = not options["no-root-pypi"]
    with open_offline(path) as server:
        if server.store.serial >= 0:
            raise CommandError(f"{path} already holds devpi-twisted data")
        server.store.transact_now(lambda txn: _create(txn, pwhash, root_pypi, time.time()))
    created = "root user and root/pypi" if root_pypi else "root user"
    print(f"created {path} with the {created}")
    return 0
