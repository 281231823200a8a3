"""C{devpi-twisted passwd USER}: set a user's password while no server runs."""

from __future__ import annotations

import getpass
import sys
import time
from typing import Optional

from devpi_twisted.auth.passwords import PasswordHasher
from devpi_twisted.commands import CommandError
from devpi_twisted.commands.offline import open_offline, run_here
from devpi_twisted.model import users
from devpi_twisted.model.errors import NotFound
from devpi_twisted.options import ServerDirOptions

#: How often a TTY user may type two different passwords (devpi's number).
ATTEMPTS = 3


class Options(ServerDirOptions):
    """devpi-twisted passwd [options] USER."""

    synopsis = "[options] USER"
    longdesc = (
        "Set USER's password in the server directory (which no server may be running on)."
        " On a terminal it is asked for twice; otherwise one line is read from stdin."
        " The user's login tokens stop working."
    )

    def parseArgs(self, user: str) -> None:  # type: ignore[override]  # usage.Options passes the positional arguments
        self["user"] = user


def read_password(username: str) -> Optional[str]:
    """The new password: typed twice on a TTY, else one line of stdin; None when none was given."""
    if not sys.stdin.isatty():
        line = sys.stdin.readline()
        return line.rstrip("\r\n") if line else None
    for _ in range(ATTEMPTS):
        try:
            first = getpass.getpass(f"enter password for {username}: ")
            second = getpass.getpass(f"repeat password for {username}: ")
        except (EOFError, KeyboardInterrupt):
            return None
        if first == second:
            return first
        print("passwords do not match", file=sys.stderr)
    return None


def run(options: Options) -> int:
    """
    Set the password; L{CommandError} or L{ServerDirError} for an unknown
    user, no password, or a directory in use.
    """
    username = options["user"]
    with open_offline(options["serverdir"], create=False) as server:
        if server.serverdir.primary_uuid is not None:
            raise CommandError("this is a replica's directory: change the password on the primary")
        try:
            users.get_user(server.store, username)
        except NotFound:
            raise CommandError(f"user {username!r} not found")
        password = read_password(username)
        if password is None:
            raise CommandError("no password set")
        pwhash = PasswordHasher(run_here).hash_now(password)
        server.store.transact_now(
            lambda txn: users.modify_user(txn, username, {}, pwhash, time.time())
        )
    print(f"password of user {username!r} changed; its login tokens no longer work")
    return 0
