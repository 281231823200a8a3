"""What the deployment configs are made from: how the server is started and where it is reached."""

from __future__ import annotations

import os
from dataclasses import dataclass

from devpi_twisted.deploy.address import proxy_address
from devpi_twisted.deploy.arguments import server_arguments
from devpi_twisted.options import Options as ServerOptions

#: server options holding a path, made absolute (a service does not start in this directory)
PATH_OPTIONS = ("serverdir", "secretfile")


@dataclass(frozen=True)
class Deployment:
    """The facts every config file is rendered from."""

    #: absolute path of the twistd that runs the server
    twistd: str
    #: the server's options after C{twistd ... devpi}: those differing from their defaults
    server_args: tuple[str, ...]
    #: absolute path of the server directory
    serverdir: str
    #: where nginx reaches the server: C{host:port} or C{unix:/path}
    upstream: str
    #: the server's --max-request-body-size, in bytes
    max_body_size: int
    #: the parameters of nginx's C{listen} directive, e.g. C{80} or C{127.0.0.1:8080}
    nginx_listen: str
    #: the folder of nginx's cache of release files
    nginx_cache_dir: str
    #: the system user the server runs as
    user: str

    @property
    def foreground_command(self) -> tuple[str, ...]:
        """C{twistd -n devpi ...}: the server in the foreground, for a service manager."""
        return (self.twistd, "-n", "--pidfile=", "devpi", *self.server_args)


def deployment_from(
    options: ServerOptions,
    twistd: str,
    user: str,
    nginx_listen: str,
    nginx_cache_dir: str,
) -> Deployment:
    """
    The deployment of a server run with C{options} (parsed). Raises
    L{devpi_twisted.deploy.errors.UnsafeValue} when nginx cannot reach the
    server's endpoint.
    """
    absolute = dict(options)
    for name in PATH_OPTIONS:
        if absolute.get(name):
            absolute[name] = os.path.abspath(os.path.expanduser(absolute[name]))
    return Deployment(
        twistd=twistd,
        server_args=tuple(server_arguments(absolute, always=("serverdir",))),
        serverdir=absolute["serverdir"],
        upstream=proxy_address(options.endpoint_description()),
        max_body_size=int(options["max-request-body-size"]),
        nginx_listen=nginx_listen,
        nginx_cache_dir=os.path.abspath(os.path.expanduser(nginx_cache_dir)),
        user=user,
    )
