"""The C{devpi-twisted} command: administration tasks next to the C{twistd devpi} server."""

from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import Optional, Sequence

from twisted.python import usage

from devpi_twisted.dump.errors import DumpError
from devpi_twisted.serverdir import ServerDirError
from devpi_twisted.store.blobs import BlobStoreUnavailable

#: subcommand -> (module in this package, one-line description)
COMMANDS = {
    "init": ("init", "create a server directory with root and root/pypi"),
    "passwd": ("passwd", "set a user's password offline"),
    "gen-config": ("gen_config", "write nginx, systemd, supervisor and cron configs"),
    "export": ("export", "dump a server directory to a folder"),
    "import": ("import_", "restore a dump (ours or devpi-server's) into a server directory"),
    "fsck": ("fsck", "check every stored file against its recorded hash"),
    "mirror": ("mirror", "mirror tasks: warm INDEX REQUIREMENT... fills a cache for offline use"),
}


class CommandError(Exception):
    """A command cannot do its task; C{str()} says why."""


def _command_module(name: str) -> ModuleType:
    return importlib.import_module(f"devpi_twisted.commands.{COMMANDS[name][0]}")


class MainOptions(usage.Options):
    """devpi-twisted COMMAND [options]: run one administration task."""

    synopsis = "Usage: devpi-twisted COMMAND [options]"
    longdesc = "Administration of a devpi-twisted server directory; the server itself runs as twistd devpi."

    def __init__(self) -> None:
        super().__init__()
        self.subCommands = [
            (name, None, _LazyOptions(name), description)
            for name, (_, description) in COMMANDS.items()
        ]

    def postOptions(self) -> None:
        if self.subCommand is None:
            raise usage.UsageError("name a command: " + ", ".join(COMMANDS))


class _LazyOptions:
    """Imports a command's module only when that command is used."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __call__(self) -> usage.Options:
        return _command_module(self._name).Options()


def main(argv: Optional[Sequence[str]] = None) -> int:
    """
    Run the command named in C{argv} (default: C{sys.argv[1:]}); returns the
    exit code, 1 with the message of a command's L{CommandError},
    L{DumpError}, L{ServerDirError} or L{BlobStoreUnavailable}.
    """
    options = MainOptions()
    try:
        options.parseOptions(list(sys.argv[1:] if argv is None else argv))
    except usage.UsageError as error:
        sub = options.subOptions if options.subCommand else options
        print(f"{sub}\ndevpi-twisted: error: {error}", file=sys.stderr)
        return 2
    assert options.subCommand is not None  # postOptions refuses no command
    try:
        return _command_module(options.subCommand).run(options.subOptions)
    except (CommandError, DumpError, ServerDirError, BlobStoreUnavailable) as error:
        print(f"devpi-twisted: {error}", file=sys.stderr)
        return 1
