"""Helpers for the deployment config tests: a sample deployment, and nginx run unprivileged."""

from __future__ import annotations

import dataclasses
import os
import pwd
import shutil
import subprocess
from typing import Any, Optional

from devpi_twisted.deploy import Deployment

#: nginx, wherever Debian's package or PATH puts it; None when it is not installed
NGINX: Optional[str] = shutil.which("nginx") or (
    "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None
)
NO_NGINX = "nginx is not installed (Debian: apt-get install nginx-light)"
SYSTEMD_ANALYZE: Optional[str] = shutil.which("systemd-analyze")
NGINX_TIMEOUT = 10.0

SAMPLE = Deployment(
    twistd="/srv/venv/bin/twistd",
    server_args=("--serverdir", "/srv/devpi", "--port", "4040"),
    serverdir="/srv/devpi",
    upstream="127.0.0.1:4040",
    max_body_size=5_000_000,
    nginx_listen="80",
    nginx_cache_dir="/var/cache/nginx/devpi-twisted",
    user="devpi",
)


def sample(**changes: Any) -> Deployment:
    """L{SAMPLE} with C{changes}."""
    return dataclasses.replace(SAMPLE, **changes)


def write_nginx_conf(site: str, prefix: str) -> str:
    """
    A top-level nginx.conf in C{prefix} that includes the site config
    C{site} and keeps pid, logs and temp files in C{prefix}; its path.
    """
    os.makedirs(prefix, exist_ok=True)
    lines = [
        "daemon off;",
        f"pid {prefix}/nginx.pid;",
        f"error_log {prefix}/error.log;",
        "worker_processes 1;",
        "events { worker_connections 64; }",
        "http {",
        f"    access_log {prefix}/access.log;",
        *(f"    {kind}_temp_path {prefix}/{kind}_temp;"
          for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")),
        f"    include {site};",
        "}",
    ]
    if os.geteuid() == 0:
        # nginx's workers would switch to nobody, who cannot enter the test's folders
        lines.insert(0, f"user {pwd.getpwuid(0).pw_name};")
    path = os.path.join(prefix, "nginx.conf")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return path


def nginx_command(conf: str, *args: str) -> list[str]:
    """The nginx command line for C{conf} (made by L{write_nginx_conf}) plus C{args}."""
    assert NGINX is not None
    prefix = os.path.dirname(conf)
    return [NGINX, "-p", prefix + "/", "-e", os.path.join(prefix, "error.log"), "-c", conf, *args]


def nginx_test(conf: str) -> subprocess.CompletedProcess[str]:
    """C{nginx -t} of C{conf}; its output is stdout and stderr together."""
    return subprocess.run(
        nginx_command(conf, "-t"),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=NGINX_TIMEOUT,
    )
