"""End to end: pip and uv install from a server whose downloads redirect to presigned URLs of moto's S3."""

from __future__ import annotations

import os
import sys
from urllib.parse import urljoin

import requests

from tests.e2e.test_installers import UV, ServerTestCase
from tests.s3.moto import blob_store_args, shared_moto


class RedirectedServerTestCase(ServerTestCase):
    """A server whose files are in a new bucket, downloads answered with a 302 to it."""

    def setUp(self) -> None:
        moto = shared_moto()
        self.bucket = moto.new_bucket()
        self.endpoint = moto.endpoint_url
        self.server_args = (*blob_store_args(moto, self.bucket), "--blob-redirect")
        super().setUp()

    def assertFilesRedirect(self) -> None:
        """The chain's files are not sent by the server: it redirects to the bucket."""
        page_url = f"{self.server.url}/alice/dev/+simple/chain-a/"
        page = requests.get(page_url, headers={"Accept": "application/vnd.pypi.simple.v1+json"}).json()
        url = urljoin(page_url, page["files"][0]["url"])
        reply = requests.get(url, allow_redirects=False)
        self.assertEqual(reply.status_code, 302)
        self.assertTrue(reply.headers["location"].startswith(f"{self.endpoint}/{self.bucket}/"))


class PipRedirectTests(RedirectedServerTestCase):
    def test_pip_follows_the_redirects(self) -> None:
        self.upload_chain()
        self.assertFilesRedirect()
        python = self.venv("venv")
        self.run_ok(
            sys.executable, "-m", "pip", "--python", python,
            "--disable-pip-version-check", "--no-cache-dir", "--isolated",
            "install", "--index-url", f"{self.server.url}/alice/dev/+simple/", "chain-a",
        )
        self.assertChainInstalled(python)


class UvRedirectTests(RedirectedServerTestCase):
    if not os.path.exists(UV):
        skip = f"uv is not installed next to {sys.executable}"

    def test_uv_follows_the_redirects(self) -> None:
        self.upload_chain()
        self.assertFilesRedirect()
        python = self.venv("venv")
        self.run_ok(
            UV, "pip", "install", "--no-cache", "--python", python,
            "--index-url", f"{self.server.url}/alice/dev/+simple/", "chain-a",
        )
        self.assertChainInstalled(python)
