"""Committing a request's change and reporting the serial it produced."""

from __future__ import annotations

from typing import Callable, TypeVar

from twisted.web.iweb import IRequest

from devpi_twisted.model.state import StateWriter
from devpi_twisted.web.context import WebContext

T = TypeVar("T")


async def commit(
    ctx: WebContext, request: IRequest, work: Callable[[StateWriter], T]
) -> T:
    """Run C{work} as one store transaction; the reply carries the new serial."""
    committed = await ctx.store.transact(work)
    request.setHeader(b"x-devpi-serial", str(committed.serial).encode("ascii"))
    return committed.result
