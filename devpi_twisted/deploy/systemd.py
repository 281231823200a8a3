"""The systemd unit: C{twistd -n devpi} in the foreground, restarted when it fails."""

from __future__ import annotations

import re
from typing import Iterable

from devpi_twisted.deploy.errors import printable
from devpi_twisted.deploy.settings import Deployment

_BARE = re.compile(r"[A-Za-z0-9_./:@+=,-]+")

TEMPLATE = """\
# systemd unit for devpi-twisted, written by `devpi-twisted gen-config`.
# Install it as /etc/systemd/system/devpi-twisted.service, then
#   systemctl daemon-reload && systemctl enable --now devpi-twisted
# The server logs to the journal: journalctl -u devpi-twisted
# An s3:// --blob-store finds its credentials the standard AWS way: the user's
# ~/.aws/credentials or an instance role, or an EnvironmentFile= (mode 0600) with
# AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; never on the command line.
[Unit]
Description=devpi-twisted package index server
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
User={user}
ExecStart={command}
Restart=on-failure
RestartSec=5
TimeoutStopSec=30

[Install]
WantedBy=multi-user.target
"""


def render(deployment: Deployment) -> str:
    """The unit file of C{deployment}."""
    return TEMPLATE.format(
        user=printable(deployment.user, "a systemd unit"),
        command=command_line(deployment.foreground_command),
    )


def command_line(args: Iterable[str]) -> str:
    """C{args} as the value of C{ExecStart=}: each quoted so systemd passes it on as is."""
    return " ".join(quote(arg) for arg in args)


def quote(arg: str) -> str:
    """
    One word for a unit file: specifiers (C{%}) and variables (C{$}) escaped
    by doubling, double-quoted with C escapes unless plain.
    """
    escaped = printable(arg, "a systemd unit").replace("%", "%%").replace("$", "$$")
    if _BARE.fullmatch(arg):
        return escaped
    if arg == ";":
        return "\\;"
    return '"' + escaped.replace("\\", "\\\\").replace('"', '\\"') + '"'
