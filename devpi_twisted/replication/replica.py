"""What request handlers of a replica use: its status, the blob fetcher and the relay to the primary."""

from __future__ import annotations

from dataclasses import dataclass

from devpi_twisted.replication.blobs import BlobFetcher
from devpi_twisted.replication.forward import Forwarder
from devpi_twisted.replication.status import ReplicaStatus


@dataclass(frozen=True)
class Replica:
    """The replica side of this server (None on a primary or standalone server)."""

    status: ReplicaStatus
    blobs: BlobFetcher
    forwarder: Forwarder
