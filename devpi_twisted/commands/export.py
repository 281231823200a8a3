"""C{devpi-twisted export DIR}: dump a server directory in devpi-server's export format."""

from __future__ import annotations

from devpi_twisted.commands.offline import open_readonly
from devpi_twisted.dump.directories import new_directory
from devpi_twisted.dump.exporter import Exporter
from devpi_twisted.options import ServerDirOptions


class Options(ServerDirOptions):
    """devpi-twisted export [options] DIR."""

    synopsis = "Usage: devpi-twisted export [options] DIR"
    longdesc = (
        "Write users (with password hashes), indexes, releases, docs and tox results to DIR,"
        " which must not exist or be empty, as devpi-server's devpi-export does (dumpversion 2):"
        " devpi-twisted import and devpi-server's devpi-import read it. Mirror indexes are"
        " exported without their cached files; no uuid and no secret are exported."
    )

    def parseArgs(self, directory: str) -> None:  # type: ignore[override]  # usage.Options passes the positional arguments
        self["directory"] = directory


def run(options: Options) -> int:
    """
    Export; L{DumpError} or L{ServerDirError} when the server directory or
    a stored file cannot be read, or DIR is not empty.
    """
    with open_readonly(options["serverdir"]) as server, new_directory(options["directory"]) as temp:
        summary = Exporter(server.store, server.blobs, temp).run()
    print(
        f"exported {summary.users} users, {summary.indexes} indexes, {summary.projects} projects"
        f" and {summary.files} files to {options['directory']}"
    )
    return 0
