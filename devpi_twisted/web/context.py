"""What the request handlers work with: the store, auth and the server's identity."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from twisted.internet.interfaces import IReactorTime

from devpi_twisted.auth.credentials import Authenticator
from devpi_twisted.auth.passwords import PasswordHasher
from devpi_twisted.auth.replicas import ReplicaTokens
from devpi_twisted.auth.tokens import TokenSigner
from devpi_twisted.metrics import Metrics
from devpi_twisted.mirror.files import MirrorFiles
from devpi_twisted.mirror.pages import MirrorPages
from devpi_twisted.mirror.projects import MirrorProjects
from devpi_twisted.model.acl import Policy
from devpi_twisted.replication.blobs import BlobFetcher
from devpi_twisted.replication.feed import ReplicaFeeds
from devpi_twisted.replication.status import ReplicaStatus
from devpi_twisted.store.blobs import FileBlobStore
from devpi_twisted.store.changelog import Store
from devpi_twisted.threads import Runner
from devpi_twisted.web.relay import Forwarder

#: The largest JSON request body the API reads.
JSON_BODY_LIMIT = 10 * 1024 * 1024


@dataclass(frozen=True)
class ServerInfo:
    """Facts about this server that replies report."""

    uuid: str
    role: str
    serverdir: str
    host: str
    port: int
    outside_url: Optional[str]
    version: str


@dataclass(frozen=True)
class Replica:
    """The replica side of this server (None on a primary or standalone server)."""

    status: ReplicaStatus
    blobs: BlobFetcher
    forwarder: Forwarder


@dataclass(frozen=True)
class Access:
    """Who a request is from and what it may do: credentials, passwords, tokens, permission rules."""

    authenticator: Authenticator
    hasher: PasswordHasher
    signer: TokenSigner
    policy: Policy


@dataclass(frozen=True)
class Mirrors:
    """The upstream side of mirror indexes."""

    #: Keeps the cached upstream pages of mirror indexes fresh.
    pages: MirrorPages
    #: Downloads mirror files on first request.
    files: MirrorFiles
    #: The project lists of mirror indexes.
    projects: MirrorProjects


@dataclass(frozen=True)
class Replication:
    """This server's part in replication (all None on a standalone server)."""

    #: Checks replicas' bearer tokens (primary) or signs this replica's.
    tokens: Optional[ReplicaTokens] = None
    #: The connected replicas' streams, on a primary.
    feeds: Optional[ReplicaFeeds] = None
    #: The replica side, on a replica.
    replica: Optional[Replica] = None


@dataclass(frozen=True)
class WebContext:
    """The collaborators of every request handler."""

    store: Store
    #: files on disk: they are served with sendfile-friendly producers by path
    blobs: FileBlobStore
    info: ServerInfo
    clock: IReactorTime
    #: Runs blocking file work (parsing uploads, reading archives) off the reactor.
    io: Runner
    auth: Access
    mirrors: Mirrors
    replication: Replication = field(default_factory=Replication)
    json_body_limit: int = JSON_BODY_LIMIT
    #: The server's metrics, served at C{/+metrics}.
    metrics: Metrics = field(default_factory=Metrics)

    async def blob_path(self, sha256: str) -> str:
        """
        Where the blob is on disk (C{FileBlobStore}: blobs are files); on a
        replica it is first fetched from the primary if it has not arrived yet.
        """
        if self.replication.replica is not None:
            await self.replication.replica.blobs.ensure(sha256)
        return self.blobs.path(sha256)
