"""Conditional and ranged requests for stored files: ETags, dates, If-None-Match, If-Range, one Range."""

from __future__ import annotations

import re
from email.utils import parsedate_to_datetime
from typing import Optional, Union

from twisted.web.iweb import IRequest

#: Stored files never change under their URL (the sha256 is part of it).
CACHE_CONTROL = b"max-age=365000000, immutable, public"

_ENTITY_TAG = re.compile(rb'\s*(?:W/)?"([^"]*)"\s*(?:,|$)')
_ONE_RANGE = re.compile(rb"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*")


def http_date_seconds(value: Union[str, bytes, None]) -> Optional[int]:
    """An HTTP date as seconds since the epoch, or None if it is not one."""
    if not value:
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    try:
        return int(parsedate_to_datetime(text).timestamp())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def etag_list_matches(header: bytes, etag: str) -> bool:
    """
    Whether an C{If-None-Match} value names C{etag} (a bare opaque tag, no
    quotes): C{*}, or a list of entity tags compared weakly (RFC 9110 8.8.3.2).
    """
    if header.strip() == b"*":
        return True
    wanted = etag.encode("ascii")
    position = 0
    while position < len(header):
        match = _ENTITY_TAG.match(header, position)
        if match is None:
            return False
        if match.group(1) == wanted:
            return True
        position = match.end()
    return False


def not_modified(request: IRequest, etag: str, last_modified: Optional[str]) -> bool:
    """C{If-None-Match}, else C{If-Modified-Since} (RFC 9110 13.2.2)."""
    tags = request.requestHeaders.getRawHeaders(b"if-none-match")
    if tags is not None:
        return etag_list_matches(b",".join(tags), etag)
    since = http_date_seconds(request.getHeader(b"if-modified-since"))
    modified = http_date_seconds(last_modified)
    return since is not None and modified is not None and modified <= since


def range_applies(request: IRequest, etag: str, last_modified: Optional[str]) -> bool:
    """C{If-Range}: ranges only for our strong ETag or exact Last-Modified."""
    condition = request.getHeader(b"if-range")
    if condition is None:
        return True
    condition = condition.strip()
    if condition.startswith((b'"', b"W/")):
        return bool(condition == b'"%s"' % etag.encode("ascii"))
    return last_modified is not None and condition == last_modified.encode("ascii")


class Unsatisfiable(Exception):
    """A C{Range} no byte of the file is in (a 416)."""


def single_range(header: Optional[bytes], size: int) -> Optional[tuple[int, int]]:
    """
    The (first, last) bytes of a C{Range} of one part over a file of C{size}
    bytes; None for the whole file (no range, several parts, or one that is
    not understood: a server may ignore those). Raises L{Unsatisfiable}.
    """
    if header is None:
        return None
    match = _ONE_RANGE.fullmatch(header)
    if match is None:
        return None
    start, end = match.group(1), match.group(2)
    if not start and not end:
        return None
    if not start:  # a suffix: the last N bytes
        length = int(end)
        if length == 0 or size == 0:
            raise Unsatisfiable()
        return max(size - length, 0), size - 1
    first = int(start)
    last = size - 1 if not end else min(int(end), size - 1)
    if end and int(end) < first:
        return None  # invalid: ignored
    if first >= size:
        raise Unsatisfiable()
    return first, last
