"""The server directory: its format marker, node uuid, lock and secret file."""

from __future__ import annotations

import fcntl
import json
import os
import re
import secrets
import stat
import uuid
from dataclasses import dataclass
from typing import IO, Any, Optional

FORMAT = "devpi-twisted"
FORMAT_VERSION = 1
NODEINFO = ".nodeinfo"
SECRET = ".secret"
LOCK = ".lock"
STORE = "store.sqlite"
BLOBS = "+blobs"
MIRROR_LISTS = "+mirror-lists"
MIRROR_CHECKS = "+mirror-checks"
#: The search index (rebuilt from the store when missing).
SEARCH = "+search.sqlite"
MIN_SECRET_BYTES = 32


class ServerDirError(Exception):
    """The server directory cannot be used; the message says why."""


@dataclass
class ServerDir:
    """An opened server directory, locked against a second server process."""

    path: str
    uuid: str
    lock: IO[bytes]
    #: On a replica: the uuid of the primary it was initialised from.
    primary_uuid: Optional[str] = None

    def join(self, *names: str) -> str:
        """A path inside the server directory."""
        return os.path.join(self.path, *names)

    def remember_primary(self, primary_uuid: str) -> None:
        """Record that this (replica's) directory follows primary C{primary_uuid}."""
        nodeinfo = self.join(NODEINFO)
        with open(nodeinfo, "rb") as f:
            info = json.load(f)
        info["primary_uuid"] = primary_uuid
        write_atomically(nodeinfo, json.dumps(info).encode(), 0o644)
        self.primary_uuid = primary_uuid

    def close(self) -> None:
        """Release the lock."""
        self.lock.close()


def write_atomically(path: str, data: bytes, mode: int = 0o666) -> None:
    """
    Replace C{path} with C{data} at once: a temp file beside it (created with
    C{mode}, less the umask), fsynced, renamed over it; removed on failure.
    """
    temp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.tmp-{os.getpid()}")
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
    except BaseException:
        if os.path.exists(temp):
            os.remove(temp)
        raise


def _read_nodeinfo(path: str) -> dict[str, Any]:
    nodeinfo = os.path.join(path, NODEINFO)
    try:
        with open(nodeinfo, "rb") as f:
            info = json.load(f)
    except FileNotFoundError:
        if os.path.exists(os.path.join(path, ".serverversion")):
            raise ServerDirError(
                f"{path} is a devpi-server directory; export it with devpi-export "
                "and import the export into a new devpi-twisted server directory"
            )
        raise ServerDirError(
            f"{path} is not empty and is not a devpi-twisted server directory"
        )
    except ValueError:
        raise ServerDirError(f"{nodeinfo} is corrupt (not JSON)")
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        raise ServerDirError(f"{path} belongs to another program ({nodeinfo})")
    version = info.get("version")
    if not isinstance(version, int) or version < 1:
        raise ServerDirError(f"{nodeinfo} holds no valid format version: {version!r}")
    if version > FORMAT_VERSION:
        raise ServerDirError(
            f"{path} was written by a newer devpi-twisted (format {version!r}); "
            f"this version reads format {FORMAT_VERSION}"
        )
    node_uuid = info.get("uuid")
    if not isinstance(node_uuid, str) or not re.fullmatch("[0-9a-f]{32}", node_uuid):
        raise ServerDirError(f"{nodeinfo} holds no valid uuid: {node_uuid!r}")
    return info


def _lock(path: str) -> IO[bytes]:
    lock = open(os.path.join(path, LOCK), "ab")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        raise ServerDirError(f"{path} is in use by another devpi-twisted process")
    return lock


def check_serverdir(path: str, create: bool = True) -> str:
    """
    The absolute C{path} of a server directory, checked without locking it:
    missing or empty is fine if C{create}, else refused; anything else must
    hold a valid node info. Raises L{ServerDirError} otherwise.
    """
    path = os.path.abspath(os.path.expanduser(path))
    if not create and not os.path.isdir(path):
        raise ServerDirError(f"there is no server directory at {path}")
    if os.path.exists(path) and not os.path.isdir(path):
        raise ServerDirError(f"{path} is not a directory")
    if not os.path.isdir(path) or set(os.listdir(path)) <= {LOCK}:
        if not create:
            raise ServerDirError(f"{path} is empty: create a server with devpi-twisted init")
    else:
        _read_nodeinfo(path)
    return path


def open_serverdir(path: str, create: bool = True) -> ServerDir:
    """
    Open and lock a server directory, creating it if missing or empty and
    C{create} (else refusing it).
    """
    path = check_serverdir(path, create)
    os.makedirs(path, mode=0o700, exist_ok=True)
    lock = _lock(path)
    try:
        if not os.path.exists(os.path.join(path, NODEINFO)):
            fresh = {"format": FORMAT, "version": FORMAT_VERSION, "uuid": uuid.uuid4().hex}
            write_atomically(os.path.join(path, NODEINFO), json.dumps(fresh).encode(), 0o644)
        info = _read_nodeinfo(path)
    except BaseException:
        lock.close()
        raise
    primary = info.get("primary_uuid")
    return ServerDir(path, info["uuid"], lock, primary if isinstance(primary, str) else None)


def read_secret(path: str, create: bool) -> bytes:
    """
    The server secret from C{path}, created (0600, random) if missing and
    C{create}; a secret readable by others or too short is refused.
    """
    if create:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        except OSError as error:
            raise ServerDirError(f"cannot create secret file {path}: {error.strerror}")
        else:
            try:
                os.write(fd, secrets.token_hex(MIN_SECRET_BYTES).encode() + b"\n")
                os.fsync(fd)
            finally:
                os.close(fd)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise ServerDirError(f"secret file {path} does not exist")
    if stat.S_IMODE(mode) & 0o077:
        raise ServerDirError(
            f"secret file {path} is accessible by others; chmod 600 it"
        )
    with open(path, "rb") as f:
        secret = f.read().strip()
    if len(secret) < MIN_SECRET_BYTES:
        raise ServerDirError(
            f"secret file {path} holds fewer than {MIN_SECRET_BYTES} bytes"
        )
    return secret


def secret_path(serverdir: ServerDir, configured: Optional[str]) -> str:
    """The configured secret file, else the one inside the server directory."""
    return os.path.abspath(configured) if configured else serverdir.join(SECRET)
