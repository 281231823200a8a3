"""A new directory built under a temporary name and moved into place only when complete."""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from typing import Iterator

from devpi_twisted.dump.errors import NotEmpty
from devpi_twisted.store.blobs import fsync_dir


def check_new(path: str) -> str:
    """The absolute C{path}, which must not exist or be an empty directory (else L{NotEmpty})."""
    path = os.path.abspath(os.path.expanduser(path))
    if os.path.lexists(path) and (not os.path.isdir(path) or os.listdir(path)):
        raise NotEmpty(f"{path} exists and is not empty")
    return path


@contextmanager
def new_directory(path: str) -> Iterator[str]:
    """
    Yield a temporary directory beside C{path} (which must not exist or be
    empty) to fill; on success it becomes C{path}, on failure it is removed.
    """
    path = check_new(path)
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    temp = tempfile.mkdtemp(dir=parent, prefix=f".{os.path.basename(path)}.partial-")
    try:
        yield temp
        os.sync()
        if os.path.isdir(path):
            os.rmdir(path)
        os.rename(temp, path)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    fsync_dir(parent)
