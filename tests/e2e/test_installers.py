"""End to end: twine uploads, pip and uv installs against a real `twistd -n devpi` process."""

from __future__ import annotations

import hashlib
import os
import sys
import time
from datetime import datetime, timezone

from twisted.trial.unittest import TestCase

from tests.dists.archives import make_sdist, make_wheel
from tests.e2e.support import (
    IndexApi,
    ServerProcess,
    fresh_venv,
    installed_versions,
    installer_environ,
    next_to_python,
    run,
)

TWINE = next_to_python("twine")
UV = next_to_python("uv")
PASSWORD = "secret"
ALICE = ("alice", PASSWORD)
#: chain-a requires chain-b, which requires chain-c
CHAIN = {"chain-a": ["chain-b"], "chain-b": ["chain-c>=1.0"], "chain-c": []}


def sha256_of(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class ServerTestCase(TestCase):
    """A fresh server with user alice and her non-volatile index alice/dev."""

    #: more options of the server
    server_args: tuple[str, ...] = ()

    def setUp(self) -> None:
        self.workdir = os.path.abspath(self.mktemp())
        self.dists = os.path.join(self.workdir, "dists")
        os.makedirs(os.path.join(self.workdir, "home"))
        self.server = ServerProcess(self.workdir, *self.server_args)
        self.addCleanup(self.server.stop)
        self.api = IndexApi(self.server.url)
        self.addCleanup(self.api.close)
        self.env = installer_environ(os.path.join(self.workdir, "home"))
        self.api.create_user("alice", PASSWORD)
        self.api.create_index("alice/dev", ALICE, volatile=False)

    def run_ok(self, *args: str) -> str:
        """Run a command, which must succeed; return its output."""
        result = run(args, self.env, self.workdir)
        self.assertEqual(
            result.returncode,
            0,
            f"{' '.join(args)} failed:\n{result.stdout}\nserver log:\n{self.server.log()}",
        )
        return result.stdout

    def upload_chain(self, index: str = "alice/dev") -> None:
        """Upload chain-a, chain-b and chain-c 1.0 as wheels to C{index}."""
        for name, requires in CHAIN.items():
            wheel = make_wheel(self.dists, name, "1.0", requires_dist=requires)
            self.api.upload_ok(index, wheel, ALICE)

    def venv(self, name: str) -> str:
        """A fresh, empty virtual environment; its python."""
        return fresh_venv(os.path.join(self.workdir, name))

    def assertChainInstalled(self, python: str) -> None:
        self.assertEqual(
            installed_versions(python),
            {"chain-a": "1.0", "chain-b": "1.0", "chain-c": "1.0"},
        )


class TwineTests(ServerTestCase):
    """twine uploads through devpi's legacy upload form."""

    if not os.path.exists(TWINE):
        skip = f"twine is not installed next to {sys.executable}"

    def twine(self, password: str, *paths: str) -> tuple[int, str]:
        """C{twine upload} of C{paths} to alice/dev as alice; exit code and output."""
        result = run(
            [
                TWINE, "upload", "--non-interactive", "--disable-progress-bar",
                "--repository-url", f"{self.server.url}/alice/dev/",
                "-u", "alice", "-p", password, *paths,
            ],
            self.env,
            self.workdir,
        )
        return result.returncode, result.stdout

    def twine_ok(self, password: str, *paths: str) -> str:
        code, output = self.twine(password, *paths)
        self.assertEqual(code, 0, f"twine failed:\n{output}\nserver log:\n{self.server.log()}")
        return output

    def hello_files(self) -> list[str]:
        return [
            make_wheel(self.dists, "hello-pkg", "1.0", ">=3.8", summary="Hello from twine"),
            make_sdist(self.dists, "hello-pkg", "1.0", ">=3.8", summary="Hello from twine"),
        ]

    def test_upload_wheel_and_sdist(self) -> None:
        self.twine_ok(PASSWORD, *self.hello_files())
        page = self.api.project_page("alice/dev", "hello-pkg")
        self.assertEqual(
            sorted(f["filename"] for f in page["files"]),
            ["hello_pkg-1.0-py3-none-any.whl", "hello_pkg-1.0.tar.gz"],
        )
        self.assertEqual({f["requires-python"] for f in page["files"]}, {">=3.8"})
        version = self.api.ok("GET", "/alice/dev/hello-pkg/1.0")["result"]
        # twine sends the wheel's metadata as form fields
        self.assertEqual(version["summary"], "Hello from twine")

    def test_identical_reupload_to_non_volatile_index_succeeds(self) -> None:
        files = self.hello_files()
        self.twine_ok(PASSWORD, *files)
        self.twine_ok(PASSWORD, *files)
        self.assertEqual(len(self.api.project_page("alice/dev", "hello-pkg")["files"]), 2)

    def test_different_file_with_the_same_name_is_a_conflict(self) -> None:
        original = make_wheel(self.dists, "hello-pkg", "1.0")
        self.twine_ok(PASSWORD, original)
        other = make_wheel(
            os.path.join(self.workdir, "other"), "hello-pkg", "1.0", summary="changed"
        )
        code, output = self.twine(PASSWORD, other)
        self.assertNotEqual(code, 0, output)
        self.assertIn("409", output)
        self.assertIn("already exists in non-volatile index", output)
        [stored] = self.api.project_page("alice/dev", "hello-pkg")["files"]
        self.assertEqual(stored["hashes"]["sha256"], sha256_of(original))

    def test_login_token_as_password(self) -> None:
        token = self.api.login("alice", PASSWORD)
        self.twine_ok(token, make_wheel(self.dists, "hello-pkg", "1.0"))
        self.assertEqual(
            [f["filename"] for f in self.api.project_page("alice/dev", "hello-pkg")["files"]],
            ["hello_pkg-1.0-py3-none-any.whl"],
        )

    def test_wrong_password_is_refused(self) -> None:
        code, output = self.twine("wrong", make_wheel(self.dists, "hello-pkg", "1.0"))
        self.assertNotEqual(code, 0, output)
        self.assertIn("401", output)
        self.assertEqual(self.api.request("GET", "/alice/dev/hello-pkg").status_code, 404)


class PipTests(ServerTestCase):
    """pip resolves a chain of dependencies from the index."""

    def pip_install(self, python: str, index_url: str, *requirements: str) -> str:
        return self.run_ok(
            sys.executable, "-m", "pip", "--python", python,
            "--disable-pip-version-check", "--no-cache-dir", "--isolated",
            "install", "--index-url", index_url, *requirements,
        )

    def test_install_a_dependency_chain_from_simple(self) -> None:
        self.upload_chain()
        python = self.venv("venv")
        self.pip_install(python, f"{self.server.url}/alice/dev/+simple/", "chain-a")
        self.assertChainInstalled(python)

    def test_install_a_dependency_chain_from_the_index_root(self) -> None:
        self.upload_chain()
        python = self.venv("venv")
        self.pip_install(python, f"{self.server.url}/alice/dev/", "chain-a")
        self.assertChainInstalled(python)

    def test_install_through_a_child_index(self) -> None:
        self.upload_chain()
        self.api.create_index("alice/child", ALICE, bases=["alice/dev"])
        python = self.venv("venv")
        self.pip_install(python, f"{self.server.url}/alice/child/+simple/", "chain-a")
        self.assertChainInstalled(python)

    def test_a_missing_dependency_fails_the_install(self) -> None:
        for name in ("chain-a", "chain-b"):
            self.api.upload_ok(
                "alice/dev", make_wheel(self.dists, name, "1.0", requires_dist=CHAIN[name]), ALICE
            )
        python = self.venv("venv")
        result = run(
            [sys.executable, "-m", "pip", "--python", python, "--disable-pip-version-check",
             "--no-cache-dir", "--isolated", "install",
             "--index-url", f"{self.server.url}/alice/dev/+simple/", "chain-a"],
            self.env,
            self.workdir,
        )
        self.assertNotEqual(result.returncode, 0, result.stdout)
        self.assertIn("chain-c", result.stdout)
        self.assertEqual(installed_versions(python), {})


class UvTests(ServerTestCase):
    """uv resolves from the index, at +simple/ and at the index root, honouring upload times."""

    if not os.path.exists(UV):
        skip = f"uv is not installed next to {sys.executable}"

    def uv_install(self, python: str, *args: str) -> str:
        return self.run_ok(
            UV, "pip", "install", "--no-cache", "--python", python, *args
        )

    def test_install_a_dependency_chain_from_simple(self) -> None:
        self.upload_chain()
        python = self.venv("venv")
        self.uv_install(python, "--index-url", f"{self.server.url}/alice/dev/+simple/", "chain-a")
        self.assertChainInstalled(python)

    def test_install_a_dependency_chain_from_the_index_root(self) -> None:
        self.upload_chain()
        python = self.venv("venv")
        self.uv_install(python, "--index-url", f"{self.server.url}/alice/dev/", "chain-a")
        self.assertChainInstalled(python)

    def test_exclude_newer_picks_the_version_uploaded_before(self) -> None:
        self.api.upload_ok("alice/dev", make_wheel(self.dists, "timed-pkg", "1.0"), ALICE)
        time.sleep(1.1)
        # a whole second, after the upload of 1.0 and before that of 2.0
        cutoff = datetime.fromtimestamp(int(time.time()), timezone.utc)
        self.api.upload_ok("alice/dev", make_wheel(self.dists, "timed-pkg", "2.0"), ALICE)

        index_url = f"{self.server.url}/alice/dev/+simple/"
        older = self.venv("older")
        self.uv_install(
            older, "--index-url", index_url,
            "--exclude-newer", cutoff.strftime("%Y-%m-%dT%H:%M:%SZ"), "timed-pkg",
        )
        self.assertEqual(installed_versions(older), {"timed-pkg": "1.0"})

        newest = self.venv("newest")
        self.uv_install(newest, "--index-url", index_url, "timed-pkg")
        self.assertEqual(installed_versions(newest), {"timed-pkg": "2.0"})
