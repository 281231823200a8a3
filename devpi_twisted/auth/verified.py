"""Remembering recently verified passwords briefly, by a keyed hash, never the password."""

from __future__ import annotations

import hashlib
import hmac
import os
from collections import OrderedDict

from twisted.internet.interfaces import IReactorTime

#: How long a verified password is taken on trust, in seconds.
VERIFIED_LIFETIME = 60.0


class VerifiedPasswords:
    """
    A bounded set of (user, password, password hash) triples verified in the
    last L{lifetime} seconds, stored as HMACs under a per-process random key:
    a burst of requests with Basic auth (twine uploading many files) pays
    for argon2 once, and a changed password hash never matches old entries.
    """

    def __init__(
        self, clock: IReactorTime, lifetime: float = VERIFIED_LIFETIME, size: int = 1024
    ) -> None:
        self._clock = clock
        self._lifetime = lifetime
        self._size = size
        self._key = os.urandom(32)
        self._expiry: OrderedDict[bytes, float] = OrderedDict()

    def _digest(self, username: str, password: str, pwhash: str) -> bytes:
        message = "\0".join((username, password, pwhash)).encode("utf-8", "surrogatepass")
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def remember(self, username: str, password: str, pwhash: str) -> None:
        """Record a successful verification."""
        digest = self._digest(username, password, pwhash)
        self._expiry[digest] = self._clock.seconds() + self._lifetime
        self._expiry.move_to_end(digest)
        while len(self._expiry) > self._size:
            self._expiry.popitem(last=False)

    def recalls(self, username: str, password: str, pwhash: str) -> bool:
        """Whether this exact triple was verified recently."""
        digest = self._digest(username, password, pwhash)
        expiry = self._expiry.get(digest)
        if expiry is None:
            return False
        if expiry < self._clock.seconds():
            del self._expiry[digest]
            return False
        return True
