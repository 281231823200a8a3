"""Credentials in requests (X-Devpi-Auth, HTTP Basic) and who they identify."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Optional

from devpi_twisted.auth.passwords import PasswordHasher
from devpi_twisted.auth.tokens import InvalidToken, TokenSigner
from devpi_twisted.auth.verified import VerifiedPasswords
from devpi_twisted.model import keys
from devpi_twisted.model.acl import Identity
from devpi_twisted.model.state import StateReader

NOAUTH = "noauth"
OK = "ok"
INVALID = "invalid"


class MalformedCredentials(Exception):
    """An auth header that cannot be decoded."""


@dataclass(frozen=True)
class Credentials:
    """A user name and a secret: a password or a login token."""

    username: str
    secret: str


@dataclass(frozen=True)
class Authentication:
    """The outcome of checking a request's credentials."""

    identity: Identity
    status: str
    problem: Optional[str] = None


ANONYMOUS = Authentication(Identity(), NOAUTH)


def _decode_pair(value: bytes) -> Credentials:
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise MalformedCredentials("credentials are not valid base64 of user:secret")
    username, sep, secret = decoded.partition(":")
    if not sep or not username:
        raise MalformedCredentials("credentials are not of the form user:secret")
    return Credentials(username, secret)


def credentials_from_headers(
    devpi_auth: Optional[bytes], authorization: Optional[bytes]
) -> Optional[Credentials]:
    """Credentials from C{X-Devpi-Auth}, else from C{Authorization: Basic}."""
    if devpi_auth:
        return _decode_pair(devpi_auth)
    if authorization:
        scheme, _, value = authorization.partition(b" ")
        if scheme.lower() == b"basic":
            return _decode_pair(value)
    return None


class Authenticator:
    """Checks credentials against the users in C{state}."""

    def __init__(
        self,
        state: StateReader,
        hasher: PasswordHasher,
        signer: TokenSigner,
        verified: VerifiedPasswords,
    ) -> None:
        self._state = state
        self._hasher = hasher
        self._signer = signer
        self._verified = verified

    async def authenticate(self, credentials: Optional[Credentials]) -> Authentication:
        """Who C{credentials} identify; never raises for bad credentials."""
        if credentials is None:
            return ANONYMOUS
        username, secret = credentials.username, credentials.secret
        record = self._state.get(keys.user(username))
        failed = Authentication(
            Identity(), INVALID, f"user {username!r} could not be authenticated"
        )
        if record is None:
            return failed
        try:
            self._signer.check(secret, username, record["pwhash"])
            return Authentication(Identity(username), OK)
        except InvalidToken as error:
            if self._signer.looks_signed(secret):
                return Authentication(Identity(), INVALID, f"{error}, log in again")
        pwhash = record["pwhash"]
        if self._verified.recalls(username, secret, pwhash):
            return Authentication(Identity(username), OK)
        if await self._hasher.verify(secret, pwhash):
            self._verified.remember(username, secret, pwhash)
            return Authentication(Identity(username), OK)
        return failed
