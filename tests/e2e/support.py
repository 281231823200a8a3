"""Helpers for end-to-end tests that drive installers and uploaders against a real server."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from typing import Any, Optional, Sequence

import requests

from tests.e2e.test_devpi_client import COMMAND_TIMEOUT, ServerProcess, clean_environ

__all__ = [
    "COMMAND_TIMEOUT",
    "IndexApi",
    "ServerProcess",
    "fresh_venv",
    "installed_versions",
    "installer_environ",
    "next_to_python",
    "run",
]

#: how long one pip, uv or twine run may take
INSTALL_TIMEOUT = 120.0


def next_to_python(command: str) -> str:
    """The path of C{command} installed beside this test run's interpreter."""
    return os.path.join(os.path.dirname(sys.executable), command)


def installer_environ(home: str) -> dict[str, str]:
    """
    An environment for pip, uv and twine that knows no index but the ones
    given on the command line: no PIP_*/UV_* variables, no configuration
    files, no proxy, and C{home} as the home directory.
    """
    env = {
        name: value
        for name, value in clean_environ(HOME=home).items()
        if not name.upper().startswith(("UV_", "XDG_", "TWINE_", "PYTHON"))
    }
    env["PIP_CONFIG_FILE"] = os.devnull
    env["UV_NO_CONFIG"] = "1"
    return env


def run(args: Sequence[str], env: dict[str, str], cwd: str) -> subprocess.CompletedProcess[str]:
    """Run C{args}; its output is stdout and stderr together."""
    return subprocess.run(
        list(args),
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=INSTALL_TIMEOUT,
    )


def fresh_venv(path: str) -> str:
    """Create an empty virtual environment (no pip in it); return its python."""
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", path],
        check=True,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=COMMAND_TIMEOUT,
    )
    return os.path.join(path, "bin", "python")


def installed_versions(python: str) -> dict[str, str]:
    """The distributions installed in C{python}'s environment: normalized name -> version."""
    script = (
        "import importlib.metadata as m, json, re;"
        "print(json.dumps({re.sub(r'[-_.]+', '-', d.metadata['Name']).lower(): d.version"
        " for d in m.distributions()}))"
    )
    output = subprocess.run(
        [python, "-I", "-c", script],
        check=True,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
    ).stdout
    return dict(json.loads(output))


class IndexApi:
    """devpi's JSON API and upload form, spoken with requests (no proxy)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.headers["Accept"] = "application/json"

    def close(self) -> None:
        self.session.close()

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        auth: Optional[tuple[str, str]] = None,
        **kwargs: Any,
    ) -> requests.Response:
        """C{method path} with a JSON C{body}, as C{auth} (user, password) if given."""
        headers = dict(kwargs.pop("headers", {}))
        if auth is not None:
            pair = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            headers["Authorization"] = f"Basic {pair}"
        if body is not None:
            kwargs["json"] = body
        return self.session.request(
            method, self.url + path, headers=headers, timeout=COMMAND_TIMEOUT, **kwargs
        )

    def ok(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        """Like L{request}, which must answer 2xx; the decoded JSON body (or None)."""
        response = self.request(method, path, body, **kwargs)
        if not 200 <= response.status_code < 300:
            raise AssertionError(
                f"{method} {path} answered {response.status_code} {response.reason}:\n"
                f"{response.text}"
            )
        return response.json() if response.content else None

    def create_user(self, username: str, password: str) -> None:
        self.ok("PUT", f"/{username}", {"password": password, "email": f"{username}@example.com"})

    def login(self, username: str, password: str) -> str:
        """A devpi login token for C{username} (POST /+login)."""
        reply = self.ok("POST", "/+login", {"user": username, "password": password})
        return str(reply["result"]["password"])

    def create_index(self, name: str, auth: tuple[str, str], **config: Any) -> None:
        self.ok("PUT", f"/{name}", config, auth=auth)

    def upload(
        self, index: str, path: str, auth: tuple[str, str], **fields: str
    ) -> requests.Response:
        """POST C{path} to C{index} as devpi-client and twine do (legacy upload form)."""
        name, version = _name_version(os.path.basename(path))
        data = {
            ":action": "file_upload",
            "protocol_version": "1",
            "name": name,
            "version": version,
            **fields,
        }
        with open(path, "rb") as content:
            return self.request(
                "POST",
                f"/{index}/",
                auth=auth,
                data=data,
                files={"content": (os.path.basename(path), content)},
            )

    def upload_ok(self, index: str, path: str, auth: tuple[str, str], **fields: str) -> None:
        response = self.upload(index, path, auth, **fields)
        if response.status_code != 200:
            raise AssertionError(
                f"upload of {path} answered {response.status_code} {response.reason}"
            )

    def project_page(self, index: str, project: str) -> dict[str, Any]:
        """The PEP 691 JSON simple page of C{project} on C{index}."""
        response = self.request(
            "GET",
            f"/{index}/+simple/{project}/",
            headers={"Accept": "application/vnd.pypi.simple.v1+json"},
        )
        if response.status_code != 200:
            raise AssertionError(f"simple page of {project}: {response.status_code}")
        return dict(response.json())


def _name_version(filename: str) -> tuple[str, str]:
    """Name and version of a wheel or sdist made by L{tests.dists.archives}."""
    for suffix in ("-py3-none-any.whl", ".tar.gz", ".tar.bz2", ".zip"):
        if filename.endswith(suffix):
            name, version = filename[: -len(suffix)].rsplit("-", 1)
            return name, version
    raise ValueError(f"not an archive name: {filename}")
