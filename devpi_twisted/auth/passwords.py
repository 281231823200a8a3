"""Password hashing with argon2 (through passlib), off the reactor thread."""

from __future__ import annotations

from typing import Optional

from passlib.context import CryptContext
from twisted.internet.defer import Deferred

from devpi_twisted.threads import Runner


class PasswordHasher:
    """Hashes and verifies passwords in threads given by C{run}."""

    def __init__(self, run: Runner, context: Optional[CryptContext] = None) -> None:
        self._run = run
        self._context = context or CryptContext(schemes=["argon2"])

    def hash(self, password: str) -> Deferred[str]:
        """The argon2 hash of C{password}."""
        return self._run(lambda: self._context.hash(password))

    def hash_now(self, password: str) -> str:
        """The hash, computed in the calling thread (for start-up and admin tools)."""
        return self._context.hash(password)

    def verify(self, password: str, pwhash: str) -> Deferred[bool]:
        """Whether C{password} matches C{pwhash}; a malformed hash never matches."""

        def verify() -> bool:
            try:
                return self._context.verify(password, pwhash)
            except (ValueError, TypeError):
                return False

        return self._run(verify)
