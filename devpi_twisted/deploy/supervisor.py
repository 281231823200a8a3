"""The supervisor program section: C{twistd -n devpi} run and restarted by supervisord."""

from __future__ import annotations

import re
from typing import Iterable

from devpi_twisted.deploy.errors import printable
from devpi_twisted.deploy.settings import Deployment

_PLAIN = re.compile(r"[A-Za-z0-9_./:@+=,-]")

TEMPLATE = """\
; supervisor program for devpi-twisted, written by `devpi-twisted gen-config`.
; Put it into supervisor's include folder (e.g. /etc/supervisor/conf.d/), then
;   supervisorctl reread && supervisorctl update
[program:devpi-twisted]
command={command}
user={user}
autostart=true
autorestart=true
startsecs=5
stopsignal=TERM
stopwaitsecs=30
redirect_stderr=true
"""


def render(deployment: Deployment) -> str:
    """The program section of C{deployment}."""
    return TEMPLATE.format(
        command=command_line(deployment.foreground_command),
        user=printable(deployment.user, "a supervisor config"),
    )


def command_line(args: Iterable[str]) -> str:
    """C{args} as supervisor's C{command=}: it expands C{%(...)s}, drops C{ ;} comments, then shlex-splits."""
    return " ".join(quote(arg) for arg in args)


def quote(arg: str) -> str:
    """
    One word for supervisor: every character shlex or the ini parser might
    take for syntax backslash-escaped (so no C{ ;} or C{ #} comment can
    start), C{%} doubled.
    """
    if not printable(arg, "a supervisor config"):
        return "''"
    return "".join(
        "%%" if c == "%" else c if _PLAIN.fullmatch(c) else "\\" + c for c in arg
    )
