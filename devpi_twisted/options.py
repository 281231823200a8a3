"""The command line options of every entry point, also read from DEVPI_TWISTED_* variables."""

from __future__ import annotations

import os
from typing import Any, Mapping, Optional
from urllib.parse import urlsplit

from twisted.python import reflect, usage

LOG_LEVELS = ("debug", "info", "warn", "error", "critical")
LOG_FORMATS = ("text", "json")
ROLES = ("standalone", "primary", "replica")
ENV_PREFIX = "DEVPI_TWISTED_"


def default_serverdir() -> str:
    """Where a server keeps its data unless told otherwise."""
    return os.path.join(os.path.expanduser("~"), ".devpi-twisted", "server")


def env_name(option: str) -> str:
    """The environment variable that sets C{option}: C{--outside-url} -> C{DEVPI_TWISTED_OUTSIDE_URL}."""
    return ENV_PREFIX + option.upper().replace("-", "_")


class ServerDirOptions(usage.Options):
    """C{--serverdir}, which every command takes; all options of subclasses also from the environment."""

    #: [long name, short name, default, description(, coerce)], as usage.Options reads them
    optParameters: list[list[Any]] = [
        ["serverdir", None, None, "server directory [~/.devpi-twisted/server]"],
    ]

    def __init__(self, environ: Optional[Mapping[str, str]] = None) -> None:
        super().__init__()
        environ = os.environ if environ is None else environ
        self["serverdir"] = default_serverdir()
        parameters: list[list] = []
        reflect.accumulateClassList(type(self), "optParameters", parameters)
        flags: list[list] = []
        reflect.accumulateClassList(type(self), "optFlags", flags)
        for name, _, _, _, *coerce in parameters:
            value = environ.get(env_name(name))
            if value is not None:
                try:
                    self[name] = coerce[0](value) if coerce else value
                except ValueError:
                    raise usage.UsageError(f"{env_name(name)}: invalid value {value!r}")
        for name, _, _ in flags:
            value = environ.get(env_name(name))
            if value is not None:
                if value.lower() not in ("1", "true", "yes", "0", "false", "no", ""):
                    raise usage.UsageError(f"{env_name(name)}: invalid value {value!r}")
                self[name] = 1 if value.lower() in ("1", "true", "yes") else 0


class Options(ServerDirOptions):
    """Options of the devpi-twisted server; every one also from the environment."""

    optParameters = [
        ["host", None, "127.0.0.1", "interface to listen on"],
        ["port", None, 3141, "port to listen on", int],
        ["listen", None, None, "twisted endpoint to listen on, e.g. tcp:3141 (overrides --host/--port)"],
        ["outside-url", None, None, "URL clients reach this server at (behind a proxy)"],
        ["secretfile", None, None, "file with the token signing secret [SERVERDIR/.secret]"],
        ["root-passwd", None, "", "password of the root user created on first start"],
        ["restrict-modify", None, None, "comma separated principals that alone may manage users and indexes"],
        ["log-level", None, "info", "least important log level shown: " + ", ".join(LOG_LEVELS)],
        ["log-format", None, "text", "log lines as text or json (one JSON object per line)"],
        ["max-request-body-size", None, 1024**3, "largest request body accepted, in bytes", int],
        ["request-timeout", None, 5.0, "seconds an upstream request may take", float],
        ["upstream-max-retries", None, 3, "retries of a failed upstream request (with backoff)", int],
        ["mirror-cache-expiry", None, 1800, "seconds a mirror page stays fresh (per-index mirror_cache_expiry wins)", int],
        ["mirror-warm-days", None, 7.0, "revalidate mirror pages used in the last N days before they expire (0: off)", float],
        ["mirror-warm-concurrency", None, 4, "most mirror pages revalidated at once in the background", int],
        ["role", None, "auto", "standalone, primary (serves replicas) or replica; auto: replica if --primary-url is given"],
        ["primary-url", None, None, "URL of the primary this replica follows"],
        ["replication-heartbeat", None, 2.0, "seconds between heartbeats on a primary's replication streams", float],
        ["proxy-timeout", None, 30.0, "seconds a replica waits for the primary to answer a relayed write", float],
    ]
    optFlags = [
        ["offline-mode", None, "never contact upstream; serve what is cached"],
    ]

    def postOptions(self) -> None:
        if not 0 <= self["port"] <= 65535:
            raise usage.UsageError(f"--port {self['port']} is not a port number")
        if self["log-level"] not in LOG_LEVELS:
            raise usage.UsageError(
                f"--log-level must be one of {', '.join(LOG_LEVELS)}"
            )
        if self["log-format"] not in LOG_FORMATS:
            raise usage.UsageError(f"--log-format must be one of {', '.join(LOG_FORMATS)}")
        url = self["outside-url"]
        if url and urlsplit(url).scheme not in ("http", "https"):
            raise usage.UsageError(f"--outside-url {url!r} is not an http(s) URL")
        if self["restrict-modify"] is not None and not self.restrict_modify():
            raise usage.UsageError("--restrict-modify names no principal")
        if self["request-timeout"] <= 0:
            raise usage.UsageError("--request-timeout must be positive")
        if self["upstream-max-retries"] < 0 or self["mirror-cache-expiry"] < 0:
            raise usage.UsageError("--upstream-max-retries and --mirror-cache-expiry must not be negative")
        if self["mirror-warm-days"] < 0 or self["mirror-warm-concurrency"] < 1:
            raise usage.UsageError("--mirror-warm-days must not be negative, --mirror-warm-concurrency positive")
        if self["max-request-body-size"] < 1:
            raise usage.UsageError("--max-request-body-size must be positive")
        self._check_role()

    def _check_role(self) -> None:
        if self["role"] == "master":  # devpi's deprecated name
            self["role"] = "primary"
        if self["role"] == "auto":
            self["role"] = "replica" if self["primary-url"] else "standalone"
        if self["role"] not in ROLES:
            raise usage.UsageError(f"--role must be one of auto, {', '.join(ROLES)}")
        url = self["primary-url"]
        if self["role"] == "replica":
            if not url or urlsplit(url).scheme not in ("http", "https"):
                raise usage.UsageError("a replica needs --primary-url http(s)://PRIMARY/")
            if not self["secretfile"]:
                raise usage.UsageError(
                    "a replica needs --secretfile: the primary's secret file (replicas and"
                    " primary sign with the same secret)"
                )
            self["primary-url"] = url.rstrip("/") + "/"
        elif url:
            raise usage.UsageError(f"--primary-url is for replicas, not for --role {self['role']}")
        if self["replication-heartbeat"] <= 0 or self["proxy-timeout"] <= 0:
            raise usage.UsageError("--replication-heartbeat and --proxy-timeout must be positive")

    def restrict_modify(self) -> Optional[frozenset[str]]:
        """The principals of C{--restrict-modify}, or None when not restricted."""
        spec = self["restrict-modify"]
        if spec is None:
            return None
        return frozenset(p.strip() for p in spec.split(",") if p.strip())

    def endpoint_description(self) -> str:
        """The strports description of where to listen."""
        if self["listen"]:
            return self["listen"]
        host = self["host"].replace(":", "\\:")
        return f"tcp:{self['port']}:interface={host}"
