"""devpi-twisted init: a new server directory with root and root/pypi, never over existing data."""

from __future__ import annotations

import os

from passlib.hash import argon2
from twisted.trial.unittest import TestCase

from devpi_twisted.commands.offline import open_offline
from devpi_twisted.model import keys
from devpi_twisted.model.indexes import root_pypi_config
from devpi_twisted.serverdir import NODEINFO, STORE
from tests.commands.console import run_command
from tests.support import CHEAP_ARGON2

#: a real argon2 hash (of "hashed"), cheap to make
PWHASH = CHEAP_ARGON2.hash("hashed")


class InitTests(TestCase):
    def setUp(self) -> None:
        self.path = os.path.abspath(self.mktemp())

    def stored(self, key: str) -> object:
        with open_offline(self.path) as server:
            return server.store.get(key)

    def test_creates_root_and_root_pypi(self) -> None:
        outcome = run_command("init", "--serverdir", self.path, "--root-passwd", "s3cret")
        self.assertEqual(outcome.code, 0, outcome)
        self.assertIn(f"created {self.path}", outcome.out)
        self.assertNotIn("s3cret", outcome.out + outcome.err)
        root = self.stored(keys.user("root"))
        self.assertTrue(argon2.verify("s3cret", root["pwhash"]))
        self.assertEqual(self.stored(keys.index("root", "pypi")), root_pypi_config())

    def test_root_password_is_empty_by_default(self) -> None:
        self.assertEqual(run_command("init", "--serverdir", self.path).code, 0)
        self.assertTrue(argon2.verify("", self.stored(keys.user("root"))["pwhash"]))

    def test_root_password_hash_is_stored_as_given(self) -> None:
        outcome = run_command("init", "--serverdir", self.path, "--root-passwd-hash", PWHASH)
        self.assertEqual(outcome.code, 0, outcome)
        self.assertEqual(self.stored(keys.user("root"))["pwhash"], PWHASH)

    def test_no_root_pypi(self) -> None:
        self.assertEqual(run_command("init", "--serverdir", self.path, "--no-root-pypi").code, 0)
        self.assertIsNotNone(self.stored(keys.user("root")))
        self.assertIsNone(self.stored(keys.index("root", "pypi")))

    def test_serverdir_from_the_environment(self) -> None:
        self.patch(os, "environ", {**os.environ, "DEVPI_TWISTED_SERVERDIR": self.path})
        self.assertEqual(run_command("init", "--no-root-pypi").code, 0)
        self.assertTrue(os.path.exists(os.path.join(self.path, STORE)))

    def test_refuses_a_server_directory_with_data(self) -> None:
        self.assertEqual(run_command("init", "--serverdir", self.path).code, 0)
        with open_offline(self.path) as server:
            serial = server.store.serial
        outcome = run_command("init", "--serverdir", self.path, "--root-passwd-hash", PWHASH)
        self.assertEqual(outcome.code, 1)
        self.assertIn("already holds devpi-twisted data", outcome.err)
        with open_offline(self.path) as server:
            self.assertEqual(server.store.serial, serial)
            self.assertNotEqual(server.store.get(keys.user("root"))["pwhash"], PWHASH)

    def test_refuses_a_directory_with_other_files(self) -> None:
        os.makedirs(self.path)
        with open(os.path.join(self.path, "notes.txt"), "w") as f:
            f.write("mine")
        outcome = run_command("init", "--serverdir", self.path)
        self.assertEqual(outcome.code, 1)
        self.assertIn("is not a devpi-twisted server directory", outcome.err)
        self.assertEqual(os.listdir(self.path), ["notes.txt"])

    def test_an_empty_existing_directory_is_used(self) -> None:
        os.makedirs(self.path)
        self.assertEqual(run_command("init", "--serverdir", self.path).code, 0)
        self.assertTrue(os.path.exists(os.path.join(self.path, NODEINFO)))

    def test_password_and_hash_together_are_refused(self) -> None:
        outcome = run_command(
            "init", "--serverdir", self.path, "--root-passwd", "x", "--root-passwd-hash", PWHASH
        )
        self.assertEqual(outcome.code, 2)
        self.assertIn("not both", outcome.err)
        self.assertFalse(os.path.exists(self.path))

    def test_a_hash_that_is_not_argon2_is_refused(self) -> None:
        outcome = run_command("init", "--serverdir", self.path, "--root-passwd-hash", "secret")
        self.assertEqual(outcome.code, 2)
        self.assertIn("not an argon2 hash", outcome.err)
        self.assertFalse(os.path.exists(self.path))
