"""devpi push NAME==VERSION user/index: copying a release to another index of the same server."""

from __future__ import annotations

import hashlib
import os
from typing import Any

from twisted.trial.unittest import TestCase

from tests.dists.archives import make_doc_zip, make_sdist, make_wheel
from tests.support import MemoryServer, Reply
from tests.web.forms import disk_files, post_form, snapshot, upload, upload_docs

HOST = "http://devpi.test"
WHEEL = "hello_pkg-1.0-py3-none-any.whl"
SDIST = "hello_pkg-1.0.tar.gz"
TOXRESULT = b'{"reportversion": "1", "testenvs": {"py311": {}}}'
PEP691 = "application/vnd.pypi.simple.v1+json"


def sha256_of(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class PushTestCase(TestCase):
    """
    alice/dev holds hello-pkg 1.0 (wheel with a tox result, sdist, docs);
    alice/prod (non-volatile) and alice/stage (volatile) are empty; the clock
    moved on an hour since the uploads.
    """

    def setUp(self) -> None:
        self.server = MemoryServer(self.mktemp())
        self.addCleanup(self.server.close)
        self.alice = self.server.create_user("alice")
        for index, volatile in (("dev", True), ("prod", False), ("stage", True)):
            reply = self.server.request(
                "PUT", f"/alice/{index}", {"volatile": volatile}, headers=self.alice
            )
            self.assertEqual(reply.code, 200, reply)
        base = self.mktemp()
        self.wheel = make_wheel(base, "hello-pkg", "1.0", requires_python=">=3.8", summary="Hello")
        self.sdist = make_sdist(base, "hello-pkg", "1.0", requires_python=">=3.8", summary="Hello")
        self.docs = make_doc_zip(base, {"index.html": b"<p>docs</p>"})
        for path in (self.wheel, self.sdist):
            reply = upload(self.server, "alice/dev", path, self.alice)
            self.assertEqual(reply.code, 200, reply)
        reply = upload_docs(self.server, "alice/dev", self.docs, self.alice, "hello-pkg", "1.0")
        self.assertEqual(reply.code, 200, reply)
        reply = self.server.request(
            "POST", self.href(self.wheel)[len(HOST):], data=TOXRESULT,
            headers={"Content-Type": "application/json"},
        )
        self.assertEqual(reply.code, 200, reply)
        self.toxresult_relpath = reply.json["result"].split("#")[0]
        self.server.clock.advance(3600)

    def href(self, path: str, index: str = "alice/dev") -> str:
        digest = sha256_of(path)
        return f"{HOST}/{index}/+f/{digest[:3]}/{digest[3:16]}/{os.path.basename(path)}"

    def push(
        self, method: str = "PUSH", auth: Any = None, source: str = "alice/dev", **body: Any
    ) -> Reply:
        body = {"name": "hello-pkg", "version": "1.0", "targetindex": "alice/prod", **body}
        body = {key: value for key, value in body.items() if value is not None}
        headers = self.alice if auth is None else auth
        return self.server.request(method, f"/{source}", body, headers=headers)

    def version(self, index: str) -> dict[str, Any]:
        reply = self.server.request("GET", f"/{index}/hello-pkg/1.0")
        self.assertEqual(reply.code, 200, reply)
        result: dict[str, Any] = reply.json["result"]
        return result

    def links(self, index: str, rel: str) -> list[dict[str, Any]]:
        return [link for link in self.version(index)["+links"] if link["rel"] == rel]

    def get(self, href: str, **headers: str) -> Reply:
        return self.server.request("GET", href[len(HOST):], headers=headers, accept_json=False)

    def assertError(self, reply: Reply, code: int, message: str) -> None:
        self.assertEqual(reply.code, code, reply)
        self.assertEqual(reply.json, {"message": message})


class PushTests(PushTestCase):
    def test_push_reply_is_devpis_actionlog(self) -> None:
        reply = self.push()
        self.assertEqual(reply.code, 200, reply)
        self.assertEqual(reply.json["type"], "actionlog")
        wheel = self.href(self.wheel, "alice/prod")[len(HOST) + 1:]
        sdist = self.href(self.sdist, "alice/prod")[len(HOST) + 1:]
        suffix = self.toxresult_relpath[len(self.href(self.wheel)) - len(HOST) - 1:]
        self.assertEqual(
            reply.json["result"],
            [
                [200, "register", "hello-pkg", "1.0", "->", "alice/prod"],
                [200, "store_releasefile", wheel],
                [200, "store_toxresult", wheel + suffix],
                [200, "store_releasefile", sdist],
                [200, "store_doczip", "hello-pkg", "1.0", "->", "alice/prod"],
            ],
        )

    def test_post_works_like_push(self) -> None:
        reply = self.push("POST")
        self.assertEqual(reply.code, 200, reply)
        self.assertEqual(reply.json["type"], "actionlog")
        self.assertEqual(len(self.links("alice/prod", "releasefile")), 2)

    def test_push_is_one_serial(self) -> None:
        serial = self.server.store.serial
        reply = self.push()
        self.assertEqual(self.server.store.serial, serial + 1)
        self.assertEqual(reply.header("x-devpi-serial"), str(serial + 1))

    def test_metadata_is_copied(self) -> None:
        self.assertEqual(self.push().code, 200)
        source, target = self.version("alice/dev"), self.version("alice/prod")
        del source["+links"], target["+links"]
        self.assertEqual(target, source)
        self.assertEqual(target["summary"], "Hello")
        self.assertEqual(target["requires_python"], ">=3.8")

    def test_files_keep_their_bytes_under_new_urls(self) -> None:
        self.assertEqual(self.push().code, 200)
        for path in (self.wheel, self.sdist):
            href = self.href(path, "alice/prod")
            reply = self.get(href)
            self.assertEqual(reply.code, 200, reply)
            with open(path, "rb") as f:
                self.assertEqual(reply.body, f.read())
        hrefs = [link["href"] for link in self.links("alice/prod", "releasefile")]
        self.assertEqual(
            hrefs, [self.href(self.wheel, "alice/prod"), self.href(self.sdist, "alice/prod")]
        )
        # the wheel's METADATA comes along
        metadata = self.get(self.href(self.wheel, "alice/prod") + ".metadata")
        self.assertEqual(metadata.code, 200, metadata)
        self.assertEqual(metadata.body, self.get(self.href(self.wheel) + ".metadata").body)

    def test_toxresult_and_doczip_are_copied(self) -> None:
        self.assertEqual(self.push().code, 200)
        [result] = self.links("alice/prod", "toxresult")
        self.assertEqual(result["for_href"], self.href(self.wheel, "alice/prod"))
        prefix = self.href(self.wheel, "alice/prod") + ".toxresult-"
        self.assertTrue(result["href"].startswith(prefix), result)
        self.assertEqual(self.get(result["href"]).body, TOXRESULT)
        [doczip] = self.links("alice/prod", "doczip")
        [source] = self.links("alice/dev", "doczip")
        self.assertEqual(doczip["href"], source["href"].replace("/alice/dev/", "/alice/prod/"))
        with open(self.docs, "rb") as f:
            self.assertEqual(self.get(doczip["href"]).body, f.read())

    def test_logs_are_kept_and_a_push_entry_added(self) -> None:
        self.assertEqual(self.push().code, 200)
        source = {
            link["href"].rsplit("/", 1)[1]: link for link in self.version("alice/dev")["+links"]
        }
        target = self.version("alice/prod")["+links"]
        self.assertEqual(len(target), 4)
        for link in target:
            original = source[link["href"].rsplit("/", 1)[1]]
            self.assertEqual(link["log"][:-1], original["log"])
            push = link["log"][-1]
            self.assertEqual(
                {key: push[key] for key in ("what", "who", "src", "dst")},
                {"what": "push", "who": "alice", "src": "alice/dev", "dst": "alice/prod"},
            )
            self.assertNotEqual(push["when"], original["log"][0]["when"])

    def test_upload_time_and_last_modified_are_kept(self) -> None:
        self.assertEqual(self.push().code, 200)

        def simple(index: str) -> dict[str, str]:
            reply = self.get(f"{HOST}/{index}/+simple/hello-pkg/", Accept=PEP691)
            return {f["filename"]: f["upload-time"] for f in reply.json["files"]}

        self.assertEqual(simple("alice/prod"), simple("alice/dev"))
        for path in (self.wheel, self.sdist):
            source = self.server.request("GET", self.href(path)[len(HOST):])
            target = self.server.request("GET", self.href(path, "alice/prod")[len(HOST):])
            self.assertEqual(target.json["type"], "releasefilemeta")
            self.assertEqual(
                target.json["result"]["last_modified"], source.json["result"]["last_modified"]
            )

    def test_no_docs_leaves_the_doczip_behind(self) -> None:
        reply = self.push(no_docs=True)
        self.assertEqual(reply.code, 200, reply)
        self.assertEqual([row[1] for row in reply.json["result"]],
                         ["register", "store_releasefile", "store_toxresult", "store_releasefile"])
        self.assertEqual(self.links("alice/prod", "doczip"), [])
        self.assertEqual(len(self.links("alice/prod", "releasefile")), 2)

    def test_only_docs_pushes_just_the_doczip(self) -> None:
        reply = self.push(only_docs=True)
        self.assertEqual(reply.code, 200, reply)
        self.assertEqual([row[1] for row in reply.json["result"]], ["register", "store_doczip"])
        self.assertEqual(self.links("alice/prod", "releasefile"), [])
        self.assertEqual(len(self.links("alice/prod", "doczip")), 1)

    def test_identical_push_into_non_volatile_again_is_fine(self) -> None:
        self.assertEqual(self.push().code, 200)
        reply = self.push()
        self.assertEqual(reply.code, 200, reply)
        self.assertEqual(len(self.version("alice/prod")["+links"]), 4)

    def test_blobs_are_shared_and_outlive_the_source_release(self) -> None:
        files = disk_files(self.server)
        self.assertEqual(self.push(targetindex="alice/stage").code, 200)
        self.assertEqual(disk_files(self.server), files, "push wrote new files")
        reply = self.server.request("DELETE", "/alice/dev/hello-pkg/1.0", headers=self.alice)
        self.assertEqual(reply.code, 200, reply)
        self.assertEqual(self.get(self.href(self.wheel)).code, 404)
        for path in (self.wheel, self.sdist):
            reply = self.get(self.href(path, "alice/stage"))
            self.assertEqual(reply.code, 200, reply)
            with open(path, "rb") as f:
                self.assertEqual(reply.body, f.read())
        self.assertEqual(disk_files(self.server), files)

    def test_deleting_both_copies_removes_the_blob_files(self) -> None:
        self.assertEqual(self.push(targetindex="alice/stage").code, 200)
        for index in ("alice/dev", "alice/stage"):
            reply = self.server.request("DELETE", f"/{index}/hello-pkg/1.0", headers=self.alice)
            self.assertEqual(reply.code, 200, reply)
        self.assertEqual(disk_files(self.server), set())


class PushRefusalTests(PushTestCase):
    """Every refused push leaves the store and the disk as they were."""

    def setUp(self) -> None:
        super().setUp()
        self.bob = self.server.create_user("bob")
        reply = self.server.request("PUT", "/bob/dev", {}, headers=self.bob)
        self.assertEqual(reply.code, 200, reply)
        self.before = snapshot(self.server)

    def assertUnchanged(self) -> None:
        self.assertEqual(snapshot(self.server), self.before)

    def test_no_docs_and_only_docs_together(self) -> None:
        reply = self.push(no_docs=True, only_docs=True)
        self.assertError(reply, 400, "can't use 'no_docs' and 'only_docs' together")
        self.assertUnchanged()

    def test_unknown_option(self) -> None:
        reply = self.push(foo=1)
        self.assertError(reply, 400, "unknown additional options: foo")
        self.assertUnchanged()

    def test_target_that_does_not_exist(self) -> None:
        reply = self.push(targetindex="alice/nope")
        self.assertError(reply, 404, "The stage alice/nope could not be found.")
        self.assertUnchanged()

    def test_target_of_another_user(self) -> None:
        reply = self.push(targetindex="bob/dev")
        self.assertError(reply, 403, "user 'alice' cannot upload to 'bob/dev'")
        self.assertUnchanged()

    def test_anonymous_push(self) -> None:
        reply = self.push(auth={})
        self.assertError(reply, 401, "user None cannot upload to 'alice/prod': log in first")
        self.assertEqual(reply.header("www-authenticate"), 'Basic realm="pypi"')
        self.assertUnchanged()

    def test_target_that_is_a_mirror(self) -> None:
        root = self.server.login("root", "")
        self.before = snapshot(self.server)
        reply = self.push(auth=root, targetindex="root/pypi")
        self.assertError(reply, 404, "cannot submit to mirror index")
        self.assertUnchanged()

    def test_targetindex_not_user_slash_index(self) -> None:
        for target in ("alice", "alice/prod/x", "/prod", "alice/"):
            reply = self.push(targetindex=target)
            self.assertError(reply, 400, "targetindex not in format user/index")
        self.assertUnchanged()

    def test_unknown_version(self) -> None:
        reply = self.push(version="9.0")
        self.assertError(reply, 400, "there are no files for hello-pkg 9.0 on stage alice/dev")
        self.assertUnchanged()

    def test_missing_version(self) -> None:
        reply = self.push(version=None)
        self.assertError(reply, 400, "there are no files for hello-pkg None on stage alice/dev")
        self.assertUnchanged()

    def test_version_without_files(self) -> None:
        form_fields = {":action": "submit", "name": "hello-pkg", "version": "2.0"}
        self.assertEqual(post_form(self.server, "alice/dev", form_fields, {}, self.alice).code, 200)
        self.before = snapshot(self.server)
        reply = self.push(version="2.0")
        self.assertError(reply, 404, "no release/files found for hello-pkg 2.0")
        self.assertUnchanged()

    def test_body_that_is_not_json(self) -> None:
        reply = self.server.request(
            "PUSH",
            "/alice/dev",
            data=b"{not json",
            headers={**self.alice, "Content-Type": "application/json"},
        )
        self.assertError(reply, 400, "Bad request: could not decode json")
        self.assertUnchanged()

    def test_different_file_of_the_same_name_in_non_volatile_target(self) -> None:
        other = make_wheel(self.mktemp(), "hello-pkg", "1.0", summary="Other bytes")
        self.assertNotEqual(sha256_of(other), sha256_of(self.wheel))
        self.assertEqual(upload(self.server, "alice/prod", other, self.alice).code, 200)
        self.before = snapshot(self.server)
        reply = self.push()
        self.assertError(reply, 409, f"{WHEEL} already exists in non-volatile index")
        self.assertUnchanged()
        [link] = self.links("alice/prod", "releasefile")
        self.assertEqual(link["hashes"]["sha256"], sha256_of(other))
