"""The nginx site config: a reverse proxy in front of the server that caches release files."""

from __future__ import annotations

import re

from devpi_twisted.deploy.errors import UnsafeValue, printable
from devpi_twisted.deploy.settings import Deployment

#: how long nginx serves a cached release file before asking the server whether it still exists
FILE_REVALIDATE = "10m"
#: how long replicas may wait on C{/+changelog} for the next change
CHANGELOG_TIMEOUT = "3600s"

_BARE = re.compile(r"[A-Za-z0-9_./:@+=,\[\]-]+")
_LISTEN = re.compile(r"[A-Za-z0-9_.:=\[\] -]+")

TEMPLATE = """\
# nginx site for devpi-twisted, written by `devpi-twisted gen-config`.
# Include it in the http block of nginx.conf (e.g. put it into /etc/nginx/conf.d/).
#
# Release files (.../+f/...) are cached by nginx (proxy_cache), not served from the
# server directory: the server keeps them content-addressed by their sha256 (in
# SERVERDIR/+blobs/ or its --blob-store), so nginx cannot map a +f/ URL to a file. A +f/ URL never changes its
# content and the server sends strong ETags and "Cache-Control: immutable", so a
# cached file is good as long as it exists: nginx asks the server again (a cheap
# conditional request, 304) every {file_revalidate}, which stops it serving deleted files.
# The cache holds copies of the files asked for most; max_size bounds it.
proxy_cache_path {cache_dir} levels=1:2 keys_zone=devpi_twisted_files:10m
                 max_size=10g inactive=30d use_temp_path=off;

# a GET of a release file whose Accept names application/json gets the file's metadata
# (JSON) instead of the file: those replies are neither cached nor served from the cache
map $http_accept $devpi_twisted_wants_json {{
    default 0;
    ~application/json 1;
}}

upstream devpi_twisted {{
    server {upstream};
    keepalive 16;
}}

server {{
    listen {listen};
    server_name localhost $hostname "";

    # uploads as large as the server's --max-request-body-size, passed on as they arrive
    client_max_body_size {max_body_size};
    proxy_request_buffering off;

    gzip on;
    gzip_proxied any;
    gzip_min_length 2000;
    gzip_types text/plain text/css text/xml application/xml application/json
               application/vnd.pypi.simple.v1+json application/javascript;

    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Host $http_host;
    # the server builds its absolute URLs from X-Outside-Url (unless --outside-url is given)
    proxy_set_header X-Outside-Url $scheme://$http_host;
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    proxy_set_header X-Forwarded-Proto $scheme;
    proxy_set_header X-Real-IP $remote_addr;
    proxy_read_timeout 300s;

    location / {{
        proxy_pass http://devpi_twisted;
    }}

    # release files: GET and HEAD are cached, other methods go to the server.
    # Files carry no per-user access control, so one cached copy serves everyone.
    location ~ ^/[^/]+/[^/]+/\\+f/ {{
        proxy_pass http://devpi_twisted;
        proxy_cache devpi_twisted_files;
        proxy_ignore_headers Cache-Control Expires;
        proxy_cache_valid 200 {file_revalidate};
        proxy_cache_revalidate on;
        proxy_cache_bypass $devpi_twisted_wants_json;
        proxy_no_cache $devpi_twisted_wants_json;
        proxy_cache_lock on;
        proxy_cache_use_stale error timeout updating;
        add_header X-Cache-Status $upstream_cache_status always;
    }}

    # replication: a replica keeps GET /+changelog/N- open while it waits for changes
    location ^~ /+changelog {{
        proxy_pass http://devpi_twisted;
        proxy_buffering off;
        gzip off;
        proxy_read_timeout {changelog_timeout};
        proxy_send_timeout {changelog_timeout};
    }}
}}
"""


def render(deployment: Deployment) -> str:
    """The site config (for nginx's http block) of C{deployment}."""
    if not _LISTEN.fullmatch(deployment.nginx_listen):
        raise UnsafeValue(
            f"nginx listen parameters {deployment.nginx_listen!r} hold characters nginx does not take there"
        )
    return TEMPLATE.format(
        cache_dir=quote(deployment.nginx_cache_dir),
        upstream=quote(deployment.upstream),
        listen=deployment.nginx_listen,
        max_body_size=deployment.max_body_size,
        file_revalidate=FILE_REVALIDATE,
        changelog_timeout=CHANGELOG_TIMEOUT,
    )


def quote(value: str) -> str:
    """C{value} as one nginx word: bare when safe, else double-quoted with escapes."""
    if _BARE.fullmatch(value):
        return value
    if "$" in printable(value, "an nginx config"):
        raise UnsafeValue(f"{value!r} holds a $, which nginx would take for a variable")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
