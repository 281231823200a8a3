"""The systemd unit: its command line, its quoting, and systemd's own check of it."""

from __future__ import annotations

import os
import subprocess
import sys

from twisted.trial.unittest import TestCase

from devpi_twisted.deploy import UnsafeValue, systemd
from tests.deploy.support import SYSTEMD_ANALYZE, sample

#: the twistd beside this test run's python, which the unit can name as its ExecStart
TWISTD = os.path.join(os.path.dirname(sys.executable), "twistd")


class RenderTests(TestCase):
    def test_runs_twistd_in_the_foreground(self) -> None:
        lines = systemd.render(sample()).splitlines()
        self.assertIn(
            "ExecStart=/srv/venv/bin/twistd -n --pidfile= devpi --serverdir /srv/devpi --port 4040",
            lines,
        )
        self.assertIn("User=devpi", lines)
        self.assertIn("[Install]", lines)

    def test_quote(self) -> None:
        self.assertEqual(systemd.quote("/srv/devpi"), "/srv/devpi")
        self.assertEqual(systemd.quote("/srv/my devpi"), '"/srv/my devpi"')
        self.assertEqual(systemd.quote("100%"), '"100%%"')
        self.assertEqual(systemd.quote("$HOME"), '"$$HOME"')
        self.assertEqual(systemd.quote('a"b\\c'), '"a\\"b\\\\c"')
        self.assertEqual(systemd.quote(""), '""')
        self.assertEqual(systemd.quote(";"), "\\;")

    def test_control_characters_refused(self) -> None:
        with self.assertRaises(UnsafeValue):
            systemd.render(sample(server_args=("--serverdir", "/srv/a\nExecStartPre=/bin/evil")))


class SystemdAcceptsTests(TestCase):
    """C{systemd-analyze verify} finds nothing to say about the unit."""

    if SYSTEMD_ANALYZE is None:
        skip = "systemd-analyze is not installed"
    elif not os.access(TWISTD, os.X_OK):
        skip = f"no twistd beside {sys.executable} for the unit to run"

    def verify(self, unit_text: str) -> subprocess.CompletedProcess[str]:
        """C{systemd-analyze verify} of a unit file holding C{unit_text}."""
        workdir = os.path.abspath(self.mktemp())
        os.makedirs(workdir)
        unit = os.path.join(workdir, "devpi-twisted.service")
        with open(unit, "w", encoding="utf-8") as f:
            f.write(unit_text)
        assert SYSTEMD_ANALYZE is not None
        return subprocess.run(
            [SYSTEMD_ANALYZE, "verify", unit],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=30,
        )

    def unit(self, *server_args: str) -> str:
        return systemd.render(sample(twistd=TWISTD, user="root", server_args=server_args))

    def test_plain_unit(self) -> None:
        result = self.verify(self.unit("--serverdir", "/srv/devpi", "--port", "4040"))
        self.assertEqual((result.returncode, result.stdout + result.stderr), (0, ""))

    def test_awkward_values(self) -> None:
        unit = self.unit("--serverdir", '/srv/my "devpi" 100%x $HOME\\', "--outside-url", ";")
        result = self.verify(unit)
        self.assertEqual((result.returncode, result.stdout + result.stderr), (0, ""))

    def test_check_finds_bad_quoting(self) -> None:
        """The checks above can fail: an unescaped specifier is an error to systemd."""
        result = self.verify(self.unit("--serverdir", "/srv/devpi").replace("/srv/devpi", "/srv/%x"))
        self.assertNotEqual(result.returncode, 0)
