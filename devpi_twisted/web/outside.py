"""The base URL clients reach this server at."""

from __future__ import annotations

from typing import Optional

from twisted.web.iweb import IRequest


def outside_url(request: IRequest, configured: Optional[str]) -> str:
    """
    The base URL clients reach this server at, without a trailing slash:
    C{--outside-url}, else the C{X-Outside-Url} header, else C{Host}.
    """
    if configured:
        return configured.rstrip("/")
    header: Optional[bytes] = request.getHeader(b"x-outside-url")
    if header:
        return header.decode("utf-8", "replace").rstrip("/")
    scheme = "https" if request.isSecure() else "http"
    host: Optional[bytes] = request.getHeader(b"host")
    if host:
        return f"{scheme}://{host.decode('ascii', 'replace')}"
    address = request.getHost()
    return f"{scheme}://{address.host}:{address.port}"
