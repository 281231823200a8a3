"""A deployment made from parsed server options."""

from __future__ import annotations

import os
from typing import Optional

from twisted.trial.unittest import TestCase

from devpi_twisted.deploy import Deployment, UnsafeValue
from devpi_twisted.deploy.settings import deployment_from
from devpi_twisted.options import Options


def deployment(*argv: str, environ: Optional[dict[str, str]] = None) -> Deployment:
    options = Options(environ=environ or {})
    options.parseOptions(list(argv))
    return deployment_from(options, "/venv/bin/twistd", "devpi", "80", "cache")


class DeploymentFromTests(TestCase):
    def test_paths_made_absolute(self) -> None:
        made = deployment("--serverdir", "data", "--secretfile", "secret")
        self.assertEqual(made.serverdir, os.path.abspath("data"))
        self.assertEqual(
            made.server_args,
            ("--serverdir", os.path.abspath("data"), "--secretfile", os.path.abspath("secret")),
        )
        self.assertEqual(made.nginx_cache_dir, os.path.abspath("cache"))

    def test_default_serverdir_is_named(self) -> None:
        made = deployment()
        self.assertEqual(made.server_args, ("--serverdir", made.serverdir))
        self.assertTrue(os.path.isabs(made.serverdir))

    def test_upstream_from_host_and_port(self) -> None:
        self.assertEqual(deployment("--host", "0.0.0.0", "--port", "4040").upstream, "127.0.0.1:4040")
        self.assertEqual(deployment("--host", "::1").upstream, "[::1]:3141")

    def test_upstream_from_listen(self) -> None:
        self.assertEqual(deployment("--listen", "unix:/run/devpi.sock").upstream, "unix:/run/devpi.sock")
        with self.assertRaises(UnsafeValue):
            deployment("--listen", "tcp:0")

    def test_options_from_the_environment(self) -> None:
        made = deployment(environ={"DEVPI_TWISTED_MAX_REQUEST_BODY_SIZE": "777", "DEVPI_TWISTED_ROOT_PASSWD": "pw"})
        self.assertEqual(made.max_body_size, 777)
        self.assertIn("777", made.server_args)
        self.assertNotIn("pw", made.server_args)
