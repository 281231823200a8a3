"""The crontab line: start the server as a daemon (C{twistd} without C{-n}) at boot."""

from __future__ import annotations

import shlex
from typing import Iterable

from devpi_twisted.deploy.errors import printable
from devpi_twisted.deploy.settings import Deployment

TEMPLATE = """\
# crontab entry for devpi-twisted, written by `devpi-twisted gen-config`.
# Add it with `crontab -e` as {user}: it starts the server in the background at boot,
# logging to {logfile} (twistd keeps its pid in {pidfile}).
@reboot {command}
"""


def render(deployment: Deployment) -> str:
    """The crontab of C{deployment}: one C{@reboot} line."""
    logfile = deployment.serverdir + ".log"
    pidfile = deployment.serverdir + ".pid"
    command = [
        deployment.twistd, f"--pidfile={pidfile}", f"--logfile={logfile}", "devpi",
        *deployment.server_args,
    ]
    return TEMPLATE.format(
        user=deployment.user, logfile=logfile, pidfile=pidfile, command=command_line(command)
    )


def command_line(args: Iterable[str]) -> str:
    """C{args} as a crontab command: shell-quoted, C{%} (a newline to cron) escaped."""
    return " ".join(shlex.quote(printable(arg, "a crontab")).replace("%", "\\%") for arg in args)
