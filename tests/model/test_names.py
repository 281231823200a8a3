"""User and index name rules, and PEP 503 project name normalization."""

from __future__ import annotations

from typing import Callable

from twisted.trial.unittest import TestCase

from devpi_twisted.model.errors import InvalidInput
from devpi_twisted.model.names import check_indexname, check_username, normalize_project

BLOCKED_SYMBOLS = "!\"#$%&'()*+,/:;<=>?[\\]^`{|}~"


class UserAndIndexNameTests(TestCase):
    checks: list[Callable[[object], str]] = [check_username, check_indexname]

    def test_letters_digits_and_allowed_symbols_pass(self) -> None:
        for check in self.checks:
            for name in ("alice", "Upper.Case@x", "a-b_c.d@e", "0", "üml", "名前"):
                self.assertEqual(check(name), name)

    def test_every_other_ascii_symbol_is_blocked(self) -> None:
        for check in self.checks:
            for symbol in BLOCKED_SYMBOLS:
                self.assertRaises(InvalidInput, check, f"a{symbol}b")

    def test_space_and_control_characters_are_blocked(self) -> None:
        for check in self.checks:
            for char in (" ", "\t", "\n", "\x00", "\x1f", "\x7f"):
                self.assertRaises(InvalidInput, check, f"a{char}b")

    def test_username_message(self) -> None:
        error = self.assertRaises(InvalidInput, check_username, "b b")
        self.assertEqual(
            error.message,
            "username 'b b' contains characters that aren't allowed. "
            "Any ascii symbol besides -.@_ is blocked.",
        )

    def test_indexname_message(self) -> None:
        error = self.assertRaises(InvalidInput, check_indexname, "in dex")
        self.assertEqual(
            error.message,
            "indexname 'in dex' contains characters that aren't allowed. "
            "Any ascii symbol besides -.@_ is blocked.",
        )

    def test_empty_and_non_strings_are_refused(self) -> None:
        for check in self.checks:
            for name in ("", None, 1, ["alice"]):
                self.assertRaises(InvalidInput, check, name)

    def test_names_are_case_sensitive(self) -> None:
        self.assertEqual(check_username("Alice"), "Alice")


class ProjectNameTests(TestCase):
    def test_runs_of_separators_become_one_dash_and_case_is_folded(self) -> None:
        cases = {
            "Hello_Pkg": "hello-pkg",
            "other.pkg": "other-pkg",
            "A__B--C..D": "a-b-c-d",
            "a._-b": "a-b",
            "zope.interface": "zope-interface",
            "simple": "simple",
        }
        for name, normalized in cases.items():
            self.assertEqual(normalize_project(name), normalized, name)

    def test_normalizing_is_idempotent(self) -> None:
        self.assertEqual(normalize_project(normalize_project("Foo.Bar_baz")), "foo-bar-baz")
