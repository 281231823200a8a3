"""devpi test's tox result upload: a JSON POST to a release file's +f/ URL."""

from __future__ import annotations

import hashlib
import time
from typing import Any, Optional

from twisted.trial.unittest import TestCase

from tests.dists.archives import make_doc_zip, make_wheel
from tests.support import MemoryServer, Reply
from tests.web.forms import snapshot, upload, upload_docs

HOST = "http://devpi.test"
REPORT = b'{"reportversion": "1", "toxversion": "4.0", "testenvs": {"py311": {"test": []}}}'
NO_PERMISSION = (
    "No permission to upload tox results. You can use the devpi test "
    "--no-upload option to skip the upload."
)


class ToxResultTestCase(TestCase):
    """alice/dev with hello-pkg 1.0: a wheel and a doc zip."""

    def setUp(self) -> None:
        self.server = MemoryServer(self.mktemp())
        self.addCleanup(self.server.close)
        self.alice = self.server.create_user("alice")
        reply = self.server.request("PUT", "/alice/dev", {}, headers=self.alice)
        self.assertEqual(reply.code, 200, reply)
        base = self.mktemp()
        wheel = make_wheel(base, "hello-pkg", "1.0")
        self.assertEqual(upload(self.server, "alice/dev", wheel, self.alice).code, 200)
        docs = make_doc_zip(base, {"index.html": b"docs"})
        reply = upload_docs(self.server, "alice/dev", docs, self.alice, "hello-pkg", "1.0")
        self.assertEqual(reply.code, 200, reply)
        [self.wheel_href] = [link["href"] for link in self.links("releasefile")]
        [self.doczip_href] = [link["href"] for link in self.links("doczip")]
        self.wheel_relpath = self.wheel_href[len(HOST) + 1:]

    def links(self, rel: str) -> list[dict[str, Any]]:
        reply = self.server.request("GET", "/alice/dev/hello-pkg/1.0")
        self.assertEqual(reply.code, 200, reply)
        return [link for link in reply.json["result"]["+links"] if link["rel"] == rel]

    def post(
        self,
        href: Optional[str] = None,
        body: bytes = REPORT,
        auth: Optional[dict[str, str]] = None,
    ) -> Reply:
        """POST a tox report as devpi-client does (JSON in and out)."""
        headers = {"Content-Type": "application/json", **(auth or {})}
        path = (href or self.wheel_href)[len(HOST):]
        return self.server.request("POST", path, data=body, headers=headers)


class ToxResultTests(ToxResultTestCase):
    def test_anonymous_upload_is_stored_and_answered_with_its_path(self) -> None:
        stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime(self.server.clock.seconds()))
        reply = self.post()
        self.assertEqual(reply.code, 200, reply)
        self.assertEqual(reply.json["type"], "toxresultpath")
        digest = hashlib.sha256(REPORT).hexdigest()
        self.assertEqual(
            reply.json["result"], f"{self.wheel_relpath}.toxresult-{stamp}-0#sha256={digest}"
        )

    def test_toxresult_is_listed_under_the_release(self) -> None:
        reply = self.post()
        self.assertEqual(reply.code, 200, reply)
        [link] = self.links("toxresult")
        relpath, _, spec = reply.json["result"].partition("#")
        self.assertEqual(link["href"], f"{HOST}/{relpath}")
        self.assertEqual(link["for_href"], self.wheel_href)
        self.assertEqual(link["hash_spec"], spec)
        [log] = link["log"]
        self.assertEqual((log["what"], log["who"], log["dst"]), ("upload", None, "alice/dev"))

    def test_stored_bytes_are_the_original_body(self) -> None:
        relpath = self.post().json["result"].partition("#")[0]
        reply = self.server.request("GET", "/" + relpath, accept_json=False)
        self.assertEqual(reply.code, 200, reply)
        self.assertEqual(reply.body, REPORT)

    def test_logged_in_user_is_recorded(self) -> None:
        self.assertEqual(self.post(auth=self.alice).code, 200)
        self.assertEqual(self.links("toxresult")[0]["log"][0]["who"], "alice")

    def test_second_result_gets_the_next_number(self) -> None:
        first = self.post().json["result"]
        second = self.post(body=b'{"second": true}').json["result"]
        self.assertIn(".toxresult-", second)
        self.assertTrue(first.partition("#")[0].endswith("-0"))
        self.assertTrue(second.partition("#")[0].endswith("-1"))
        self.assertEqual(len(self.links("toxresult")), 2)

    def test_each_upload_is_one_serial(self) -> None:
        serial = self.server.store.serial
        reply = self.post()
        self.assertEqual(self.server.store.serial, serial + 1)
        self.assertEqual(reply.header("x-devpi-serial"), str(serial + 1))


class ToxResultRefusalTests(ToxResultTestCase):
    """Every refusal leaves the store and the disk as they were."""

    def setUp(self) -> None:
        super().setUp()
        self.bob = self.server.create_user("bob")
        reply = self.server.request(
            "PATCH", "/alice/dev", ["acl_toxresult_upload=alice"], headers=self.alice
        )
        self.assertEqual(reply.code, 200, reply)
        self.before = snapshot(self.server)

    def assertError(self, reply: Reply, code: int, message: str) -> None:
        self.assertEqual(reply.code, code, reply)
        self.assertEqual(reply.json, {"message": message})
        self.assertEqual(snapshot(self.server), self.before)

    def test_user_not_in_acl_toxresult_upload_is_403(self) -> None:
        self.assertError(self.post(auth=self.bob), 403, NO_PERMISSION)

    def test_anonymous_is_401_when_restricted(self) -> None:
        reply = self.post()
        self.assertEqual(reply.code, 401, reply)
        self.assertTrue(reply.json["message"].startswith(NO_PERMISSION), reply)
        self.assertEqual(reply.header("www-authenticate"), 'Basic realm="pypi"')
        self.assertEqual(snapshot(self.server), self.before)

    def test_user_in_acl_toxresult_upload_may(self) -> None:
        self.assertEqual(self.post(auth=self.alice).code, 200)

    def test_invalid_json(self) -> None:
        self.assertError(
            self.post(body=b"{not json", auth=self.alice), 400, "Bad request: could not decode json"
        )

    def test_unknown_file(self) -> None:
        href = self.wheel_href.replace("hello_pkg-1.0", "hello_pkg-9.9")
        relpath = href[len(HOST) + 1:]
        reply = self.post(href, auth=self.alice)
        self.assertError(reply, 404, f"no release file found at {relpath}")

    def test_doczip_is_not_a_release_file(self) -> None:
        relpath = self.doczip_href[len(HOST) + 1:]
        self.assertError(
            self.post(self.doczip_href, auth=self.alice), 404, f"no release file found at {relpath}"
        )

    def test_mirror_index(self) -> None:
        reply = self.post(f"{HOST}/root/pypi/+f/abc/def/x-1.0.tar.gz", auth=self.alice)
        self.assertError(reply, 404, "cannot submit to mirror index")
