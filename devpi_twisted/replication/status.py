"""What a replica knows about its primary and its own progress, for C{/+status} and metrics."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from twisted.web.http_headers import Headers


def reported_serial(headers: Headers) -> Optional[int]:
    """The serial a reply of the primary reports in C{X-Devpi-Serial}, if any."""
    serial = (headers.getRawHeaders(b"x-devpi-serial") or [b""])[0]
    return int(serial) if serial.isdigit() else None


@dataclass
class ReplicaStatus:
    """Updated by the follower and the blob fetcher; read by C{/+status}."""

    primary_url: str
    started_at: float
    primary_uuid: Optional[str] = None
    #: The primary's serial as last heard (commit or heartbeat), and when.
    primary_serial: int = -1
    primary_seen_at: Optional[float] = None
    connected: bool = False
    connected_at: Optional[float] = None
    #: Since when the replica knows of commits it has not applied yet.
    behind_since: Optional[float] = None
    in_sync_at: Optional[float] = None
    #: Why the stream last failed (None while it works).
    error: Optional[str] = None
    #: Set when following stopped for good (diverged histories, another primary).
    fatal: Optional[str] = None
    #: Blobs that could not be fetched: sha256 -> why.
    blob_errors: dict[str, str] = field(default_factory=dict)
    blobs_pending: int = 0
    #: Whether the primary's blob store is this replica's (then no blob is fetched or removed here).
    shared_blobs: bool = False

    def heard(self, serial: int, now: float, local_serial: int) -> None:
        """The primary is at C{serial}; the replica at C{local_serial}."""
        self.primary_serial = max(self.primary_serial, serial)
        self.primary_seen_at = now
        self.applied(local_serial, now)

    def applied(self, local_serial: int, now: float) -> None:
        """The replica's store reached C{local_serial}."""
        if local_serial >= self.primary_serial:
            self.behind_since = None
            self.in_sync_at = now
        elif self.behind_since is None:
            self.behind_since = now

    def lag(self, local_serial: int, now: float) -> tuple[int, float]:
        """How far behind the primary the replica is: (serials, seconds)."""
        serials = max(0, self.primary_serial - local_serial)
        seconds = 0.0 if self.behind_since is None or not serials else now - self.behind_since
        return serials, seconds

    def as_json(self, local_serial: int, now: float) -> dict[str, Any]:
        """The replica's part of C{/+status}."""
        serials, seconds = self.lag(local_serial, now)
        return {
            "primary-url": self.primary_url,
            "primary-uuid": self.primary_uuid,
            "primary-serial": self.primary_serial,
            "primary-contacted-at": self.primary_seen_at,
            "replica-started-at": self.started_at,
            "replica-in-sync-at": self.in_sync_at,
            "replication-connected": self.connected,
            "replication-lag-serials": serials,
            "replication-lag-seconds": seconds,
            "replication-error": self.fatal or self.error,
            "replication-stopped": self.fatal is not None,
            "replication-errors": dict(self.blob_errors),
            "replication-blobs-pending": self.blobs_pending,
            "replication-shared-blobs": self.shared_blobs,
        }
