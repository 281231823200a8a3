"""End to end: pip and uv resolve through a mirror from core metadata the upstream never offered."""

from __future__ import annotations

import os
import sys

from twisted.trial.unittest import SkipTest

from tests.dists.archives import make_wheel
from tests.e2e.support import installed_versions
from tests.e2e.test_mirror_install import UV, MirrorInstallCase, blocking
from tests.mirror.fake_upstream import FakeFile

#: projects app needs; each one's two newest versions need shared>=2, app needs shared<2
NEEDED = [f"lib-{i:02d}" for i in range(1, 6)]
#: each wheel carries this much incompressible payload
PAYLOAD = 512 * 1024


class MetadataFirstInstallTests(MirrorInstallCase):
    """
    An upstream without PEP 658 metadata whose newest versions conflict, so
    that the resolver must look at (and reject) two versions of each project.
    """

    async def setUp(self) -> None:
        await super().setUp()
        self.rejected: list[FakeFile] = []
        self.add_upstream_wheel("shared", [])
        self.upstream.add_file("shared", self.wheel("shared", "2.0", []))
        self.add_upstream_wheel("app", [*NEEDED, "shared<2"])
        for name in NEEDED:
            self.upstream.add_project(name, [self.wheel(name, "1.0", [])])
            for version in ("2.0", "3.0"):
                self.rejected.append(self.upstream.add_file(name, self.wheel(name, version, ["shared>=2"])))

    def wheel(self, name: str, version: str, requires: list[str]) -> FakeFile:
        payload = {f"{name.replace('-', '_')}/payload.bin": os.urandom(PAYLOAD)}
        path = make_wheel(self.dists, name, version, requires_dist=requires, extra_files=payload)
        return FakeFile.from_path(path)

    def fetched_whole(self) -> set[str]:
        """The files upstream sent in full (a GET without Range)."""
        return {
            request.path.rsplit("/", 1)[-1]
            for request in self.upstream.requests
            if request.path.startswith("/files/") and request.header("range") is None
        }

    def assertInstalledOnlyWhatFits(self, python: str) -> None:
        expected = {"app": "1.0", "shared": "1.0", **{name: "1.0" for name in NEEDED}}
        self.assertEqual(installed_versions(python), expected)

    async def test_pip_reads_rejected_versions_metadata_without_their_wheels(self) -> None:
        python = self.venv("venv")
        await self.pip_install(python, f"{self.server.url}/root/up/+simple/", "app")
        self.assertInstalledOnlyWhatFits(python)
        self.assertEqual(self.fetched_whole() & {f.filename for f in self.rejected}, set())

    async def test_uv_reads_rejected_versions_metadata_without_their_wheels(self) -> None:
        if not os.path.exists(UV):
            raise SkipTest(f"uv is not installed next to {sys.executable}")
        python = self.venv("venv")
        await self.uv_install(python, f"{self.server.url}/root/up/+simple/", "app")
        self.assertInstalledOnlyWhatFits(python)
        self.assertEqual(self.fetched_whole() & {f.filename for f in self.rejected}, set())

    async def test_pip_and_uv_install_from_an_upstream_refusing_range(self) -> None:
        self.upstream.serve_ranges = False
        python = self.venv("pip")
        await self.pip_install(python, f"{self.server.url}/root/up/+simple/", "app")
        self.assertInstalledOnlyWhatFits(python)
        # every wheel looked at came whole once (the first after one refused Range) and was kept
        whole = [r.path for r in self.upstream.requests if r.path.startswith("/files/") and r.header("range") is None]
        self.assertEqual(sorted(whole), sorted(set(whole)))
        self.assertEqual(len([r for r in self.upstream.requests if r.header("range")]), 1)
        if os.path.exists(UV):
            before = len(self.upstream.requests)
            python = self.venv("uv")
            await self.uv_install(python, f"{self.server.url}/root/up/+simple/", "app")
            self.assertInstalledOnlyWhatFits(python)
            self.assertEqual(self.upstream.requests[before:], [])


class SupplyChainPagesInstallTests(MirrorInstallCase):
    """Pages carrying PEP 740/792/708 data (API 1.4) still install with pip and uv."""

    async def test_pip_and_uv_install_an_archived_project_with_provenance(self) -> None:
        path = make_wheel(self.dists, "old-pkg", "1.0")
        wheel = FakeFile.from_path(path, provenance="https://integrity.example/old-pkg/provenance")
        self.upstream.add_project("old-pkg", [wheel], status="archived")
        page = await self.ok("GET", "/root/up/+simple/old-pkg/", headers={"Accept": "application/vnd.pypi.simple.v1+json"})
        self.assertEqual(page["meta"]["api-version"], "1.4")
        python = self.venv("pip")
        await self.pip_install(python, f"{self.server.url}/root/up/+simple/", "old-pkg")
        self.assertEqual(installed_versions(python), {"old-pkg": "1.0"})
        if not os.path.exists(UV):
            raise SkipTest(f"uv is not installed next to {sys.executable}")
        python = self.venv("uv")
        await self.uv_install(python, f"{self.server.url}/root/up/+simple/", "old-pkg")
        self.assertEqual(installed_versions(python), {"old-pkg": "1.0"})


class MergeRefusalInstallTests(MirrorInstallCase):
    """Dependency confusion: upstream publishes a higher version of a name a stage holds."""

    async def test_a_named_only_index_installs_its_own_version_a_named_merge_the_newest(self) -> None:
        self.upstream.add_project("internal-lib", [FakeFile.from_path(make_wheel(self.dists, "internal-lib", "99.0"))])
        await self.ok("PUT", "/alice", {"password": "secret", "email": "alice@example.com"})
        alice = ("alice", "secret")
        star = {"bases": ["root/up"], "mirror_whitelist": ["*"], "mirror_merge_named_only": True}
        await self.ok("PUT", "/alice/guarded", star, auth=alice)
        await self.ok("PUT", "/alice/merged", {"bases": ["root/up"], "mirror_whitelist": ["internal-lib"]}, auth=alice)
        own = make_wheel(os.path.join(self.dists, "own"), "internal-lib", "1.0")
        for index in ("alice/guarded", "alice/merged"):
            await blocking(self.api.upload_ok, index, own, alice)
        for index, expected in (("alice/guarded", "1.0"), ("alice/merged", "99.0")):
            python = self.venv(index.replace("/", "-"))
            await self.pip_install(python, f"{self.server.url}/{index}/+simple/", "internal-lib")
            self.assertEqual(installed_versions(python), {"internal-lib": expected})
            if os.path.exists(UV):
                python = self.venv(index.replace("/", "-") + "-uv")
                await self.uv_install(python, f"{self.server.url}/{index}/+simple/", "internal-lib")
                self.assertEqual(installed_versions(python), {"internal-lib": expected})
