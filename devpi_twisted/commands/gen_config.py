"""C{devpi-twisted gen-config}: write nginx, systemd, supervisor and cron configs for a server."""

from __future__ import annotations

import os
import pwd
import sys
from typing import Mapping, Optional

from devpi_twisted.deploy import UnsafeValue, render_all
from devpi_twisted.deploy.arguments import is_secret
from devpi_twisted.deploy.settings import deployment_from
from devpi_twisted.options import Options as ServerOptions
from devpi_twisted.serverdir import write_atomically

DEFAULT_OUTPUT_DIR = "gen-config"
DEFAULT_NGINX_LISTEN = "80"
DEFAULT_NGINX_CACHE_DIR = "/var/cache/nginx/devpi-twisted"


class Options(ServerOptions):
    """The server's options (as the server would run) plus where and how to write the configs."""

    synopsis = "Usage: devpi-twisted gen-config [server options] [--output-dir DIR] [--force]"
    longdesc = (
        "Writes nginx-devpi-twisted.conf, devpi-twisted.service (systemd),"
        " supervisor-devpi-twisted.conf and crontab for a server run with the given"
        " server options (those differing from their defaults are carried over;"
        " passwords never are)."
    )

    def __init__(self, environ: Optional[Mapping[str, str]] = None) -> None:
        super().__init__(environ)
        self["output-dir"] = DEFAULT_OUTPUT_DIR
        self["nginx-listen"] = DEFAULT_NGINX_LISTEN
        self["nginx-cache-dir"] = DEFAULT_NGINX_CACHE_DIR
        self["force"] = False

    def opt_output_dir(self, path: str) -> None:
        """folder to write the configs into [gen-config]"""
        self["output-dir"] = path

    def opt_nginx_listen(self, listen: str) -> None:
        """what nginx listens on, as its listen directive takes it [80]"""
        self["nginx-listen"] = listen

    def opt_nginx_cache_dir(self, path: str) -> None:
        """folder of nginx's cache of release files [/var/cache/nginx/devpi-twisted]"""
        self["nginx-cache-dir"] = path

    def opt_force(self) -> None:
        """replace config files of the same names in the output folder"""
        self["force"] = True


def run(options: Options) -> int:
    """Write the configs; 0, or 1 (nothing written) when they cannot or may not be written."""
    try:
        deployment = deployment_from(
            options,
            twistd=os.path.join(os.path.dirname(sys.executable), "twistd"),
            user=pwd.getpwuid(os.geteuid()).pw_name,
            nginx_listen=options["nginx-listen"],
            nginx_cache_dir=options["nginx-cache-dir"],
        )
        files = render_all(deployment)
    except UnsafeValue as error:
        return _fail(str(error))
    folder = os.path.abspath(options["output-dir"])
    existing = sorted(name for name in files if os.path.lexists(os.path.join(folder, name)))
    if existing and not options["force"]:
        return _fail(
            f"{folder} already holds {', '.join(existing)}; use --force to replace them"
        )
    try:
        os.makedirs(folder, exist_ok=True)
        for name, text in files.items():
            path = os.path.join(folder, name)
            write_atomically(path, text.encode("utf-8"))
            print(f"wrote {path}")
    except OSError as error:
        return _fail(f"cannot write into {folder}: {error.strerror or error}")
    secrets = [name for name, value in options.items() if is_secret(name) and value]
    if secrets:
        print(
            "devpi-twisted gen-config: note: "
            + ", ".join(f"--{name}" for name in sorted(secrets))
            + " is a secret and was not written into the configs: create the server"
            " directory with `devpi-twisted init --root-passwd ...` before the first start,"
            " or set the password with `devpi-twisted passwd root`",
            file=sys.stderr,
        )
    return 0


def _fail(message: str) -> int:
    print(f"devpi-twisted gen-config: error: {message}", file=sys.stderr)
    return 1
