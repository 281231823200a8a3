"""C{devpi-twisted import DIR}: restore an export (ours or devpi-server's) into a new server directory."""

from __future__ import annotations

import os
import sys
import time

from devpi_twisted.auth.passwords import PasswordHasher
from devpi_twisted.commands.offline import open_offline, run_here
from devpi_twisted.dump.dataindex import Dump, read_dump
from devpi_twisted.dump.directories import new_directory
from devpi_twisted.dump.errors import DumpError, NotEmpty
from devpi_twisted.dump.importer import Importer, ImportSettings, ImportSummary
from devpi_twisted.options import ServerDirOptions


class Options(ServerDirOptions):
    """devpi-twisted import [options] DIR."""

    synopsis = "Usage: devpi-twisted import [options] DIR"
    longdesc = (
        "Import the export in DIR (written by devpi-twisted export or devpi-server's"
        " devpi-export) into a new server directory: users keep their passwords, indexes"
        " their configs, releases their files, docs and tox results. A server directory"
        " that holds data is refused unless --merge is given."
    )
    optParameters = [
        ["skip-import-type", None, "", "comma separated index types not to import (e.g. a plugin's)"],
    ]
    optFlags = [
        ["merge", None, "add to a server directory that holds data; its root user and root/pypi stay"],
        ["no-root-pypi", None, "do not create root/pypi (nor import the dump's)"],
    ]

    def parseArgs(self, directory: str) -> None:  # type: ignore[override]  # usage.Options passes the positional arguments
        self["directory"] = directory

    def settings(self) -> ImportSettings:
        """What the options allow the importer."""
        skip = frozenset(t.strip() for t in self["skip-import-type"].split(",") if t.strip())
        return ImportSettings(bool(self["merge"]), skip, not self["no-root-pypi"])


def _import(options: Options, dump: Dump, serverdir: str) -> ImportSummary:
    def warn(message: str) -> None:
        print(f"warning: {message}", file=sys.stderr)

    def root_pwhash() -> str:
        return PasswordHasher(run_here).hash_now("")

    with open_offline(serverdir) as server:
        importer = Importer(
            dump, server.store, server.blobs, options.settings(), root_pwhash, time.time(), print, warn
        )
        return importer.run()


def run(options: Options) -> int:
    """
    Import; L{DumpError} or L{ServerDirError} (nothing imported) for bad
    input or a server directory that holds data.
    """
    serverdir = os.path.abspath(os.path.expanduser(options["serverdir"]))
    dump = read_dump(options["directory"])
    print(f"importing {dump.path} (dumpversion {dump.dumpversion}, written by {dump.producer})")
    if options["merge"]:
        summary = _import(options, dump, serverdir)
    else:
        try:
            with new_directory(serverdir) as temp:
                summary = _import(options, dump, temp)
        except NotEmpty:
            raise DumpError(
                f"{serverdir} is not empty: import into a new server directory, or add --merge"
            )
    print(
        f"imported {summary.users} users, {summary.indexes} indexes, {summary.projects} projects"
        f" and {summary.files} files into {serverdir} in {summary.transactions} transactions"
    )
    return 0
