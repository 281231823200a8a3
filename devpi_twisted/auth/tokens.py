"""Login tokens: signed, expiring, and void once the user's password changes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

from twisted.internet.interfaces import IReactorTime

#: How long a login token is valid, in seconds (devpi's 10 hours).
TOKEN_LIFETIME = 36000


class InvalidToken(Exception):
    """The token is malformed, forged, expired or for another user or password."""


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenSigner:
    """Issues and checks tokens with an HMAC key derived from the server secret."""

    def __init__(
        self, secret: bytes, clock: IReactorTime, lifetime: int = TOKEN_LIFETIME
    ) -> None:
        self._key = hashlib.sha256(b"devpi-twisted login token\0" + secret).digest()
        self._clock = clock
        self.lifetime = lifetime

    def _sign(self, payload: str) -> str:
        mac = hmac.new(self._key, payload.encode("ascii"), hashlib.sha256)
        return _b64encode(mac.digest())

    def _password_tag(self, pwhash: str) -> str:
        mac = hmac.new(self._key, b"pw\0" + pwhash.encode("utf-8"), hashlib.sha256)
        return _b64encode(mac.digest()[:12])

    def issue(self, username: str, pwhash: str) -> str:
        """A token for C{username} valid for L{lifetime} seconds."""
        expires = int(self._clock.seconds()) + self.lifetime
        content = json.dumps([username, expires, self._password_tag(pwhash)])
        payload = _b64encode(content.encode("utf-8"))
        return f"{payload}.{self._sign(payload)}"

    def check(self, token: str, username: str, pwhash: str) -> None:
        """Raise L{InvalidToken} unless C{token} is valid for this user now."""
        payload, _, signature = token.partition(".")
        if not hmac.compare_digest(signature, self._sign(payload)):
            raise InvalidToken("invalid token")
        try:
            owner, expires, tag = json.loads(_b64decode(payload))
        except ValueError:
            raise InvalidToken("invalid token")
        if owner != username:
            raise InvalidToken("token is for another user")
        if expires < self._clock.seconds():
            raise InvalidToken("token expired")
        if not hmac.compare_digest(tag, self._password_tag(pwhash)):
            raise InvalidToken("token was issued before a password change")

    def looks_signed(self, token: str) -> bool:
        """Whether C{token} carries a valid signature (expired or not)."""
        payload, _, signature = token.partition(".")
        return hmac.compare_digest(signature, self._sign(payload))
