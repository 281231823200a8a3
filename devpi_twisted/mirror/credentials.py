"""The user and password in an upstream URL, sent as HTTP Basic auth instead."""

from __future__ import annotations

import base64
from typing import Optional
from urllib.parse import unquote, urlsplit, urlunsplit


def split_credentials(url: str) -> tuple[str, Optional[bytes]]:
    """
    C{url} without the user and password in it, and the HTTP Basic
    C{Authorization} value they make (None when it has none).
    """
    parts = urlsplit(url)
    userinfo, at, hostport = parts.netloc.rpartition("@")
    authorization = None
    if at:
        user, _, password = userinfo.partition(":")
        pair = f"{unquote(user)}:{unquote(password)}".encode()
        authorization = b"Basic " + base64.b64encode(pair)
    return urlunsplit(parts._replace(netloc=hostport)), authorization
