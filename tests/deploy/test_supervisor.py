"""The supervisor program: read back the way supervisord reads it, it runs the same command."""

from __future__ import annotations

import configparser
import shlex

from twisted.trial.unittest import TestCase

from devpi_twisted.deploy import UnsafeValue, supervisor
from tests.deploy.support import sample


def supervisor_reads(text: str) -> configparser.SectionProxy:
    """The program section as supervisord's ini parser sees it (inline comments after whitespace)."""
    parser = configparser.RawConfigParser(inline_comment_prefixes=(";", "#"))
    parser.read_string(text)
    return parser["program:devpi-twisted"]


def supervisor_argv(text: str) -> list[str]:
    """The argv supervisord runs: C{command} with C{%(...)s} expanded, then shlex-split."""
    return shlex.split(supervisor_reads(text)["command"] % {})


class RenderTests(TestCase):
    def test_program(self) -> None:
        section = supervisor_reads(supervisor.render(sample()))
        self.assertEqual(section["user"], "devpi")
        self.assertEqual(section["autorestart"], "true")
        self.assertEqual(
            supervisor_argv(supervisor.render(sample())),
            ["/srv/venv/bin/twistd", "-n", "--pidfile=", "devpi", "--serverdir", "/srv/devpi", "--port", "4040"],
        )

    def test_awkward_values_survive(self) -> None:
        args = ("--serverdir", "/srv/a ;b #c %d %(ENV_HOME)s $e 'f\"g\\h é", "--outside-url", "")
        argv = supervisor_argv(supervisor.render(sample(server_args=args)))
        self.assertEqual(argv[4:], list(args))

    def test_control_characters_refused(self) -> None:
        with self.assertRaises(UnsafeValue):
            supervisor.render(sample(server_args=("--serverdir", "/srv\n[program:evil]")))
