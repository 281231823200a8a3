"""Which simple-API format a client asks for, and whether it is an installer."""

from __future__ import annotations

import re
from typing import Optional

SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
SIMPLE_HTML = "application/vnd.pypi.simple.v1+html"
TEXT_HTML = "text/html"

_ALIASES = {
    "application/vnd.pypi.simple.latest+json": SIMPLE_JSON,
    "application/vnd.pypi.simple.latest+html": SIMPLE_HTML,
}
#: Preference among types an Accept header names explicitly with equal q.
_EXPLICIT = {SIMPLE_JSON: 2, SIMPLE_HTML: 1, TEXT_HTML: 0}
#: Preference among types matched only by a wildcard: browsers and curl get HTML.
_WILDCARD = {TEXT_HTML: 2, SIMPLE_JSON: 1, SIMPLE_HTML: 0}
_INSTALLER_AGENT = re.compile(rb"([^ ]* )*(distribute|setuptools|pip|pex|uv)/")

CONTENT_TYPES = {
    SIMPLE_JSON: b"application/vnd.pypi.simple.v1+json",
    SIMPLE_HTML: b"application/vnd.pypi.simple.v1+html",
    TEXT_HTML: b"text/html; charset=utf-8",
}


def _parse(accept: str) -> list[tuple[str, float]]:
    ranges = []
    for item in accept.split(","):
        mediatype, *params = [part.strip() for part in item.split(";")]
        if not mediatype:
            continue
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        ranges.append((_ALIASES.get(mediatype.lower(), mediatype.lower()), quality))
    return ranges


def choose_simple_type(accept: Optional[bytes]) -> Optional[str]:
    """
    The simple-API media type to answer with (PEP 691 negotiation), or None
    when the client accepts none of them (406). No Accept means HTML.
    """
    if not accept:
        return TEXT_HTML
    ranges = _parse(accept.decode("latin-1"))
    best: Optional[tuple[float, int, int, str]] = None
    for offered in (SIMPLE_JSON, SIMPLE_HTML, TEXT_HTML):
        # the most specific range matching a type gives its quality (RFC 9110 12.5.1)
        match: Optional[tuple[int, float]] = None
        for mediatype, quality in ranges:
            if mediatype == offered:
                specificity = 2
            elif mediatype == offered.split("/")[0] + "/*":
                specificity = 1
            elif mediatype == "*/*":
                specificity = 0
            else:
                continue
            if match is None or specificity > match[0]:
                match = (specificity, quality)
        if match is None or match[1] <= 0:
            continue
        specificity, quality = match
        preference = (_EXPLICIT if specificity else _WILDCARD)[offered]
        candidate = (quality, specificity, preference, offered)
        if best is None or candidate > best:
            best = candidate
    return None if best is None else best[3]


def is_installer(user_agent: Optional[bytes], accept: Optional[bytes]) -> bool:
    """An installer: pip/uv/setuptools by User-Agent, or asking for the simple API."""
    if user_agent and _INSTALLER_AGENT.match(user_agent):
        return True
    accept = (accept or b"").lower()
    return b"application/vnd.pypi.simple." in accept
