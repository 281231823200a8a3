"""PageChecks: when pages were confirmed and used, written a moment after changes and read back."""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.trial.unittest import TestCase

from devpi_twisted.mirror.checks import RETAIN, SAVE_DELAY, PageChecks
from tests.support import run_inline


class PageChecksTests(TestCase):
    def test_written_after_a_delay_read_back_and_old_pages_forgotten(self) -> None:
        clock, directory = Clock(), self.mktemp()
        clock.advance(1_000_000_000)
        checks = PageChecks(clock, run_inline, directory)
        self.successResultOf(checks.load())
        checks.checked(("root/up", "old"))
        clock.advance(RETAIN)
        checks.checked(("root/up", "new"))
        checks.used(("root/up", "new"))
        self.assertEqual(PageChecks(clock, run_inline, directory).checked_at(("root/up", "new")), None)
        clock.advance(SAVE_DELAY)
        again = PageChecks(clock, run_inline, directory)
        self.successResultOf(again.load())
        self.assertEqual(again.checked_at(("root/up", "new")), clock.seconds() - SAVE_DELAY)
        self.assertEqual(again.used_since(0), [("root/up", "new")])
        self.assertIsNone(again.checked_at(("root/up", "old")))

    def test_a_pending_change_is_written_on_flush(self) -> None:
        clock, directory = Clock(), self.mktemp()
        checks = PageChecks(clock, run_inline, directory)
        checks.checked(("root/up", "p"))
        self.successResultOf(checks.flush())
        self.assertEqual(clock.getDelayedCalls(), [])
        again = PageChecks(clock, run_inline, directory)
        self.successResultOf(again.load())
        self.assertEqual(again.checked_at(("root/up", "p")), 0.0)
