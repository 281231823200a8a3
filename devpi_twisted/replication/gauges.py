"""Replication in C{/+metrics}: connected replicas on a primary, lag and errors on a replica."""

from __future__ import annotations

from twisted.internet.interfaces import IReactorTime

from devpi_twisted.metrics import Metrics
from devpi_twisted.replication.feed import ReplicaFeeds
from devpi_twisted.replication.status import ReplicaStatus
from devpi_twisted.store.changelog import Store


def watch_feeds(metrics: Metrics, feeds: ReplicaFeeds) -> None:
    """The primary's gauges."""
    metrics.gauge(
        "devpi_replicas_connected",
        "Replicas following this primary's changelog stream.",
        lambda: len(feeds.status()),
    )


def watch_replica(metrics: Metrics, status: ReplicaStatus, store: Store, clock: IReactorTime) -> None:
    """A replica's gauges."""
    metrics.gauge(
        "devpi_replication_lag_serials",
        "Commits the primary has made that this replica has not applied yet.",
        lambda: status.lag(store.serial, clock.seconds())[0],
    )
    metrics.gauge(
        "devpi_replication_lag_seconds",
        "How long this replica has been behind the primary (0 when in sync).",
        lambda: status.lag(store.serial, clock.seconds())[1],
    )
    metrics.gauge(
        "devpi_replication_primary_serial",
        "The primary's serial as last heard on the stream.",
        lambda: status.primary_serial,
    )
    metrics.gauge(
        "devpi_replication_connected",
        "1 while the stream from the primary is open.",
        lambda: 1.0 if status.connected else 0.0,
    )
    metrics.gauge(
        "devpi_replication_blobs_pending",
        "Files this replica still has to fetch from the primary.",
        lambda: status.blobs_pending,
    )
    metrics.gauge(
        "devpi_replication_blob_errors",
        "Files the primary could not deliver (retried).",
        lambda: len(status.blob_errors),
    )
