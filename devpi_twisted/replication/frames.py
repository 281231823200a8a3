"""The replication stream's wire format: one JSON object per line, commits and heartbeats."""

from __future__ import annotations

import json
from typing import Union

from devpi_twisted.store.changelog import Entry, encode_value

#: The stream's media type.
CONTENT_TYPE = b"application/x-devpi-twisted-changes"
#: The header of the stream that names the primary's blob store (L{IBlobStore.store_id}):
#: a replica whose blob store has that id fetches and removes no blobs.
BLOB_STORE_HEADER = b"x-devpi-blob-store"
#: The longest frame a replica accepts (one commit, e.g. a large import).
MAX_FRAME = 256 * 1024 * 1024


class FrameError(Exception):
    """The stream holds something that is not a frame."""


class Heartbeat:
    """The primary is alive and at C{serial}; C{timestamp} is its clock."""

    __slots__ = ("serial", "timestamp")

    def __init__(self, serial: int, timestamp: float) -> None:
        self.serial = serial
        self.timestamp = timestamp


Frame = Union[Entry, Heartbeat]


def commit_frame(serial: int, timestamp: float, changes_json: str) -> bytes:
    """The frame of one commit, embedding its stored changes text unparsed."""
    return f'{{"serial":{serial},"timestamp":{timestamp!r},"changes":{changes_json}}}\n'.encode()


def heartbeat_frame(serial: int, timestamp: float) -> bytes:
    """The frame saying the primary is alive at C{serial}."""
    return f'{{"heartbeat":{serial},"timestamp":{timestamp!r}}}\n'.encode()


def parse_frame(line: bytes) -> Frame:
    """The frame on one line; raises L{FrameError}."""
    try:
        data = json.loads(line)
        if "heartbeat" in data:
            return Heartbeat(_int(data["heartbeat"], -1), _number(data["timestamp"]))
        changes = data["changes"]
        if not isinstance(changes, dict):
            raise FrameError("changes are not an object")
        return Entry(
            _int(data["serial"]),
            _number(data["timestamp"]),
            {
                key: None if value is None else encode_value(value)
                for key, value in changes.items()
            },
        )
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise FrameError(f"unreadable frame: {error}") from None


def _int(value: object, least: int = 0) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < least:
        raise FrameError(f"not a serial: {value!r}")
    return value


def _number(value: object) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise FrameError(f"not a timestamp: {value!r}")
    return float(value)


class FrameDecoder:
    """Splits the bytes of a stream into frames, however they were chunked."""

    def __init__(self, max_frame: int = MAX_FRAME) -> None:
        self._buffer = bytearray()
        self._scanned = 0
        self._max_frame = max_frame

    def feed(self, data: bytes) -> list[Frame]:
        """The frames completed by C{data}; raises L{FrameError}."""
        self._buffer += data
        frames = []
        start = 0
        end = self._buffer.find(b"\n", self._scanned)
        while end >= 0:
            frames.append(parse_frame(bytes(self._buffer[start:end])))
            start = end + 1
            end = self._buffer.find(b"\n", start)
        del self._buffer[:start]
        self._scanned = len(self._buffer)
        if len(self._buffer) > self._max_frame:
            raise FrameError(f"frame longer than {self._max_frame} bytes")
        return frames

    @property
    def partial(self) -> bool:
        """Whether an incomplete frame is buffered."""
        return bool(self._buffer)
