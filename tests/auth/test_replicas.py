"""Replica bearer tokens: only holders of the shared secret get through, and not for long."""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.trial.unittest import TestCase

from devpi_twisted.auth.replicas import REPLICA_TOKEN_LIFETIME, InvalidReplicaToken, ReplicaTokens

UUID = "0123456789abcdef0123456789abcdef"


class ReplicaTokenTests(TestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(1_800_000_000)
        self.tokens = ReplicaTokens(b"s" * 40, self.clock)

    def test_vouches_for_uuid(self) -> None:
        self.assertEqual(self.tokens.check(self.tokens.issue(UUID)), UUID)

    def test_other_secret_refused(self) -> None:
        other = ReplicaTokens(b"t" * 40, self.clock)
        self.assertRaises(InvalidReplicaToken, self.tokens.check, other.issue(UUID))

    def test_expires(self) -> None:
        token = self.tokens.issue(UUID)
        self.clock.advance(REPLICA_TOKEN_LIFETIME + 1)
        with self.assertRaises(InvalidReplicaToken) as caught:
            self.tokens.check(token)
        self.assertIn("expired", str(caught.exception))

    def test_tampered_uuid_refused(self) -> None:
        token = self.tokens.issue(UUID)
        forged = "f" + token[1:]
        self.assertRaises(InvalidReplicaToken, self.tokens.check, forged)

    def test_malformed(self) -> None:
        for token in ("", "abc", "x.1.y", f"{UUID}.soon.mac"):
            with self.subTest(token=token):
                self.assertRaises(InvalidReplicaToken, self.tokens.check, token)
