"""Persistence: the changelog store and the blob store."""
