"""Committing a request's change and reporting the serial it produced."""

from __future__ import annotations

from functools import partial
from typing import Callable, TypeVar

from twisted.web.iweb import IRequest

from devpi_twisted.model import keys
from devpi_twisted.store.blobs import IBlobStore
from devpi_twisted.store.changelog import Transaction
from devpi_twisted.web.context import WebContext

T = TypeVar("T")


def remove_orphaned_blobs(txn: Transaction, blobs: IBlobStore) -> None:
    """After the commit, delete the files of blobs this transaction stopped referring to."""
    for key, value in txn.changes.items():
        digest = keys.blob_digest(key)
        if digest is not None and value is None:
            txn.after_commit(partial(blobs.remove, digest))


async def commit(
    ctx: WebContext, request: IRequest, work: Callable[[Transaction], T]
) -> T:
    """Run C{work} as one store transaction; the reply carries the new serial."""

    def work_and_clean_up(txn: Transaction) -> T:
        result = work(txn)
        remove_orphaned_blobs(txn, ctx.blobs)
        return result

    committed = await ctx.store.transact(work_and_clean_up)
    request.setHeader(b"x-devpi-serial", str(committed.serial).encode("ascii"))
    return committed.result
