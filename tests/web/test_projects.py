"""Projects and versions over HTTP: JSON and HTML views, deletion, yanking, documentation."""

from __future__ import annotations

import hashlib
from typing import Any, Optional

from devpi_twisted.model import releases
from devpi_twisted.model.push import push_release
from tests.dists.archives import make_doc_zip
from tests.support import Reply
from tests.web.test_simple import (
    BROWSER_ACCEPT,
    HOST,
    SDIST,
    SIMPLE_JSON,
    WHEEL,
    ReleaseServerTestCase,
    anchors,
)

PROJECT = "/alice/dev/hello-pkg"


def doc_zip(folder: str, files: dict[str, bytes]) -> bytes:
    """The bytes of a documentation zip holding C{files}."""
    with open(make_doc_zip(folder, files), "rb") as f:
        return f.read()


class ProjectJSONTests(ReleaseServerTestCase):
    """What C{devpi list NAME} and C{devpi getjson} read."""

    def setUp(self) -> None:
        super().setUp()
        self.sdist = self.add(SDIST, b"sdist bytes", requires_python=">=3.8")
        self.wheel = self.add(WHEEL, b"wheel bytes")

    def test_projectconfig(self) -> None:
        reply = self.server.request("GET", PROJECT)
        self.assertEqual(reply.code, 200, reply)
        self.assertEqual(reply.header("content-type"), "application/json")
        self.assertEqual(reply.json["type"], "projectconfig")
        versiondata = reply.json["result"]["1.0"]
        self.assertEqual(versiondata["name"], "hello-pkg")
        self.assertEqual(versiondata["version"], "1.0")
        self.assertEqual(versiondata["requires_python"], ">=3.8")
        self.assertNotIn("+elinks", versiondata)

    def test_links(self) -> None:
        links = self.server.request("GET", PROJECT).json["result"]["1.0"]["+links"]
        sha256 = self.sha256(self.sdist)
        self.assertEqual(
            links[0],
            {
                "rel": "releasefile",
                "href": f"{HOST}/{self.sdist}",
                "hash_spec": f"sha256={sha256}",
                "hashes": {"sha256": sha256},
                "log": [
                    {
                        "what": "upload",
                        "who": "alice",
                        "when": [2027, 1, 15, 8, 0, 0],
                        "dst": "alice/dev",
                    }
                ],
            },
        )
        self.assertEqual(
            [link["href"] for link in links], [f"{HOST}/{self.sdist}", f"{HOST}/{self.wheel}"]
        )

    def test_hrefs_download_the_files(self) -> None:
        for link in self.server.request("GET", PROJECT).json["result"]["1.0"]["+links"]:
            path = link["href"][len(HOST):]
            reply = self.server.request("GET", path, accept_json=False)
            self.assertEqual(hashlib.sha256(reply.body).hexdigest(), link["hashes"]["sha256"])

    def test_every_version(self) -> None:
        self.add("hello_pkg-2.0.tar.gz", version="2.0")
        self.assertEqual(sorted(self.server.request("GET", PROJECT).json["result"]), ["1.0", "2.0"])

    def test_trailing_slash_answered_directly(self) -> None:
        reply = self.server.request("GET", PROJECT + "/")
        self.assertEqual(reply.code, 200, reply)
        self.assertEqual(reply.json["type"], "projectconfig")

    def test_non_normalized_name_redirects(self) -> None:
        for path in ("/alice/dev/Hello.Pkg", "/alice/dev/hello_pkg/"):
            reply = self.server.request("GET", path)
            self.assertEqual(reply.code, 302, (path, reply))
            self.assertEqual(reply.header("location"), f"{HOST}{PROJECT}")

    def test_unknown_project(self) -> None:
        reply = self.server.request("GET", "/alice/dev/nope")
        self.assertEqual(reply.code, 404)
        self.assertEqual(reply.json["message"], "no project 'nope'")

    def test_unknown_index(self) -> None:
        self.assertEqual(self.server.request("GET", "/alice/nope/hello-pkg").code, 404)

    def test_html_for_browsers(self) -> None:
        reply = self.server.request(
            "GET", PROJECT, headers={"Accept": BROWSER_ACCEPT}, accept_json=False
        )
        self.assertEqual(reply.code, 200, reply)
        self.assertTrue((reply.header("content-type") or "").startswith("text/html"))
        # the UI's project page: its versions link to their pages
        self.assertIn(f'href="{HOST}{PROJECT}/1.0">1.0</a>'.encode(), reply.body)


class InheritedProjectTests(ReleaseServerTestCase):
    """alice/child -> alice/dev: the first index in order wins a version."""

    def setUp(self) -> None:
        super().setUp()
        self.make_index("alice/child", bases=["alice/dev"])
        self.add(SDIST, b"base 1.0")
        self.base_two = self.add("hello_pkg-2.0.tar.gz", b"base 2.0", version="2.0")
        self.child_one = self.add(SDIST, b"child 1.0", index="alice/child")

    def hrefs(self, result: dict[str, Any], version: str) -> list[str]:
        return [link["href"] for link in result[version]["+links"]]

    def test_child_wins_the_shared_version(self) -> None:
        result = self.server.request("GET", "/alice/child/hello-pkg").json["result"]
        self.assertEqual(sorted(result), ["1.0", "2.0"])
        self.assertEqual(self.hrefs(result, "1.0"), [f"{HOST}/{self.child_one}"])
        self.assertEqual(self.hrefs(result, "2.0"), [f"{HOST}/{self.base_two}"])

    def test_ignore_bases(self) -> None:
        result = self.server.request("GET", "/alice/child/hello-pkg?ignore_bases").json["result"]
        self.assertEqual(sorted(result), ["1.0"])

    def test_ignore_bases_when_only_the_base_has_it(self) -> None:
        self.add("only-1.0.tar.gz", name="only")
        self.assertEqual(self.server.request("GET", "/alice/child/only").code, 200)
        reply = self.server.request("GET", "/alice/child/only?ignore_bases=1")
        self.assertEqual(reply.code, 404)

    def test_version_from_the_base(self) -> None:
        reply = self.server.request("GET", "/alice/child/hello-pkg/2.0")
        self.assertEqual(reply.code, 200, reply)
        self.assertEqual(self.hrefs({"v": reply.json["result"]}, "v"), [f"{HOST}/{self.base_two}"])

    def test_version_from_the_child_first(self) -> None:
        result = self.server.request("GET", "/alice/child/hello-pkg/1.0").json["result"]
        self.assertEqual(result["+links"][0]["href"], f"{HOST}/{self.child_one}")


class VersionJSONTests(ReleaseServerTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.sdist = self.add(SDIST, b"sdist bytes")

    def test_versiondata(self) -> None:
        reply = self.server.request("GET", PROJECT + "/1.0")
        self.assertEqual(reply.code, 200, reply)
        self.assertEqual(reply.json["type"], "versiondata")
        result = reply.json["result"]
        self.assertEqual((result["name"], result["version"]), ("hello-pkg", "1.0"))
        for key in ("summary", "author", "classifiers", "requires_dist", "requires_python"):
            self.assertIn(key, result)
        self.assertEqual([link["href"] for link in result["+links"]], [f"{HOST}/{self.sdist}"])

    def test_doczip_and_toxresult_links(self) -> None:
        self.upload_doc(doc_zip(self.mktemp(), {"index.html": b"<p>docs</p>"}))
        reply = self.server.request(
            "POST", "/" + self.sdist, json_body={"testenvs": {}}, accept_json=True
        )
        self.assertEqual(reply.code, 200, reply)
        links = self.server.request("GET", PROJECT + "/1.0").json["result"]["+links"]
        by_rel = {link["rel"]: link for link in links}
        self.assertEqual(set(by_rel), {"releasefile", "doczip", "toxresult"})
        self.assertTrue(by_rel["doczip"]["href"].endswith("/hello-pkg-1.0.doc.zip"))
        self.assertEqual(by_rel["toxresult"]["for_href"], f"{HOST}/{self.sdist}")
        self.assertEqual(by_rel["toxresult"]["log"][0]["who"], None)

    def test_registered_version_without_files(self) -> None:
        self.server.store.transact_now(
            lambda txn: releases.register_version(
                txn, "alice", "dev", {"name": "hello-pkg", "version": "0.5"}
            )
        )
        reply = self.server.request("GET", PROJECT + "/0.5")
        self.assertEqual(reply.json["result"]["+links"], [])

    def test_unknown_version(self) -> None:
        reply = self.server.request("GET", PROJECT + "/9.9")
        self.assertEqual(reply.code, 404)
        self.assertEqual(
            reply.json["message"], "The version 9.9 of project hello-pkg does not exist."
        )

    def test_non_normalized_project_redirects(self) -> None:
        for path in ("/alice/dev/Hello.Pkg/1.0", "/alice/dev/Hello_Pkg/1.0/"):
            reply = self.server.request("GET", path)
            self.assertEqual(reply.code, 302, (path, reply))
            self.assertEqual(reply.header("location"), f"{HOST}{PROJECT}/1.0")

    def test_trailing_slash(self) -> None:
        self.assertEqual(self.server.request("GET", PROJECT + "/1.0/").json["type"], "versiondata")

    def test_html_for_browsers(self) -> None:
        reply = self.server.request(
            "GET", PROJECT + "/1.0", headers={"Accept": BROWSER_ACCEPT}, accept_json=False
        )
        self.assertEqual(reply.code, 200, reply)
        self.assertTrue((reply.header("content-type") or "").startswith("text/html"))
        # the UI's version page: its files link to their downloads
        self.assertIn("<title>hello-pkg 1.0 · devpi</title>".encode(), reply.body)
        self.assertIn(f'href="{HOST}/{self.sdist}">{SDIST}</a>'.encode(), reply.body)


class PermissionTestCase(ReleaseServerTestCase):
    """alice owns alice/dev and non-volatile alice/prod; bob is another user."""

    def setUp(self) -> None:
        super().setUp()
        self.make_index("alice/prod", volatile=False)
        self.bob = self.server.create_user("bob")
        self.root = self.server.login("root", "")

    def allow_bob(self, index: str = "alice/dev") -> None:
        reply = self.server.request("PATCH", f"/{index}", ["acl_upload+=bob"], headers=self.alice)
        self.assertEqual(reply.code, 200, reply)

    def send(
        self, method: str, path: str, auth: Optional[dict[str, str]], body: Any = None
    ) -> Reply:
        return self.server.request(method, path, json_body=body, headers=auth)

    def version_exists(self, version: str = "1.0", index: str = "alice/dev") -> bool:
        reply = self.server.request("GET", f"/{index}/hello-pkg/{version}")
        return reply.code == 200


class DeleteVersionTests(PermissionTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.add()

    def test_anonymous_401(self) -> None:
        self.assertEqual(self.send("DELETE", PROJECT + "/1.0", None).code, 401)
        self.assertTrue(self.version_exists())

    def test_other_user_403(self) -> None:
        self.assertEqual(self.send("DELETE", PROJECT + "/1.0", self.bob).code, 403)
        self.assertTrue(self.version_exists())

    def test_acl_upload_member(self) -> None:
        self.allow_bob()
        self.assertEqual(self.send("DELETE", PROJECT + "/1.0", self.bob).code, 200)
        self.assertFalse(self.version_exists())

    def test_owner(self) -> None:
        reply = self.send("DELETE", PROJECT + "/1.0", self.alice)
        self.assertEqual(reply.code, 200, reply)
        self.assertIn("1.0", reply.json["message"])
        self.assertFalse(self.version_exists())

    def test_root(self) -> None:
        self.assertEqual(self.send("DELETE", PROJECT + "/1.0", self.root).code, 200)
        self.assertFalse(self.version_exists())

    def test_non_normalized_name(self) -> None:
        # devpi-client sends the name as the user typed it
        self.assertEqual(self.send("DELETE", "/alice/dev/Hello.Pkg/1.0", self.alice).code, 200)
        self.assertFalse(self.version_exists())

    def test_other_versions_stay(self) -> None:
        self.add("hello_pkg-2.0.tar.gz", version="2.0")
        self.send("DELETE", PROJECT + "/1.0", self.alice)
        self.assertTrue(self.version_exists("2.0"))

    def test_non_volatile_needs_force(self) -> None:
        self.add(index="alice/prod")
        reply = self.send("DELETE", "/alice/prod/hello-pkg/1.0", self.alice)
        self.assertEqual(reply.code, 403)
        self.assertEqual(reply.json["message"], "cannot delete version on non-volatile index")
        self.assertTrue(self.version_exists(index="alice/prod"))
        reply = self.send("DELETE", "/alice/prod/hello-pkg/1.0?force", self.alice)
        self.assertEqual(reply.code, 200, reply)
        self.assertFalse(self.version_exists(index="alice/prod"))

    def test_unknown_version(self) -> None:
        self.assertEqual(self.send("DELETE", PROJECT + "/9.9", self.alice).code, 404)

    def test_gone_from_the_simple_page(self) -> None:
        self.add("hello_pkg-2.0.tar.gz", version="2.0")
        self.get("/alice/dev/+simple/hello-pkg/")
        self.send("DELETE", PROJECT + "/1.0", self.alice)
        texts = [a.text for a in anchors(self.get("/alice/dev/+simple/hello-pkg/").body)]
        self.assertEqual(texts, ["hello_pkg-2.0.tar.gz"])


class DeleteProjectTests(PermissionTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.add()
        self.add("hello_pkg-2.0.tar.gz", version="2.0")

    def test_anonymous_401(self) -> None:
        self.assertEqual(self.send("DELETE", PROJECT, None).code, 401)
        self.assertTrue(self.version_exists())

    def test_other_user_403(self) -> None:
        self.assertEqual(self.send("DELETE", PROJECT, self.bob).code, 403)
        self.assertTrue(self.version_exists())

    def test_acl_upload_member(self) -> None:
        self.allow_bob()
        self.assertEqual(self.send("DELETE", PROJECT, self.bob).code, 200)

    def test_owner(self) -> None:
        self.get("/alice/dev/+simple/hello-pkg/")
        self.get("/alice/dev/+simple/")
        reply = self.send("DELETE", PROJECT, self.alice)
        self.assertEqual(reply.code, 200, reply)
        self.assertEqual(reply.json["message"], "project hello-pkg deleted from stage alice/dev")
        self.assertEqual(self.server.request("GET", PROJECT).code, 404)
        self.assertEqual(self.get("/alice/dev/+simple/hello-pkg/").code, 404)
        self.assertEqual(anchors(self.get("/alice/dev/+simple/").body), [])
        self.assertEqual(self.server.request("GET", "/alice/dev").json["result"]["projects"], [])

    def test_root(self) -> None:
        self.assertEqual(self.send("DELETE", PROJECT, self.root).code, 200)

    def test_non_normalized_name(self) -> None:
        self.assertEqual(self.send("DELETE", "/alice/dev/Hello_Pkg", self.alice).code, 200)
        self.assertEqual(self.server.request("GET", PROJECT).code, 404)

    def test_non_volatile_needs_force(self) -> None:
        self.add(index="alice/prod")
        reply = self.send("DELETE", "/alice/prod/hello-pkg", self.alice)
        self.assertEqual(reply.code, 403)
        self.assertIn("non-volatile", reply.json["message"])
        self.assertEqual(self.send("DELETE", "/alice/prod/hello-pkg?force", self.alice).code, 200)
        self.assertEqual(self.server.request("GET", "/alice/prod/hello-pkg").code, 404)

    def test_unknown_project(self) -> None:
        self.assertEqual(self.send("DELETE", "/alice/dev/nope", self.alice).code, 404)


class BlobRemovalTests(PermissionTestCase):
    """The bytes leave the disk only when no index refers to them any more."""

    def setUp(self) -> None:
        super().setUp()
        self.relpath = self.add(SDIST, b"shared bytes")
        self.digest = self.sha256(self.relpath)

    def push_to_prod(self) -> str:
        now = self.server.clock.seconds()
        self.server.store.transact_now(
            lambda txn: push_release(
                txn, "alice/dev", "hello-pkg", "1.0", "alice/prod", "alice", now
            )
        )
        return self.relpath.replace("alice/dev/", "alice/prod/", 1)

    def download(self, relpath: str) -> Reply:
        return self.server.request("GET", "/" + relpath, accept_json=False)

    def test_deleting_the_only_reference_removes_the_file(self) -> None:
        self.assertTrue(self.server.blobs.exists(self.digest))
        self.assertEqual(self.send("DELETE", PROJECT + "/1.0", self.alice).code, 200)
        self.assertFalse(self.server.blobs.exists(self.digest))

    def test_pushed_copy_keeps_the_file(self) -> None:
        pushed = self.push_to_prod()
        self.assertEqual(self.send("DELETE", PROJECT, self.alice).code, 200)
        self.assertTrue(self.server.blobs.exists(self.digest))
        self.assertEqual(self.download(pushed).body, b"shared bytes")
        reply = self.send("DELETE", "/alice/prod/hello-pkg/1.0?force", self.alice)
        self.assertEqual(reply.code, 200, reply)
        self.assertFalse(self.server.blobs.exists(self.digest))

    def test_same_bytes_uploaded_to_a_second_index(self) -> None:
        self.make_index("alice/other")
        other = self.add(SDIST, b"shared bytes", index="alice/other")
        self.assertEqual(self.send("DELETE", "/" + self.relpath, self.alice).code, 200)
        self.assertTrue(self.server.blobs.exists(self.digest))
        self.assertEqual(self.download(other).body, b"shared bytes")
        self.assertEqual(self.send("DELETE", "/" + other, self.alice).code, 200)
        self.assertFalse(self.server.blobs.exists(self.digest))

    def test_deleting_the_index_removes_unshared_files(self) -> None:
        self.make_index("alice/tmp")
        only = self.sha256(
            self.add("other-1.0.tar.gz", b"tmp only", name="other", index="alice/tmp")
        )
        shared = self.add(SDIST, b"shared bytes", index="alice/tmp")
        self.assertEqual(self.send("DELETE", "/alice/tmp", self.alice).code, 201)
        self.assertFalse(self.server.blobs.exists(only))
        self.assertTrue(self.server.blobs.exists(self.sha256(self.relpath)))
        self.assertNotEqual(shared, self.relpath)


class YankTests(PermissionTestCase):
    """PATCH {"yanked": ...} on a version: PEP 592 data on the simple pages."""

    PAGE = "/alice/dev/+simple/hello-pkg/"

    def setUp(self) -> None:
        super().setUp()
        self.add()
        self.add("hello_pkg-2.0.tar.gz", version="2.0")

    def patch(
        self, body: Any, auth: Optional[dict[str, str]] = None, path: str = PROJECT + "/1.0"
    ) -> Reply:
        return self.send("PATCH", path, self.alice if auth is None else auth, body)

    def html_yanked(self) -> dict[str, Optional[str]]:
        return {a.text: a.attrs.get("data-yanked") for a in anchors(self.get(self.PAGE).body)}

    def json_yanked(self) -> dict[str, Any]:
        files = self.get(self.PAGE, SIMPLE_JSON).json["files"]
        return {f["filename"]: f.get("yanked") for f in files}

    def version_yanked(self) -> Any:
        return self.server.request("GET", PROJECT + "/1.0").json["result"].get("yanked")

    def test_yank(self) -> None:
        reply = self.patch({"yanked": True})
        self.assertEqual(reply.code, 200, reply)
        self.assertEqual(reply.json["type"], "versiondata")
        self.assertIs(reply.json["result"]["yanked"], True)
        self.assertEqual(self.html_yanked(), {SDIST: "", "hello_pkg-2.0.tar.gz": None})
        self.assertEqual(self.json_yanked(), {SDIST: True, "hello_pkg-2.0.tar.gz": None})
        self.assertIs(self.version_yanked(), True)

    def test_yank_with_reason(self) -> None:
        self.assertEqual(self.patch({"yanked": "broken metadata"}).code, 200)
        self.assertEqual(self.html_yanked()[SDIST], "broken metadata")
        self.assertEqual(self.json_yanked()[SDIST], "broken metadata")
        self.assertEqual(self.version_yanked(), "broken metadata")

    def test_unyank(self) -> None:
        self.patch({"yanked": "oops"})
        self.assertEqual(self.patch({"yanked": False}).code, 200)
        self.assertEqual(self.html_yanked()[SDIST], None)
        self.assertEqual(self.json_yanked()[SDIST], None)
        self.assertNotIn("yanked", self.server.request("GET", PROJECT + "/1.0").json["result"])

    def test_non_normalized_project_name(self) -> None:
        self.assertEqual(self.patch({"yanked": True}, path="/alice/dev/Hello.Pkg/1.0").code, 200)
        self.assertIs(self.version_yanked(), True)

    def test_allowed_on_non_volatile_index(self) -> None:
        self.add(index="alice/prod")
        self.assertEqual(self.patch({"yanked": True}, path="/alice/prod/hello-pkg/1.0").code, 200)

    def test_permissions(self) -> None:
        self.assertEqual(self.send("PATCH", PROJECT + "/1.0", None, {"yanked": True}).code, 401)
        self.assertEqual(self.patch({"yanked": True}, self.bob).code, 403)
        self.assertIsNone(self.version_yanked())
        self.allow_bob()
        self.assertEqual(self.patch({"yanked": True}, self.bob).code, 200)
        self.assertEqual(self.patch({"yanked": False}, self.root).code, 200)

    def test_bad_bodies(self) -> None:
        bodies = ({}, {"yanked": 1}, {"yanked": None}, {"yanked": True, "x": 1}, [True], "yes")
        for body in bodies:
            reply = self.patch(body)
            self.assertEqual(reply.code, 400, (body, reply))
        reply = self.server.request(
            "PATCH",
            PROJECT + "/1.0",
            data=b"{not json",
            headers={**self.alice, "Content-Type": "application/json"},
        )
        self.assertEqual(reply.code, 400)
        self.assertIsNone(self.version_yanked())

    def test_unknown_version(self) -> None:
        self.assertEqual(self.patch({"yanked": True}, path=PROJECT + "/9.9").code, 404)


class DocsTests(ReleaseServerTestCase):
    """Documentation from a doc_upload zip under +doc/, and the zip under +doczip."""

    FILES = {
        "index.html": b"<html>top</html>",
        "_static/style.css": b"body {}",
        "_static/app.js": b"let x;",
        "sub/page.html": b"<p>nested</p>",
        "sub/index.html": b"<p>sub index</p>",
        "img/logo.png": b"\x89PNG...",
    }

    def setUp(self) -> None:
        super().setUp()
        self.add()
        self.zip_bytes = doc_zip(self.mktemp(), self.FILES)
        self.upload_doc(self.zip_bytes)

    def doc(self, member: str, version: str = "1.0", **headers: str) -> Reply:
        return self.get(f"{PROJECT}/{version}/+doc/{member}", **headers)

    def test_index_html_is_the_default(self) -> None:
        reply = self.doc("")
        self.assertEqual(reply.code, 200, reply)
        self.assertEqual(reply.body, b"<html>top</html>")
        self.assertEqual(reply.header("content-type"), "text/html; charset=utf-8")

    def test_content_types(self) -> None:
        for member, expected in (
            ("_static/style.css", "text/css"),
            ("_static/app.js", "javascript"),
            ("img/logo.png", "image/png"),
            ("sub/page.html", "text/html"),
        ):
            reply = self.doc(member)
            self.assertEqual(reply.code, 200, (member, reply))
            self.assertEqual(reply.body, self.FILES[member])
            self.assertIn(expected, reply.header("content-type") or "", member)

    def test_directory_means_its_index(self) -> None:
        for member in ("sub/", "sub"):
            self.assertEqual(self.doc(member).body, b"<p>sub index</p>", member)

    def test_missing_member(self) -> None:
        self.assertEqual(self.doc("nope.html").code, 404)
        self.assertEqual(self.doc("sub/nope.html").code, 404)

    def test_dot_dot(self) -> None:
        for member in ("../../../../etc/passwd", "sub/../index.html", "sub/%2e%2e/index.html"):
            self.assertEqual(self.doc(member).code, 404, member)

    def test_latest_and_stable(self) -> None:
        self.add("hello_pkg-2.0a1.tar.gz", version="2.0a1")
        self.upload_doc(doc_zip(self.mktemp(), {"index.html": b"pre"}), version="2.0a1")
        self.assertEqual(self.doc("", "latest").body, b"pre")
        self.assertEqual(self.doc("", "stable").body, b"<html>top</html>")
        self.assertEqual(self.doc("sub/page.html", "stable").body, b"<p>nested</p>")

    def test_version_without_docs(self) -> None:
        self.add("hello_pkg-3.0.tar.gz", version="3.0")
        self.assertEqual(self.doc("", "3.0").code, 404)
        self.assertEqual(self.get(f"{PROJECT}/3.0/+doczip").code, 404)

    def test_etag_304(self) -> None:
        first = self.doc("")
        etag = first.header("etag")
        assert etag is not None
        reply = self.doc("", If_None_Match=etag)
        self.assertEqual(reply.code, 304)
        self.assertEqual(reply.body, b"")
        self.assertNotEqual(self.doc("sub/page.html").header("etag"), etag)

    def test_doczip_redirects_to_the_stored_zip(self) -> None:
        reply = self.get(f"{PROJECT}/1.0/+doczip")
        self.assertEqual(reply.code, 302, reply)
        location = reply.header("location") or ""
        self.assertRegex(
            location, rf"^{HOST}/alice/dev/\+f/[0-9a-f]{{3}}/[0-9a-f]{{13}}/hello-pkg-1.0.doc.zip$"
        )
        download = self.get(location[len(HOST):])
        self.assertEqual(download.code, 200)
        self.assertEqual(download.body, self.zip_bytes)

    def test_docs_through_a_child_index(self) -> None:
        self.make_index("alice/child", bases=["alice/dev"])
        self.assertEqual(self.get("/alice/child/hello-pkg/1.0/+doc/").body, b"<html>top</html>")

    def test_non_normalized_project(self) -> None:
        self.assertEqual(self.get("/alice/dev/Hello.Pkg/1.0/+doc/").body, b"<html>top</html>")
