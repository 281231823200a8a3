"""Replication: the primary feeds its changelog to replicas, which follow it."""
