"""A file of known size of which only some byte ranges are at hand (a remote file read by Range)."""

from __future__ import annotations

import io
from typing import Optional


class MissingBytes(Exception):
    """A read needs bytes C{start} up to C{end} (exclusive) that are not at hand yet."""

    def __init__(self, start: int, end: int) -> None:
        super().__init__(f"bytes {start}-{end - 1} are not at hand")
        self.start = start
        self.end = end


class SparseFile(io.RawIOBase):
    """
    A read-only, seekable file of C{size} bytes; L{add} supplies ranges. A
    read of anything not supplied raises L{MissingBytes} naming what it lacks,
    so a reader (zipfile) can be run again once those bytes are fetched.
    """

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size
        self._pieces: list[tuple[int, bytes]] = []
        self._position = 0

    def add(self, start: int, data: bytes) -> None:
        """Supply C{data} found at offset C{start}."""
        if start < 0 or start + len(data) > self.size:
            raise ValueError(f"bytes {start}+{len(data)} lie outside a file of {self.size}")
        self._pieces.append((start, data))
        self._pieces.sort(key=lambda piece: piece[0])

    def gap_after(self, start: int) -> int:
        """Where the next supplied piece after C{start} begins (the size if none)."""
        return min((at for at, _ in self._pieces if at > start), default=self.size)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self.size}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self._position = base + offset
        return self._position

    def read(self, size: Optional[int] = -1) -> bytes:
        start = self._position
        end = self.size if size is None or size < 0 else min(self.size, start + size)
        if end <= start:
            return b""
        data = self._covering(start, end)
        if data is None:
            raise MissingBytes(start, end)
        self._position = end
        return data

    def readinto(self, buffer: "bytearray | memoryview") -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def _covering(self, start: int, end: int) -> Optional[bytes]:
        """The bytes from C{start} to C{end} if supplied pieces cover them all."""
        parts = []
        at = start
        for offset, data in self._pieces:
            if offset <= at < offset + len(data):
                take = data[at - offset : min(end, offset + len(data)) - offset]
                parts.append(take)
                at += len(take)
                if at >= end:
                    return b"".join(parts)
        return None
