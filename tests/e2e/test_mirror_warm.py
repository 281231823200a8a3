"""End to end: `devpi-twisted mirror warm` fills a mirror from requirements and lock files; offline, pip and uv install from it."""

from __future__ import annotations

import os
import sys

from tests.e2e.support import installed_versions, next_to_python
from tests.e2e.test_mirror_install import CHAIN, UV, MirrorInstallCase, run_in_reactor

DEVPI_TWISTED = next_to_python("devpi-twisted")

UV_LOCK = """\
version = 1
requires-python = ">=3.8"

[[package]]
name = "locked-uv"
version = "1.0"
source = {{ registry = "https://pypi.org/simple" }}
wheels = [
    {{ url = "https://files.example/locked_uv-1.0-py3-none-any.whl", hash = "sha256:{sha}" }},
]
"""

PYLOCK = """\
lock-version = "1.0"
created-by = "test"

[[packages]]
name = "locked-pylock"
version = "1.0"
wheels = [
    {{ name = "locked_pylock-1.0-py3-none-any.whl", url = "https://files.example/x.whl", hashes = {{ sha256 = "{sha}" }} }},
]
"""


class WarmTests(MirrorInstallCase):
    async def warm(self, *sources: str) -> str:
        args = [DEVPI_TWISTED, "mirror", "warm", "--url", self.server.url, "root/up", *sources]
        code, output = await run_in_reactor(args, self.env, self.workdir)
        self.assertEqual(code, 0, output)
        return output

    def write(self, name: str, text: str) -> str:
        path = os.path.join(self.workdir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    async def test_warmed_requirements_and_lock_files_install_offline_with_pip_and_uv(self) -> None:
        self.add_upstream_chain()
        uv_file = self.add_upstream_wheel("locked-uv", [])
        pylock_file = self.add_upstream_wheel("locked-pylock", [])
        self.add_upstream_wheel("plain-name", [])
        self.add_upstream_wheel("never-asked", [])
        requirements = self.write("requirements.txt", "# the app\npkg-01>=1.0  # the chain\n")
        uv_lock = self.write("uv.lock", UV_LOCK.format(sha=uv_file.sha256))
        pylock = self.write("pylock.toml", PYLOCK.format(sha=pylock_file.sha256))
        output = await self.warm(requirements, uv_lock, pylock, "plain-name")
        self.assertIn("23 files cached in root/up", output)
        self.assertIn("[##############################] 23/23 files", output)
        self.assertNotIn("/simple/never-asked/", self.upstream_paths())

        await self.upstream.down()
        self.restart_server("--offline-mode", logname="offline.log")
        index = f"{self.server.url}/root/up/+simple/"
        python = self.venv("pip")
        await self.pip_install(python, index, "pkg-01", "locked-uv", "locked-pylock", "plain-name")
        expected = {name: "1.0" for name in [*CHAIN, "locked-uv", "locked-pylock", "plain-name"]}
        self.assertEqual(installed_versions(python), expected)
        if os.path.exists(UV):
            python = self.venv("uv")
            await self.uv_install(python, index, "pkg-01", "plain-name")
            self.assertEqual(
                installed_versions(python), {name: "1.0" for name in [*CHAIN, "plain-name"]}
            )

    async def test_what_cannot_be_had_is_named_and_fails_the_command(self) -> None:
        self.add_upstream_wheel("there", [])
        args = [DEVPI_TWISTED, "mirror", "warm", "--url", self.server.url, "root/up", "there", "not-there"]
        code, output = await run_in_reactor(args, self.env, self.workdir)
        self.assertEqual(code, 1, output)
        self.assertIn("not-there", output)
        self.assertIn("1 files cached in root/up", output)
