"""The command line options of every entry point, also read from DEVPI_TWISTED_* variables."""

from __future__ import annotations

import os
from typing import Any, Mapping, Optional
from urllib.parse import urlsplit

from twisted.python import reflect, usage

from devpi_twisted.store.locations import FILE, BadLocation, BlobLocation, parse_location
from devpi_twisted.store.s3 import S3_MIN_PART_SIZE, S3Settings

LOG_LEVELS = ("debug", "info", "warn", "error", "critical")
LOG_FORMATS = ("text", "json")
ADDRESSING_STYLES = ("auto", "virtual", "path")
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


class BlobStoreOptions(ServerDirOptions):
    """Where the blobs are: C{--blob-store} and the object store's settings (server, export, import, fsck)."""

    optParameters = [
        ["blob-store", None, FILE, "where files are kept: file (SERVERDIR/+blobs), file:///DIR or s3://BUCKET/PREFIX"],
        ["s3-endpoint-url", None, None, "URL of an S3-compatible server (MinIO, Ceph, ...); default: AWS"],
        ["s3-region", None, None, "region of the bucket [AWS_DEFAULT_REGION, ~/.aws/config]"],
        ["s3-addressing-style", None, "auto", "bucket in the host name (virtual) or the path (path), or auto"],
        ["s3-part-size", None, 8 * 1024 * 1024, "bytes per part of a multipart upload (S3 takes 5 MiB or more)", int],
        ["s3-timeout", None, 10.0, "seconds to connect to the object store and to wait for each reply", float],
        ["s3-max-attempts", None, 3, "attempts of each object store call (retried with backoff)", int],
        ["s3-max-connections", None, 10, "connections to the object store kept at most", int],
    ]

    def postOptions(self) -> None:
        if self["s3-addressing-style"] not in ADDRESSING_STYLES:
            raise usage.UsageError(f"--s3-addressing-style must be one of {', '.join(ADDRESSING_STYLES)}")
        if not 64 * 1024 <= self["s3-part-size"] <= 5 * 1024**3:
            raise usage.UsageError(
                f"--s3-part-size must be between 64 KiB and 5 GiB (S3 takes {S3_MIN_PART_SIZE} or more)"
            )
        if self["s3-timeout"] <= 0 or self["s3-max-attempts"] < 1 or self["s3-max-connections"] < 1:
            raise usage.UsageError("--s3-timeout, --s3-max-attempts and --s3-max-connections must be positive")
        url = self["s3-endpoint-url"]
        if url is not None and "@" in urlsplit(url).netloc:  # not echoed: it may hold a secret
            raise usage.UsageError("--s3-endpoint-url: no credentials in the URL (boto3 finds them the standard AWS way)")
        if url is not None and urlsplit(url).scheme not in ("http", "https"):
            raise usage.UsageError(f"--s3-endpoint-url {url!r} is not an http(s) URL")
        try:
            self.blob_location()
        except BadLocation as error:
            raise usage.UsageError(str(error))

    def blob_location(self) -> BlobLocation:
        """The blob store these options name."""
        settings = S3Settings(
            bucket="",
            endpoint_url=self["s3-endpoint-url"],
            region=self["s3-region"],
            addressing_style=self["s3-addressing-style"],
            part_size=self["s3-part-size"],
            timeout=self["s3-timeout"],
            max_attempts=self["s3-max-attempts"],
            max_connections=self["s3-max-connections"],
        )
        return parse_location(self["blob-store"], settings)


class Options(BlobStoreOptions):
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
        ["blob-redirect-expiry", None, 300, "seconds a --blob-redirect URL stays valid", int],
    ]
    optFlags = [
        ["offline-mode", None, "never contact upstream; serve what is cached"],
        ["blob-redirect", None, "answer file downloads with a redirect to a presigned object store URL (s3:// only)"],
    ]

    def postOptions(self) -> None:
        super().postOptions()
        if self["blob-redirect"] and self.blob_location().s3 is None:
            raise usage.UsageError("--blob-redirect needs an s3:// --blob-store")
        if not 1 <= self["blob-redirect-expiry"] <= 7 * 24 * 3600:
            raise usage.UsageError("--blob-redirect-expiry must be between 1 second and 7 days")
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
