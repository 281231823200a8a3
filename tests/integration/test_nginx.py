"""Real nginx, configured by `devpi-twisted gen-config`, in front of a real server: upload and pip install."""

from __future__ import annotations

import hashlib
import io
import os
import socket
import subprocess
import sys
import time
from contextlib import redirect_stdout

from twisted.trial.unittest import TestCase

from devpi_twisted.commands import main
from tests.deploy.support import NGINX, NGINX_TIMEOUT, NO_NGINX, nginx_command, write_nginx_conf
from tests.dists.archives import make_wheel
from tests.e2e.support import (
    IndexApi,
    ServerProcess,
    fresh_venv,
    installed_versions,
    installer_environ,
    run,
)

ALICE = ("alice", "secret")
#: larger than nginx's default client_max_body_size (1m): the generated config must raise it
BIG = 2_000_000


def free_port() -> int:
    """A loopback port that nothing listened on a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class NginxProcess:
    """nginx in the foreground with a generated site config, unprivileged files in C{prefix}."""

    def __init__(self, site: str, prefix: str, port: int) -> None:
        self.prefix = prefix
        conf = write_nginx_conf(site, prefix)
        with open(os.path.join(prefix, "stderr.log"), "wb") as log:
            self.process = subprocess.Popen(
                nginx_command(conf), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        self._wait_for(port)

    def log(self) -> str:
        texts = []
        for name in ("stderr.log", "error.log"):
            path = os.path.join(self.prefix, name)
            if os.path.exists(path):
                with open(path, encoding="utf-8", errors="replace") as f:
                    texts.append(f.read())
        return "\n".join(texts)

    def _wait_for(self, port: int) -> None:
        deadline = time.monotonic() + NGINX_TIMEOUT
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise AssertionError(f"nginx did not start:\n{self.log()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=NGINX_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=NGINX_TIMEOUT)


class NginxInFrontTests(TestCase):
    """The generated nginx site proxies uploads and installs, and caches release files."""

    if NGINX is None:
        skip = NO_NGINX

    def setUp(self) -> None:
        self.workdir = os.path.abspath(self.mktemp())
        os.makedirs(os.path.join(self.workdir, "home"))
        self.server = ServerProcess(self.workdir)
        self.addCleanup(self.server.stop)
        server_port = self.server.url.rsplit(":", 1)[1]
        nginx_port = free_port()
        configs = os.path.join(self.workdir, "gen-config")
        with redirect_stdout(io.StringIO()):
            code = main([
                "gen-config",
                "--serverdir", self.server.serverdir,
                "--listen", f"tcp:{server_port}:interface=127.0.0.1",
                "--nginx-listen", f"127.0.0.1:{nginx_port}",
                "--nginx-cache-dir", os.path.join(self.workdir, "nginx", "cache"),
                "--output-dir", configs,
            ])
        self.assertEqual(code, 0)
        self.nginx = NginxProcess(
            os.path.join(configs, "nginx-devpi-twisted.conf"), os.path.join(self.workdir, "nginx"), nginx_port
        )
        self.addCleanup(self.nginx.stop)
        self.url = f"http://127.0.0.1:{nginx_port}"
        self.api = IndexApi(self.url)
        self.addCleanup(self.api.close)

    def logs(self) -> str:
        return f"nginx:\n{self.nginx.log()}\nserver:\n{self.server.log()}"

    def test_upload_and_install_through_nginx(self) -> None:
        self.api.create_user(*ALICE)
        self.api.create_index("alice/dev", ALICE, volatile=False)
        wheel = make_wheel(
            os.path.join(self.workdir, "dists"), "big-pkg", "1.0",
            extra_files={"big_pkg/blob.bin": os.urandom(BIG)},
        )
        self.assertGreater(os.path.getsize(wheel), BIG)
        self.api.upload_ok("alice/dev", wheel, ALICE)

        # the server built its absolute links from the X-Outside-Url nginx sent
        (link,) = self.api.ok("GET", "/alice/dev/big-pkg/1.0")["result"]["+links"]
        self.assertTrue(link["href"].startswith(self.url + "/alice/dev/+f/"), link["href"])

        with open(wheel, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        # JSON asks for the file's metadata: passed on, never cached
        meta = self.api.session.get(link["href"], timeout=30)
        self.assertEqual(meta.json()["type"], "releasefilemeta", self.logs())
        self.assertEqual(meta.headers.get("X-Cache-Status"), "BYPASS")
        statuses = []
        for _ in range(2):
            response = self.api.session.get(link["href"], headers={"Accept": "*/*"}, timeout=30)
            self.assertEqual(response.status_code, 200, self.logs())
            self.assertEqual(hashlib.sha256(response.content).hexdigest(), digest)
            statuses.append(response.headers.get("X-Cache-Status"))
        self.assertEqual(statuses, ["MISS", "HIT"])

        python = fresh_venv(os.path.join(self.workdir, "venv"))
        result = run(
            [sys.executable, "-m", "pip", "--python", python, "--disable-pip-version-check",
             "--no-cache-dir", "--isolated", "install",
             "--index-url", f"{self.url}/alice/dev/+simple/", "big-pkg"],
            installer_environ(os.path.join(self.workdir, "home")),
            self.workdir,
        )
        self.assertEqual(result.returncode, 0, f"{result.stdout}\n{self.logs()}")
        self.assertEqual(installed_versions(python), {"big-pkg": "1.0"})

        # the cached file is served even while the server is down
        self.server.stop()
        response = self.api.session.get(link["href"], headers={"Accept": "*/*"}, timeout=30)
        self.assertEqual((response.status_code, response.headers.get("X-Cache-Status")), (200, "HIT"))
        self.assertEqual(hashlib.sha256(response.content).hexdigest(), digest)

    def test_ui_through_nginx(self) -> None:
        self.api.create_user(*ALICE)
        self.api.create_index("alice/dev", ALICE)
        self.api.upload_ok("alice/dev", make_wheel(os.path.join(self.workdir, "dists"), "ui-pkg", "1.0"), ALICE)
        browser = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
        for path in ("/", "/alice/dev", "/alice/dev/ui-pkg", "/alice/dev/ui-pkg/1.0", "/+search?query=ui-pkg"):
            response = self.api.session.get(self.url + path, headers=browser, timeout=30)
            self.assertEqual(response.status_code, 200, f"{path}\n{self.logs()}")
            self.assertIn('name="query"', response.text)
            # links name the server as nginx's X-Outside-Url says
            self.assertIn(f'href="{self.url}/alice/dev', response.text, path)
        style = response.text.split('rel="stylesheet" href="', 1)[1].split('"', 1)[0]
        response = self.api.session.get(style, headers={"Accept": "text/css"}, timeout=30)
        self.assertEqual(response.status_code, 200, self.logs())
        self.assertIn("immutable", response.headers["Cache-Control"])
        # the same URL still answers JSON clients with JSON
        self.assertEqual(self.api.ok("GET", "/alice/dev/ui-pkg/1.0")["type"], "versiondata")

