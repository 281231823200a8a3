"""End to end: devpi-client uploads, lists, pushes and removes, and tox results, on a real server."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from typing import Any

from twisted.trial.unittest import TestCase

from tests.dists.archives import make_doc_zip, make_sdist, make_wheel
from tests.e2e.support import (
    IndexApi,
    ServerProcess,
    fresh_venv,
    installed_versions,
    installer_environ,
    next_to_python,
    run,
)

DEVPI = next_to_python("devpi")
PASSWORD = "secret"

#: what `tox --result-json` writes and `devpi test` posts, cut down
TOX_REPORT = {
    "reportversion": "1",
    "toxversion": "4.11.0",
    "platform": "linux",
    "host": "builder",
    "testenvs": {
        "py311": {
            "test": [{"command": ["pytest"], "retcode": 0, "output": "1 passed"}],
            "python": {"version": "3.11.7", "executable": "/usr/bin/python3.11"},
        }
    },
}


def sha256_of(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class DevpiUploadTests(TestCase):
    """devpi-client, logged in as alice and using her volatile index alice/dev."""

    if not os.path.exists(DEVPI):
        skip = f"devpi-client's `devpi` command is not installed next to {sys.executable}"

    def setUp(self) -> None:
        self.workdir = os.path.abspath(self.mktemp())
        os.makedirs(os.path.join(self.workdir, "home"))
        self.server = ServerProcess(self.workdir)
        self.addCleanup(self.server.stop)
        self.api = IndexApi(self.server.url)
        self.addCleanup(self.api.close)
        self.env = installer_environ(os.path.join(self.workdir, "home"))
        self.env["DEVPI_CLIENTDIR"] = os.path.join(self.workdir, "client")
        self.api.create_user("alice", PASSWORD)
        self.devpi_ok("use", self.server.url)
        self.devpi_ok("login", "alice", "--password", PASSWORD)
        self.devpi_ok("index", "-c", "dev", "volatile=True")
        self.devpi_ok("use", "alice/dev")

    def devpi(self, *args: str) -> tuple[int, str]:
        """Run C{devpi ARGS}; its exit code and output."""
        result = run([DEVPI, *args], self.env, self.workdir)
        return result.returncode, result.stdout

    def devpi_ok(self, *args: str) -> str:
        """Run C{devpi ARGS}, which must succeed, and return its output."""
        code, output = self.devpi(*args)
        self.assertEqual(
            code,
            0,
            f"devpi {' '.join(args)} failed:\n{output}\nserver log:\n{self.server.log()}",
        )
        return output

    def release_files(self, version: str) -> list[str]:
        """A wheel and an sdist of hello-pkg C{version}, alone in a fresh directory."""
        directory = os.path.join(self.workdir, f"dist-{version}")
        return [
            make_wheel(directory, "hello-pkg", version, ">=3.8", summary="Hello from devpi"),
            make_sdist(directory, "hello-pkg", version, ">=3.8", summary="Hello from devpi"),
        ]

    def upload(self, version: str) -> list[str]:
        """Upload C{release_files(version)} with C{devpi upload --from-dir}."""
        files = self.release_files(version)
        self.devpi_ok("upload", "--from-dir", os.path.dirname(files[0]))
        return files

    def file_url(self, index: str, path: str) -> str:
        """The +f URL devpi gives the release file at C{path} on C{index}."""
        sha256 = sha256_of(path)
        name = os.path.basename(path)
        return f"{self.server.url}/{index}/+f/{sha256[:3]}/{sha256[3:16]}/{name}"

    def getjson(self, path: str) -> Any:
        return json.loads(self.devpi_ok("getjson", path))

    def simple_filenames(self, index: str) -> list[str]:
        page = self.api.project_page(index, "hello-pkg")
        return sorted(f["filename"] for f in page["files"])

    def test_upload_from_dir_uploads_the_wheel_and_the_sdist(self) -> None:
        files = self.release_files("1.0")
        output = self.devpi_ok("upload", "--from-dir", os.path.dirname(files[0]))
        for path in files:
            self.assertIn(
                f"file_upload of {os.path.basename(path)} to {self.server.url}/alice/dev/",
                output,
            )
        self.assertEqual(
            self.simple_filenames("alice/dev"),
            ["hello_pkg-1.0-py3-none-any.whl", "hello_pkg-1.0.tar.gz"],
        )

    def test_list_prints_the_file_urls(self) -> None:
        files = self.upload("1.0")
        output = self.devpi_ok("list", "hello-pkg")
        self.assertEqual(
            sorted(output.split()), sorted(self.file_url("alice/dev", path) for path in files)
        )

    def test_getjson_shows_the_uploaded_metadata_and_links(self) -> None:
        files = self.upload("1.0")
        project = self.getjson("/alice/dev/hello-pkg")
        self.assertEqual(project["type"], "projectconfig")
        version = project["result"]["1.0"]
        self.assertEqual(
            (version["name"], version["summary"], version["requires_python"]),
            ("hello-pkg", "Hello from devpi", ">=3.8"),
        )
        self.assertEqual(
            sorted((link["rel"], link["href"]) for link in version["+links"]),
            sorted(("releasefile", self.file_url("alice/dev", path)) for path in files),
        )

    def test_uploaded_doc_zip_is_served_under_doc(self) -> None:
        self.upload("1.0")
        # devpi-client uploads a zip named NAME-VERSION.doc.zip as docs, no build needed
        doczip = make_doc_zip(
            os.path.join(self.workdir, "docs"),
            {"index.html": b"<p>Hello docs</p>", "api/module.html": b"<p>API</p>"},
            filename="hello_pkg-1.0.doc.zip",
        )
        output = self.devpi_ok("upload", doczip)
        self.assertIn(
            f"doc_upload of hello_pkg-1.0.doc.zip to {self.server.url}/alice/dev/", output
        )

        pages = [("index.html", b"<p>Hello docs</p>"), ("api/module.html", b"<p>API</p>")]
        for member, content in pages:
            response = self.api.request("GET", f"/alice/dev/hello-pkg/1.0/+doc/{member}")
            self.assertEqual((response.status_code, response.content), (200, content))
            self.assertEqual(response.headers["Content-Type"].split(";")[0], "text/html")
        links = self.getjson("/alice/dev/hello-pkg/1.0")["result"]["+links"]
        self.assertEqual([link["rel"] for link in links].count("doczip"), 1)

    def test_push_to_a_non_volatile_index_then_pip_installs_from_it(self) -> None:
        files = self.upload("1.0")
        self.devpi_ok("index", "-c", "prod", "volatile=False")
        output = self.devpi_ok("push", "hello-pkg==1.0", "alice/prod")
        self.assertIn("200 register hello-pkg 1.0 -> alice/prod", output)
        for path in files:
            relpath = self.file_url("alice/prod", path)[len(self.server.url) + 1 :]
            self.assertIn(f"200 store_releasefile {relpath}", output)
        self.assertIs(self.getjson("/alice/prod")["result"]["volatile"], False)

        python = fresh_venv(os.path.join(self.workdir, "venv"))
        result = run(
            [sys.executable, "-m", "pip", "--python", python, "--disable-pip-version-check",
             "--no-cache-dir", "--isolated", "install",
             "--index-url", f"{self.server.url}/alice/prod/+simple/", "hello-pkg"],
            self.env,
            self.workdir,
        )
        self.assertEqual(result.returncode, 0, result.stdout)
        self.assertEqual(installed_versions(python), {"hello-pkg": "1.0"})

    def test_remove_a_version_from_a_volatile_index(self) -> None:
        self.upload("1.0")
        newer = self.upload("1.1")
        output = self.devpi_ok("remove", "-y", "hello-pkg==1.0")
        self.assertIn("deleting release 1.0 of hello-pkg", output)
        self.assertEqual(
            self.simple_filenames("alice/dev"),
            ["hello_pkg-1.1-py3-none-any.whl", "hello_pkg-1.1.tar.gz"],
        )
        self.assertEqual(list(self.getjson("/alice/dev/hello-pkg")["result"]), ["1.1"])
        self.assertEqual(
            sorted(self.devpi_ok("list", "--all", "hello-pkg").split()),
            sorted(self.file_url("alice/dev", path) for path in newer),
        )

    def test_remove_from_a_non_volatile_index_is_refused(self) -> None:
        self.devpi_ok("index", "-c", "prod", "volatile=False")
        self.devpi_ok("upload", "--index", "alice/prod", *self.release_files("1.0"))
        code, output = self.devpi("remove", "-y", "--index", "alice/prod", "hello-pkg==1.0")
        self.assertNotEqual(code, 0, output)
        self.assertIn("403 Forbidden", output)
        self.assertEqual(
            self.simple_filenames("alice/prod"),
            ["hello_pkg-1.0-py3-none-any.whl", "hello_pkg-1.0.tar.gz"],
        )

    def test_posted_tox_result_is_linked_to_its_release_file(self) -> None:
        wheel = self.upload("1.0")[0]
        href = self.file_url("alice/dev", wheel)
        # what `devpi test` does after running tox: POST the JSON report to the file's URL
        response = self.api.request(
            "POST", href[len(self.server.url) :], TOX_REPORT,
            headers={"Content-Type": "application/json"},
        )
        self.assertEqual(response.status_code, 200, response.text)
        self.assertEqual(response.json()["type"], "toxresultpath")

        links = self.getjson("/alice/dev/hello-pkg")["result"]["1.0"]["+links"]
        [toxresult] = [link for link in links if link["rel"] == "toxresult"]
        self.assertEqual(toxresult["for_href"], href)
        self.assertTrue(toxresult["href"].startswith(href + ".toxresult-"), toxresult["href"])
        stored = self.api.request(
            "GET", toxresult["href"][len(self.server.url) :], headers={"Accept": "*/*"}
        )
        self.assertEqual(json.loads(stored.content), TOX_REPORT)
