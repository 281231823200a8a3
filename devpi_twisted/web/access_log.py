"""What the access log and the request metrics say of a request: its route, user, path and duration."""

from __future__ import annotations

from typing import Any, Optional, Protocol


from devpi_twisted.secret_names import is_secret

#: The route of a request that no route took (unknown path or method, body too large).
UNROUTED = "unrouted"
#: The route of a C{+simple} page answered from the page cache before routing.
CACHED_SIMPLE_PAGE = "cached_simple_page"
#: Methods counted by name; any other is counted as C{OTHER}.
METHODS = {m: m.decode() for m in (b"GET", b"HEAD", b"POST", b"PUT", b"PATCH", b"DELETE", b"PUSH")}
OTHER = "other"

#: The access log line, e.g. C{127.0.0.1 alice "GET /alice/dev/+simple/pkg/" 200 1234 1.8ms "pip/24"}.
ACCESS_LINE = '{remote} {user} "{method} {path}" {status} {bytes} {duration} "{agent}"'


class LoggedRequest(Protocol):
    """What the access log reads of a finished request (a L{devpi_twisted.web.site.LimitedRequest})."""

    route: str
    username: Optional[str]
    method: bytes
    uri: bytes
    code: int
    sentLength: int

    def getClientAddress(self) -> Any: ...

    def getHeader(self, key: bytes) -> Optional[bytes]: ...


class Seconds(float):
    """A duration in seconds that reads as milliseconds (or seconds, from 1 s) in text."""

    def __format__(self, spec: str) -> str:
        if spec:
            return super().__format__(spec)
        return f"{self * 1000:.1f}ms" if self < 1 else f"{self:.2f}s"


def loggable_path(uri: bytes) -> str:
    """
    The request target for the log: credentials of an absolute URI and the
    values of query parameters that look secret (password, token, ...) replaced by C{***}.
    """
    if b"://" in uri and b"@" in uri.partition(b"?")[0]:
        scheme, _, rest = uri.partition(b"://")
        authority, slash, path = rest.partition(b"/")
        uri = scheme + b"://***@" + authority.rpartition(b"@")[2] + slash + path
    if b"?" in uri:
        path, _, query = uri.partition(b"?")
        uri = path + b"?" + b"&".join(_masked(parameter) for parameter in query.split(b"&"))
    return uri.decode("utf-8", "backslashreplace")


def _masked(parameter: bytes) -> bytes:
    name, equals, _ = parameter.partition(b"=")
    return name + b"=***" if equals and is_secret(name.decode("latin-1")) else parameter


def method_label(method: bytes) -> str:
    """The method as a metric label: one of L{METHODS} or C{other} (label values stay few)."""
    return METHODS.get(method, OTHER)


def access_fields(request: LoggedRequest, duration: float) -> dict[str, Any]:
    """The fields of a finished request's access log event."""
    address = request.getClientAddress()
    agent = request.getHeader(b"user-agent")
    return {
        "remote": getattr(address, "host", "-"),
        "user": request.username or "-",
        "method": request.method.decode("ascii", "backslashreplace"),
        "path": loggable_path(request.uri),
        "status": request.code,
        "bytes": request.sentLength,
        "duration": Seconds(duration),
        "agent": "-" if agent is None else agent.decode("latin-1"),
        "route": request.route,
    }
