"""End to end: the real devpi-client command line against a real `twistd -n devpi` process."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Any, Optional

from twisted.trial.unittest import TestCase

TWISTD = [sys.executable, "-c", "from twisted.scripts.twistd import run; run()"]
DEVPI = os.path.join(os.path.dirname(sys.executable), "devpi")
START_TIMEOUT = 30.0
COMMAND_TIMEOUT = 60.0

#: no proxy may stand between the client and the loopback server
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def clean_environ(**extra: str) -> dict[str, str]:
    """
    This environment without pip's, devpi's and proxy variables (no extra
    index, no stray configuration, nothing reaches the internet), plus C{extra}.
    """
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.upper().startswith(("PIP_", "DEVPI_", "VIRTUAL_ENV"))
        and not name.lower().endswith("_proxy")
    }
    env["PIP_CONFIG_FILE"] = os.devnull
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env.update(extra)
    return env


class ServerProcess:
    """`twistd -n devpi` on a free loopback port, its log in a file."""

    def __init__(self, workdir: str, *args: str) -> None:
        self.serverdir = os.path.join(workdir, "server")
        self.logfile = os.path.join(workdir, "server.log")
        with open(self.logfile, "wb") as log:
            self.process = subprocess.Popen(
                TWISTD
                + ["-n", "devpi", "--serverdir", self.serverdir,
                   "--listen", "tcp:0:interface=127.0.0.1", *args],
                cwd=workdir,  # twistd.pid goes there
                env=clean_environ(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.url = f"http://127.0.0.1:{self._wait_for_port()}"

    def log(self) -> str:
        with open(self.logfile, encoding="utf-8", errors="replace") as f:
            return f.read()

    def _wait_for_port(self) -> int:
        deadline = time.monotonic() + START_TIMEOUT
        marker = "listening on 127.0.0.1:"
        while time.monotonic() < deadline:
            log = self.log()
            if marker in log:
                return int(log.split(marker, 1)[1].split(")", 1)[0])
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise AssertionError(f"the server did not start:\n{self.log()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def get(self, path: str, headers: Optional[dict[str, str]] = None) -> tuple[int, Any]:
        """GET C{path} as JSON: the status and the decoded body."""
        request = urllib.request.Request(
            self.url + path, headers={"Accept": "application/json", **(headers or {})}
        )
        try:
            with _NO_PROXY.open(request, timeout=COMMAND_TIMEOUT) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as error:
            with error:
                return error.code, json.load(error)

    def put(self, path: str, body: Any) -> int:
        request = urllib.request.Request(
            self.url + path,
            data=json.dumps(body).encode(),
            method="PUT",
            headers={"Accept": "application/json", "Content-Type": "application/json"},
        )
        with _NO_PROXY.open(request, timeout=COMMAND_TIMEOUT) as response:
            return int(response.status)


class DevpiClientTests(TestCase):
    """devpi-client's commands do what they say, and the server agrees."""

    if not os.path.exists(DEVPI):
        skip = f"devpi-client's `devpi` command is not installed next to {sys.executable}"

    def setUp(self) -> None:
        self.workdir = os.path.abspath(self.mktemp())
        os.makedirs(os.path.join(self.workdir, "home"))
        self.server = ServerProcess(self.workdir)
        self.addCleanup(self.server.stop)
        self.env = clean_environ(
            HOME=os.path.join(self.workdir, "home"),
            DEVPI_CLIENTDIR=os.path.join(self.workdir, "client"),
        )
        self.devpi_ok("use", self.server.url)

    def devpi(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run C{devpi ARGS}; its output is stdout and stderr together."""
        return subprocess.run(
            [DEVPI, *args],
            env=self.env,
            cwd=self.workdir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=COMMAND_TIMEOUT,
        )

    def devpi_ok(self, *args: str) -> str:
        """Run C{devpi ARGS}, which must succeed, and return its output."""
        result = self.devpi(*args)
        self.assertEqual(
            result.returncode,
            0,
            f"devpi {' '.join(args)} failed:\n{result.stdout}\nserver log:\n{self.server.log()}",
        )
        return result.stdout

    def client_state(self) -> dict[str, Any]:
        with open(os.path.join(self.workdir, "client", "current.json")) as f:
            return dict(json.load(f))

    def stored_tokens(self) -> dict[str, str]:
        """The login tokens the client keeps for this server, by user name."""
        try:
            with open(os.path.join(self.workdir, "client", "auth.json")) as f:
                logins = json.load(f)["auth"].get(self.server.url + "/", [])
        except FileNotFoundError:
            return {}
        return dict(logins)

    def auth_header(self, username: str) -> dict[str, str]:
        """The X-Devpi-Auth header with the token the client stored for C{username}."""
        pair = f"{username}:{self.stored_tokens()[username]}".encode()
        return {"X-Devpi-Auth": base64.b64encode(pair).decode()}

    def login(self, username: str, password: str) -> str:
        output = self.devpi_ok("login", username, "--password", password)
        self.assertIn(f"logged in '{username}'", output)
        return output

    def test_use_stores_the_servers_api(self) -> None:
        output = self.devpi_ok("use", self.server.url)
        self.assertIn(f"using server: {self.server.url}/ (not logged in)", output)
        state = self.client_state()
        self.assertEqual(state["login"], self.server.url + "/+login")
        self.assertEqual(state["features"], ["server-keyvalue-parsing"])

    def test_root_logs_in_with_an_empty_password(self) -> None:
        output = self.login("root", "")
        self.assertIn("credentials valid for 10.00 hours", output)
        self.assertEqual(self.client_state()["username"], "root")
        code, api = self.server.get("/+api", self.auth_header("root"))
        self.assertEqual((code, api["result"]["authstatus"][:2]), (200, ["ok", "root"]))

    def test_user_create_modify_list_delete(self) -> None:
        self.login("root", "")
        self.assertIn(
            "user created: alice",
            self.devpi_ok("user", "-c", "alice", "password=secret", "email=a@example.com"),
        )
        self.assertEqual(self.server.get("/alice")[1]["result"]["email"], "a@example.com")
        output = self.devpi_ok("user", "-m", "alice", "email=b@example.com")
        self.assertIn("user modified: alice", output)
        self.assertEqual(self.server.get("/alice")[1]["result"]["email"], "b@example.com")
        self.assertEqual(self.devpi_ok("user", "-l").split(), ["alice", "root"])

        self.assertIn("user created: carol", self.devpi_ok("user", "-c", "carol", "password=x"))
        self.assertEqual(self.server.get("/carol")[0], 200)
        output = self.devpi_ok("user", "--delete", "-y", "carol")
        self.assertIn("user deleted: carol", output)
        self.assertEqual(self.server.get("/carol")[0], 404)
        self.assertEqual(sorted(self.server.get("/")[1]["result"]), ["alice", "root"])

    def test_login_logoff_login(self) -> None:
        self.assertEqual(self.server.put("/alice", {"password": "secret"}), 201)
        self.login("alice", "secret")
        self.assertEqual(self.client_state()["username"], "alice")
        self.assertIn("login information deleted", self.devpi_ok("logoff"))
        self.assertEqual(self.stored_tokens(), {})
        self.assertIn("(not logged in)", self.devpi_ok("use"))
        self.login("alice", "secret")
        code, api = self.server.get("/+api", self.auth_header("alice"))
        self.assertEqual((code, api["result"]["authstatus"][:2]), (200, ["ok", "alice"]))

    def test_index_create_modify_list_use_delete(self) -> None:
        self.assertEqual(self.server.put("/alice", {"password": "secret"}), 201)
        self.login("alice", "secret")
        output = self.devpi_ok("index", "-c", "dev", "bases=root/pypi", "volatile=False")
        self.assertIn(f"{self.server.url}/alice/dev?no_projects=:", output)
        self.assertIn("bases=root/pypi", output)
        self.assertIn("volatile=False", output)

        output = self.devpi_ok("index", "dev", "title=Dev", "acl_upload+=bob")
        self.assertIn("/alice/dev title=Dev", output)
        self.assertIn("acl_upload=alice,bob", output)
        code, index = self.server.get("/alice/dev")
        self.assertEqual(code, 200, index)
        self.assertEqual(index["result"]["title"], "Dev")
        self.assertEqual(index["result"]["acl_upload"], ["alice", "bob"])
        self.assertEqual(index["result"]["bases"], ["root/pypi"])
        self.assertIs(index["result"]["volatile"], False)

        self.assertEqual(self.devpi_ok("index", "-l").split(), ["alice/dev"])
        output = self.devpi_ok("use", "alice/dev")
        self.assertIn(f"current devpi index: {self.server.url}/alice/dev (logged in as alice)", output)
        self.assertEqual(self.client_state()["index"], self.server.url + "/alice/dev")
        self.assertEqual(
            self.client_state()["simpleindex"], self.server.url + "/alice/dev/+simple/"
        )
        self.assertEqual(json.loads(self.devpi_ok("getjson", "/alice/dev")), index)

        self.devpi_ok("index", "-c", "tmp")
        self.assertEqual(self.server.get("/alice/tmp")[0], 200)
        output = self.devpi_ok("index", "--delete", "-y", "tmp")
        self.assertIn(f"index deleted: {self.server.url}/alice/tmp", output)
        self.assertEqual(self.server.get("/alice/tmp")[0], 404)
        self.assertEqual(list(self.server.get("/alice")[1]["result"]["indexes"]), ["dev"])

    def test_a_wrong_password_fails_with_401(self) -> None:
        self.assertEqual(self.server.put("/alice", {"password": "secret"}), 201)
        result = self.devpi("login", "alice", "--password", "wrong")
        self.assertNotEqual(result.returncode, 0, result.stdout)
        self.assertIn("401 Unauthorized: user 'alice' could not be authenticated", result.stdout)
        self.assertEqual(self.stored_tokens(), {})

    def test_a_non_root_user_cannot_delete_another_user(self) -> None:
        self.assertEqual(self.server.put("/alice", {"password": "secret"}), 201)
        self.assertEqual(self.server.put("/carol", {"password": "x"}), 201)
        self.login("alice", "secret")
        result = self.devpi("user", "--delete", "-y", "carol")
        self.assertNotEqual(result.returncode, 0, result.stdout)
        self.assertIn("403 Forbidden", result.stdout)
        self.assertEqual(self.server.get("/carol")[0], 200)
