"""The crontab line: read back as cron and sh read it, it runs the same command."""

from __future__ import annotations

import shlex

from twisted.trial.unittest import TestCase

from devpi_twisted.deploy import UnsafeValue, cron
from tests.deploy.support import sample


def cron_argv(text: str) -> list[str]:
    """The argv of the C{@reboot} line: cron turns C{\\%} into C{%}, then sh splits the words."""
    (line,) = [line for line in text.splitlines() if line.startswith("@reboot ")]
    command = line[len("@reboot "):]
    assert "%" not in command.replace("\\%", ""), "a bare % is a newline to cron"
    return shlex.split(command.replace("\\%", "%"))


class RenderTests(TestCase):
    def test_starts_a_daemon_at_boot(self) -> None:
        self.assertEqual(
            cron_argv(cron.render(sample())),
            ["/srv/venv/bin/twistd", "--pidfile=/srv/devpi.pid", "--logfile=/srv/devpi.log",
             "devpi", "--serverdir", "/srv/devpi", "--port", "4040"],
        )

    def test_awkward_values_survive(self) -> None:
        args = ("--serverdir", "/srv/a b%c $d 'e\" `f`", "--outside-url", "")
        argv = cron_argv(cron.render(sample(server_args=args)))
        self.assertEqual(argv[4:], list(args))

    def test_control_characters_refused(self) -> None:
        with self.assertRaises(UnsafeValue):
            cron.render(sample(server_args=("--serverdir", "/srv\n* * * * * evil")))
