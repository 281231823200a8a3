"""C{devpi-twisted gen-config}: which files it writes where, and what goes into them."""

from __future__ import annotations

import os
import sys
from typing import Optional

from twisted.trial.unittest import TestCase

from tests.commands.console import run_command

FILES = ["crontab", "devpi-twisted.service", "nginx-devpi-twisted.conf", "supervisor-devpi-twisted.conf"]
PASSWORD = "hunter2-not-for-files"


class GenConfigTests(TestCase):
    def setUp(self) -> None:
        self.workdir = os.path.abspath(self.mktemp())
        os.makedirs(self.workdir)
        self.out = os.path.join(self.workdir, "out")
        self.serverdir = os.path.join(self.workdir, "server")
        # the options come from the command line and the environment a test gives, never the caller's
        environ = {name: value for name, value in os.environ.items() if not name.startswith("DEVPI_TWISTED_")}
        self.patch(os, "environ", environ)

    def gen_config(self, *argv: str, environ: Optional[dict[str, str]] = None) -> tuple[int, str, str]:
        """Run the command with C{argv} (and C{environ}): its exit code, stdout and stderr."""
        self.patch(os, "environ", {**os.environ, **(environ or {})})
        outcome = run_command("gen-config", "--serverdir", self.serverdir, *argv)
        return outcome.code, outcome.out, outcome.err

    def read(self, name: str, folder: Optional[str] = None) -> str:
        with open(os.path.join(folder or self.out, name), encoding="utf-8") as f:
            return f.read()

    def test_default_folder_in_the_current_directory(self) -> None:
        self.addCleanup(os.chdir, os.getcwd())
        os.chdir(self.workdir)
        outcome = run_command("gen-config", "--serverdir", self.serverdir)
        self.assertEqual(outcome.code, 0)
        folder = os.path.join(self.workdir, "gen-config")
        self.assertEqual(sorted(os.listdir(folder)), FILES)
        self.assertIn(f"wrote {os.path.join(folder, 'devpi-twisted.service')}", outcome.out)

    def test_output_dir(self) -> None:
        code, stdout, _ = self.gen_config("--output-dir", self.out)
        self.assertEqual(code, 0)
        self.assertEqual(sorted(os.listdir(self.out)), FILES)
        self.assertEqual(stdout.count("wrote "), len(FILES))
        for name in FILES:
            self.assertNotIn("--output-dir", self.read(name))

    def test_unit_runs_this_twistd_with_the_options(self) -> None:
        code, _, _ = self.gen_config(
            "--output-dir", self.out, "--port", "4040", "--offline-mode",
            "--max-request-body-size", "5000000",
        )
        self.assertEqual(code, 0)
        twistd = os.path.join(os.path.dirname(sys.executable), "twistd")
        self.assertIn(
            f"ExecStart={twistd} -n --pidfile= devpi --serverdir {self.serverdir}"
            " --port 4040 --max-request-body-size 5000000 --offline-mode\n",
            self.read("devpi-twisted.service"),
        )
        self.assertIn(f" devpi --serverdir {self.serverdir} --port 4040 ", self.read("supervisor-devpi-twisted.conf"))
        self.assertIn(f" devpi --serverdir {self.serverdir} --port 4040 ", self.read("crontab"))
        nginx = self.read("nginx-devpi-twisted.conf")
        self.assertIn("server 127.0.0.1:4040;", nginx)
        self.assertIn("client_max_body_size 5000000;", nginx)

    def test_blob_store_options_carried(self) -> None:
        code, _, _ = self.gen_config(
            "--output-dir", self.out, "--blob-store", "s3://files/devpi",
            "--s3-endpoint-url", "http://minio:9000", "--blob-redirect",
        )
        self.assertEqual(code, 0)
        unit = self.read("devpi-twisted.service")
        self.assertIn(
            f" devpi --serverdir {self.serverdir} --blob-store s3://files/devpi"
            " --s3-endpoint-url http://minio:9000 ",
            unit,
        )
        self.assertIn(" --blob-redirect\n", unit)
        self.assertIn("credentials the standard AWS way", unit)

    def test_options_from_the_environment_carried(self) -> None:
        code, _, _ = self.gen_config("--output-dir", self.out, environ={"DEVPI_TWISTED_PORT": "4141"})
        self.assertEqual(code, 0)
        self.assertIn(" --port 4141", self.read("devpi-twisted.service"))

    def test_nginx_options(self) -> None:
        cache = os.path.join(self.workdir, "cache")
        code, _, _ = self.gen_config(
            "--output-dir", self.out, "--nginx-listen", "127.0.0.1:8080", "--nginx-cache-dir", cache
        )
        self.assertEqual(code, 0)
        nginx = self.read("nginx-devpi-twisted.conf")
        self.assertIn("listen 127.0.0.1:8080;", nginx)
        self.assertIn(f"proxy_cache_path {cache} ", nginx)
        self.assertNotIn("--nginx", self.read("devpi-twisted.service"))

    def test_root_passwd_never_written(self) -> None:
        code, stdout, stderr = self.gen_config(
            "--output-dir", self.out, "--root-passwd", PASSWORD,
            environ={"DEVPI_TWISTED_ROOT_PASSWD": PASSWORD + "-env"},
        )
        self.assertEqual(code, 0)
        for name in FILES:
            text = self.read(name)
            self.assertNotIn(PASSWORD, text, name)
            self.assertNotIn("root-passwd", text, name)
        self.assertNotIn(PASSWORD, stdout + stderr)
        self.assertIn("--root-passwd is a secret and was not written", stderr)

    def test_refuses_existing_files(self) -> None:
        os.makedirs(self.out)
        with open(os.path.join(self.out, "devpi-twisted.service"), "w") as f:
            f.write("mine")
        code, stdout, stderr = self.gen_config("--output-dir", self.out)
        self.assertEqual(code, 1)
        self.assertEqual(stdout, "")
        self.assertIn("already holds devpi-twisted.service; use --force", stderr)
        self.assertEqual(os.listdir(self.out), ["devpi-twisted.service"])
        self.assertEqual(self.read("devpi-twisted.service"), "mine")

    def test_force_replaces_existing_files(self) -> None:
        self.assertEqual(self.gen_config("--output-dir", self.out)[0], 0)
        code, _, _ = self.gen_config("--output-dir", self.out, "--force", "--port", "4242")
        self.assertEqual(code, 0)
        self.assertIn(" --port 4242", self.read("devpi-twisted.service"))
        self.assertEqual(sorted(os.listdir(self.out)), FILES)

    def test_other_files_in_the_folder_are_fine(self) -> None:
        os.makedirs(self.out)
        with open(os.path.join(self.out, "notes.txt"), "w") as f:
            f.write("mine")
        self.assertEqual(self.gen_config("--output-dir", self.out)[0], 0)
        self.assertEqual(sorted(os.listdir(self.out)), sorted(FILES + ["notes.txt"]))

    def test_unreachable_endpoint_writes_nothing(self) -> None:
        code, _, stderr = self.gen_config("--output-dir", self.out, "--listen", "ssl:443:privateKey=k.pem")
        self.assertEqual(code, 1)
        self.assertIn("a proxy cannot reach the server's endpoint", stderr)
        self.assertFalse(os.path.exists(self.out))

    def test_output_dir_that_is_a_file(self) -> None:
        with open(self.out, "w") as f:
            f.write("mine")
        code, _, stderr = self.gen_config("--output-dir", self.out)
        self.assertEqual(code, 1)
        self.assertIn(f"cannot write into {self.out}", stderr)

    def test_server_option_errors_are_usage_errors(self) -> None:
        outcome = run_command("gen-config", "--port", "70000", "--output-dir", self.out)
        self.assertEqual(outcome.code, 2)
        self.assertIn("--port 70000 is not a port number", outcome.err)
        self.assertFalse(os.path.exists(self.out))
