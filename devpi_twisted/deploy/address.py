"""Where a proxy on the same host reaches the server, from its twisted endpoint description."""

from __future__ import annotations

import ipaddress
import re

from devpi_twisted.deploy.errors import UnsafeValue

#: a colon that separates the fields of an endpoint description (C{\:} is a literal colon)
_FIELD_SEPARATOR = re.compile(r"(?<!\\):")


def proxy_address(endpoint: str) -> str:
    """
    The address a proxy connects to for a server listening on C{endpoint}:
    C{host:port} (C{[v6]:port}; a wildcard interface becomes loopback) or
    C{unix:/path}. Raises L{UnsafeValue} for other endpoint types and port 0.
    """
    kind, *fields = [f.replace("\\:", ":") for f in _FIELD_SEPARATOR.split(endpoint)]
    positional = [f for f in fields if "=" not in f]
    named = dict(f.split("=", 1) for f in fields if "=" in f)
    kind = kind.lower()
    if kind == "unix":
        path = named.get("address") or (positional[0] if positional else "")
        if not path.startswith("/"):
            raise UnsafeValue(f"the unix socket of {endpoint!r} needs an absolute path")
        return f"unix:{path}"
    if kind not in ("tcp", "tcp6"):
        raise UnsafeValue(
            f"a proxy cannot reach the server's endpoint {endpoint!r}: "
            "listen on tcp: or unix: (or give --host/--port)"
        )
    port = named.get("port") or (positional[0] if positional else "")
    if not port.isdigit() or int(port) == 0:
        raise UnsafeValue(f"{endpoint!r} has no fixed port for a proxy to reach")
    return f"{_connect_host(named.get('interface', ''), kind)}:{int(port)}"


def _connect_host(interface: str, kind: str) -> str:
    if interface in ("", "0.0.0.0"):
        return "[::1]" if kind == "tcp6" else "127.0.0.1"
    try:
        address = ipaddress.ip_address(interface)
    except ValueError:
        return interface
    if address.version == 6:
        return "[::1]" if address.is_unspecified else f"[{address}]"
    return str(address)
