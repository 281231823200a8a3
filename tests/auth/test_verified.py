"""Recently verified passwords are taken on trust briefly, and only exactly."""

from twisted.internet.defer import ensureDeferred
from twisted.internet.task import Clock
from twisted.trial.unittest import TestCase

from devpi_twisted.auth.credentials import OK, Authenticator, Credentials
from devpi_twisted.auth.passwords import PasswordHasher
from devpi_twisted.auth.tokens import TokenSigner
from devpi_twisted.auth.verified import VerifiedPasswords
from devpi_twisted.model import keys
from tests.support import CHEAP_ARGON2, result_of, run_inline


class VerifiedPasswordsTests(TestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.verified = VerifiedPasswords(self.clock, lifetime=60, size=3)

    def test_recalls_exactly_what_was_remembered(self) -> None:
        self.verified.remember("alice", "pw", "$hash1")
        self.assertTrue(self.verified.recalls("alice", "pw", "$hash1"))
        self.assertFalse(self.verified.recalls("alice", "other", "$hash1"))
        self.assertFalse(self.verified.recalls("bob", "pw", "$hash1"))
        self.assertFalse(self.verified.recalls("alice", "pw", "$hash2"))

    def test_forgets_after_its_lifetime(self) -> None:
        self.verified.remember("alice", "pw", "$h")
        self.clock.advance(59)
        self.assertTrue(self.verified.recalls("alice", "pw", "$h"))
        self.clock.advance(2)
        self.assertFalse(self.verified.recalls("alice", "pw", "$h"))

    def test_holds_at_most_its_size_dropping_the_oldest(self) -> None:
        for n in range(4):
            self.verified.remember(f"user{n}", "pw", "$h")
        self.assertFalse(self.verified.recalls("user0", "pw", "$h"))
        self.assertTrue(self.verified.recalls("user3", "pw", "$h"))

    def test_keeps_no_password_in_clear(self) -> None:
        self.verified.remember("alice", "s3cret-password", "$h")
        self.assertNotIn(b"s3cret", repr(self.verified.__dict__).encode())


class CountingHasher(PasswordHasher):
    def __init__(self) -> None:
        super().__init__(run_inline, CHEAP_ARGON2)
        self.verifications = 0

    def verify(self, password: str, pwhash: str):  # type: ignore[no-untyped-def]
        self.verifications += 1
        return super().verify(password, pwhash)


class AuthenticatorTests(TestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.hasher = CountingHasher()
        self.users = {keys.user("alice"): {"pwhash": self.hasher.hash_now("pw")}}
        self.authenticator = Authenticator(
            self, self.hasher, TokenSigner(b"k" * 40, self.clock), VerifiedPasswords(self.clock)
        )

    def get(self, key: str, default: object = None) -> object:
        return self.users.get(key, default)

    def children(self, parent: str) -> list[str]:
        return []

    def authenticate(self, password: str) -> str:
        coroutine = self.authenticator.authenticate(Credentials("alice", password))
        return result_of(ensureDeferred(coroutine)).status

    def test_a_burst_of_password_requests_hashes_once(self) -> None:
        for _ in range(5):
            self.assertEqual(self.authenticate("pw"), OK)
        self.assertEqual(self.hasher.verifications, 1)

    def test_wrong_passwords_are_always_checked(self) -> None:
        self.authenticate("pw")
        self.assertNotEqual(self.authenticate("wrong"), OK)
        self.assertNotEqual(self.authenticate("wrong"), OK)
        self.assertEqual(self.hasher.verifications, 3)

    def test_a_password_change_is_seen_at_once(self) -> None:
        self.authenticate("pw")
        self.users[keys.user("alice")] = {"pwhash": self.hasher.hash_now("new")}
        self.assertNotEqual(self.authenticate("pw"), OK)
        self.assertEqual(self.authenticate("new"), OK)
