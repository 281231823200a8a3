"""devpi-twisted passwd: a new password set offline, old tokens void, never beside a running server."""

from __future__ import annotations

import getpass
import io
import os
import sys
import time

from twisted.internet.defer import ensureDeferred
from twisted.internet.task import Clock
from twisted.trial.unittest import TestCase

from devpi_twisted.auth.credentials import INVALID, OK, Authenticator, Credentials
from devpi_twisted.auth.passwords import PasswordHasher
from devpi_twisted.auth.tokens import TokenSigner
from devpi_twisted.auth.verified import VerifiedPasswords
from devpi_twisted.commands.offline import open_offline
from devpi_twisted.model import keys, users
from devpi_twisted.serverdir import open_serverdir
from tests.commands.console import Outcome, run_command
from tests.support import CHEAP_ARGON2, SECRET, RunningServer, result_of, run_inline, server_options


class TerminalInput(io.StringIO):
    """stdin as a terminal: passwords are read with getpass, not from here."""

    def isatty(self) -> bool:
        return True


class PasswdTests(TestCase):
    """A server directory with root (password "old") and alice (password "alice")."""

    def setUp(self) -> None:
        self.path = os.path.abspath(self.mktemp())
        outcome = run_command("init", "--serverdir", self.path, "--root-passwd-hash", CHEAP_ARGON2.hash("old"))
        self.assertEqual(outcome.code, 0, outcome)
        with open_offline(self.path) as server:
            alice = CHEAP_ARGON2.hash("alice")
            server.store.transact_now(lambda txn: users.create_user(txn, "alice", alice, {}, time.time()))

    def pwhash(self, username: str) -> str:
        with open_offline(self.path) as server:
            return str(server.store.get(keys.user(username))["pwhash"])

    def passwd(self, username: str, stdin: str) -> Outcome:
        self.patch(sys, "stdin", io.StringIO(stdin))
        return run_command("passwd", "--serverdir", self.path, username)

    def authenticate(self, username: str, secret: str) -> str:
        """The status of logging in as C{username} with C{secret} (password or token)."""
        with open_offline(self.path) as server:
            clock = Clock()
            authenticator = Authenticator(
                server.store, PasswordHasher(run_inline), TokenSigner(SECRET, clock), VerifiedPasswords(clock)
            )
            d = ensureDeferred(authenticator.authenticate(Credentials(username, secret)))
            return result_of(d).status

    def test_sets_the_password_read_from_stdin(self) -> None:
        token = TokenSigner(SECRET, Clock()).issue("root", self.pwhash("root"))
        self.assertEqual(self.authenticate("root", token), OK)
        outcome = self.passwd("root", "n3w pass\n")
        self.assertEqual(outcome.code, 0, outcome)
        self.assertIn("'root'", outcome.out)
        self.assertNotIn("n3w", outcome.out + outcome.err)
        self.assertEqual(self.authenticate("root", "n3w pass"), OK)
        self.assertEqual(self.authenticate("root", "old"), INVALID)
        self.assertEqual(self.authenticate("root", token), INVALID)
        self.assertEqual(self.authenticate("alice", "alice"), OK)

    def test_the_hash_is_argon2_with_a_modified_stamp(self) -> None:
        self.assertEqual(self.passwd("alice", "other").code, 0)
        with open_offline(self.path) as server:
            record = server.store.get(keys.user("alice"))
        self.assertTrue(record["pwhash"].startswith("$argon2"))
        self.assertIn("modified", record)

    def test_an_empty_line_sets_an_empty_password_as_devpi_does(self) -> None:
        self.assertEqual(self.passwd("alice", "\n").code, 0)
        self.assertEqual(self.authenticate("alice", ""), OK)

    def test_no_input_sets_nothing(self) -> None:
        before = self.pwhash("alice")
        outcome = self.passwd("alice", "")
        self.assertEqual(outcome.code, 1)
        self.assertIn("no password set", outcome.err)
        self.assertEqual(self.pwhash("alice"), before)

    def test_unknown_user(self) -> None:
        outcome = self.passwd("bob", "secret\n")
        self.assertEqual(outcome.code, 1)
        self.assertIn("user 'bob' not found", outcome.err)
        self.assertEqual(sys.stdin.read(), "secret\n", "the password was asked for")

    def typed(self, *passwords: str) -> list[str]:
        """Answer getpass with C{passwords} in turn, on a terminal; the prompts it will show."""
        self.patch(sys, "stdin", TerminalInput("never read\n"))
        answers = iter(passwords)
        prompts: list[str] = []

        def getpass_(prompt: str) -> str:
            prompts.append(prompt)
            return next(answers)

        self.patch(getpass, "getpass", getpass_)
        return prompts

    def test_on_a_terminal_the_password_is_typed_twice(self) -> None:
        prompts = self.typed("one", "two", "same", "same")
        outcome = run_command("passwd", "--serverdir", self.path, "alice")
        self.assertEqual(outcome.code, 0, outcome)
        self.assertIn("passwords do not match", outcome.err)
        self.assertEqual(prompts, ["enter password for alice: ", "repeat password for alice: "] * 2)
        self.assertEqual(sys.stdin.read(), "never read\n")
        self.assertEqual(self.authenticate("alice", "same"), OK)

    def test_on_a_terminal_three_mismatches_set_nothing(self) -> None:
        before = self.pwhash("alice")
        self.typed("a", "b", "c", "d", "e", "f")
        outcome = run_command("passwd", "--serverdir", self.path, "alice")
        self.assertEqual(outcome.code, 1)
        self.assertIn("no password set", outcome.err)
        self.assertEqual(self.pwhash("alice"), before)

    def test_a_missing_server_directory_is_not_created(self) -> None:
        missing = os.path.abspath(self.mktemp())
        self.patch(sys, "stdin", io.StringIO("secret\n"))
        outcome = run_command("passwd", "--serverdir", missing, "root")
        self.assertEqual(outcome.code, 1)
        self.assertIn("no server directory", outcome.err)
        self.assertFalse(os.path.exists(missing))

    def test_refuses_a_replica_directory(self) -> None:
        before = self.pwhash("root")
        serverdir = open_serverdir(self.path)
        serverdir.remember_primary("0123456789abcdef0123456789abcdef")
        serverdir.close()
        outcome = self.passwd("root", "secret\n")
        self.assertEqual(outcome.code, 1)
        self.assertIn("change the password on the primary", outcome.err)
        self.assertEqual(self.pwhash("root"), before)

    async def test_refuses_while_a_server_runs_on_the_directory(self) -> None:
        before = self.pwhash("root")
        server = await RunningServer(server_options(self.path)).start()
        try:
            outcome = self.passwd("root", "secret\n")
        finally:
            await server.stop()
        self.assertEqual(outcome.code, 1)
        self.assertIn("in use by another devpi-twisted process", outcome.err)
        self.assertEqual(self.pwhash("root"), before)
