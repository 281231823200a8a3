"""Running a devpi-twisted command in this process, with its output captured."""

from __future__ import annotations

import io
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass

from devpi_twisted.commands import main


@dataclass(frozen=True)
class Outcome:
    """A command's exit code and what it printed."""

    code: int
    out: str
    err: str


def run_command(*argv: str) -> Outcome:
    """Run C{devpi-twisted ARGV} and capture stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(argv))
    return Outcome(code, out.getvalue(), err.getvalue())
