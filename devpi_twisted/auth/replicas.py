"""Replica credentials: short-lived bearer tokens signed with the secret primary and replicas share."""

from __future__ import annotations

import hashlib
import hmac
import re

from twisted.internet.interfaces import IReactorTime

#: How long a replica's bearer token is accepted (it signs a fresh one per connection).
REPLICA_TOKEN_LIFETIME = 60
_UUID = re.compile("[0-9a-f]{32}")


class InvalidReplicaToken(Exception):
    """The bearer token is missing, malformed, forged or expired."""


class ReplicaTokens:
    """Signs a replica's uuid for the primary, and checks such signatures."""

    def __init__(self, secret: bytes, clock: IReactorTime) -> None:
        self._key = hashlib.sha256(b"devpi-twisted replica token\0" + secret).digest()
        self._clock = clock

    def _mac(self, payload: str) -> str:
        return hmac.new(self._key, payload.encode("ascii"), hashlib.sha256).hexdigest()

    def issue(self, replica_uuid: str) -> str:
        """A token saying "replica C{replica_uuid}", valid for a minute."""
        payload = f"{replica_uuid}.{int(self._clock.seconds()) + REPLICA_TOKEN_LIFETIME}"
        return f"{payload}.{self._mac(payload)}"

    def check(self, token: str) -> str:
        """The replica uuid C{token} vouches for; raises L{InvalidReplicaToken}."""
        payload, _, mac = token.rpartition(".")
        replica_uuid, _, expires = payload.partition(".")
        if not (_UUID.fullmatch(replica_uuid) and expires.isdigit()):
            raise InvalidReplicaToken("malformed replica token")
        if not hmac.compare_digest(mac, self._mac(payload)):
            raise InvalidReplicaToken("wrong replica token (is the secret file shared?)")
        if int(expires) < self._clock.seconds():
            raise InvalidReplicaToken("replica token expired")
        return replica_uuid
