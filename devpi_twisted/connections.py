"""Cutting a client's connection off in the middle of a response."""

from __future__ import annotations

from typing import cast

from twisted.internet.interfaces import ITCPTransport
from twisted.web.server import Request


def abort_connection(request: Request) -> None:
    """Drop C{request}'s connection at once, so the client sees a broken response."""
    if request.transport is not None:
        cast(ITCPTransport, request.transport).abortConnection()
