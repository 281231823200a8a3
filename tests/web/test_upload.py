"""The legacy upload form (file_upload, submit, doc_upload) as twine and devpi-client use it."""

from __future__ import annotations

import hashlib
import html
import os
import zipfile
from datetime import datetime, timezone
from typing import Any, Optional

from twisted.trial.unittest import TestCase

from tests.dists.archives import make_doc_zip, make_sdist, make_wheel
from tests.support import MemoryServer, Reply, basic_auth
from tests.web.forms import (
    disk_files,
    form_body,
    post_form,
    read_metadata,
    snapshot,
    twine_fields,
    upload,
    upload_docs,
)

WHEEL = "hello_pkg-1.0-py3-none-any.whl"
SDIST = "hello_pkg-1.0.tar.gz"
HOST = "http://devpi.test"
PEP691 = "application/vnd.pypi.simple.v1+json"


def sha256_of(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def pep700_time(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class UploadTestCase(TestCase):
    """alice with the volatile alice/dev and the non-volatile alice/prod."""

    def setUp(self) -> None:
        self.server = MemoryServer(self.mktemp())
        self.addCleanup(self.server.close)
        self.alice = self.server.create_user("alice", "secret")
        for index, volatile in (("dev", True), ("prod", False)):
            reply = self.server.request(
                "PUT", f"/alice/{index}", {"volatile": volatile}, headers=self.alice
            )
            self.assertEqual(reply.code, 200, reply)
        self._dirs = 0

    def fresh_dir(self) -> str:
        """A new directory, so archives with the same name but other bytes can coexist."""
        self._dirs += 1
        return os.path.join(self.mktemp(), str(self._dirs))

    def wheel(self, version: str = "1.0", name: str = "hello-pkg", **kwargs: Any) -> str:
        kwargs.setdefault("summary", "Hello")
        kwargs.setdefault("requires_python", ">=3.8")
        return make_wheel(self.fresh_dir(), name, version, **kwargs)

    def sdist(self, version: str = "1.0", **kwargs: Any) -> str:
        kwargs.setdefault("summary", "Hello")
        return make_sdist(self.fresh_dir(), "hello-pkg", version, **kwargs)

    def upload(self, path: str, index: str = "alice/dev", **fields: Any) -> Reply:
        return upload(self.server, index, path, self.alice, **fields)

    def assertOK(self, reply: Reply, phrase: str = "OK") -> None:
        self.assertEqual((reply.code, reply.phrase), (200, phrase), reply)

    def assertRefused(self, reply: Reply, code: int, phrase: str) -> None:
        self.assertEqual((reply.code, reply.phrase), (code, phrase), reply)
        self.assertEqual(reply.header("content-type"), "text/html; charset=utf-8")
        self.assertIn(phrase, html.unescape(reply.body.decode()))

    def version(
        self, index: str = "alice/dev", project: str = "hello-pkg", version: str = "1.0"
    ) -> dict[str, Any]:
        reply = self.server.request("GET", f"/{index}/{project}/{version}")
        self.assertEqual(reply.code, 200, reply)
        self.assertEqual(reply.json["type"], "versiondata")
        result: dict[str, Any] = reply.json["result"]
        return result

    def links(self, rel: str = "releasefile", **kwargs: str) -> list[dict[str, Any]]:
        return [link for link in self.version(**kwargs)["+links"] if link["rel"] == rel]

    def get(self, href: str, **headers: str) -> Reply:
        return self.server.request(
            "GET", href[len(HOST):], headers=headers, accept_json=False
        )

    def simple_json(self, index: str = "alice/dev") -> dict[str, Any]:
        reply = self.get(f"{HOST}/{index}/+simple/hello-pkg/", Accept=PEP691)
        self.assertEqual(reply.code, 200, reply)
        result: dict[str, Any] = reply.json
        return result


class RefusalTestCase(UploadTestCase):
    """Every refusal leaves store and disk exactly as they were."""

    def setUp(self) -> None:
        super().setUp()
        self.assertOK(self.upload(self.wheel("0.9")))
        self.before = snapshot(self.server)

    def assertUnchanged(self) -> None:
        serial, values, files = snapshot(self.server)
        self.assertEqual(serial, self.before[0], "a new serial was committed")
        self.assertEqual(values, self.before[1])
        self.assertEqual(files, self.before[2], "files were left on disk")


class SuccessTests(UploadTestCase):
    def test_wheel_and_sdist_are_stored_with_links_and_log(self) -> None:
        wheel, sdist = self.wheel(), self.sdist()
        self.assertOK(self.upload(wheel))
        self.assertOK(self.upload(sdist))
        links = self.links()
        self.assertEqual([link["href"].rsplit("/", 1)[1] for link in links], [WHEEL, SDIST])
        for path, link in zip((wheel, sdist), links):
            digest = sha256_of(path)
            filename = os.path.basename(path)
            self.assertEqual(
                link["href"], f"{HOST}/alice/dev/+f/{digest[:3]}/{digest[3:16]}/{filename}"
            )
            self.assertEqual(link["hash_spec"], f"sha256={digest}")
            self.assertEqual(link["hashes"], {"sha256": digest})
            [log] = link["log"]
            self.assertEqual(
                (log["what"], log["who"], log["dst"]), ("upload", "alice", "alice/dev")
            )
            self.assertEqual(len(log["when"]), 6)
            download = self.get(link["href"])
            self.assertEqual(download.code, 200, download)
            self.assertEqual(download.body, read(path))

    def test_each_upload_is_one_serial_reported_in_the_reply(self) -> None:
        serial = self.server.store.serial
        reply = self.upload(self.wheel())
        self.assertOK(reply)
        self.assertEqual(self.server.store.serial, serial + 1)
        self.assertEqual(reply.header("x-devpi-serial"), str(serial + 1))

    def test_version_metadata_comes_from_the_file(self) -> None:
        wheel = self.wheel(requires_dist=["attrs>=20"], description="Long text\n")
        # only what the form must carry: the rest is read from METADATA
        fields = {":action": "file_upload", "name": "hello-pkg", "version": "1.0"}
        reply = post_form(
            self.server, "alice/dev", fields, {"content": (WHEEL, read(wheel))}, self.alice
        )
        self.assertOK(reply)
        version = self.version()
        self.assertEqual(version["summary"], "Hello")
        self.assertEqual(version["requires_python"], ">=3.8")
        self.assertEqual(version["requires_dist"], ["attrs>=20"])
        self.assertEqual(version["metadata_version"], "2.1")
        self.assertEqual(version["description"], "Long text\n")
        self.assertEqual(version["classifiers"], [])
        self.assertEqual((version["name"], version["version"]), ("hello-pkg", "1.0"))

    def test_sdist_metadata_comes_from_pkg_info(self) -> None:
        sdist = self.sdist(requires_python=">=3.9", summary="From PKG-INFO")
        fields = {":action": "file_upload", "name": "hello-pkg", "version": "1.0"}
        reply = post_form(
            self.server, "alice/dev", fields, {"content": (SDIST, read(sdist))}, self.alice
        )
        self.assertOK(reply)
        version = self.version()
        self.assertEqual(version["summary"], "From PKG-INFO")
        self.assertEqual(version["requires_python"], ">=3.9")

    def test_second_version_is_listed_beside_the_first(self) -> None:
        self.assertOK(self.upload(self.wheel("1.0")))
        self.assertOK(self.upload(self.wheel("1.1", summary="Newer")))
        project = self.server.request("GET", "/alice/dev/hello-pkg")
        self.assertEqual(project.code, 200, project)
        self.assertEqual(sorted(project.json["result"]), ["1.0", "1.1"])
        self.assertEqual(self.version(version="1.0")["summary"], "Hello")
        self.assertEqual(self.version(version="1.1")["summary"], "Newer")
        page = self.get(f"{HOST}/alice/dev/+simple/hello-pkg/")
        self.assertEqual(page.code, 200, page)
        for version in ("1.0", "1.1"):
            digest = self.links(version=version)[0]["hashes"]["sha256"]
            filename = f"hello_pkg-{version}-py3-none-any.whl"
            url = f"/+f/{digest[:3]}/{digest[3:16]}/{filename}#sha256={digest}"
            self.assertIn(url.encode(), page.body)
            self.assertIn(f">{filename}</a>".encode(), page.body)

    def test_basic_auth_with_the_password_works(self) -> None:
        reply = upload(self.server, "alice/dev", self.wheel(), basic_auth("alice", "secret"))
        self.assertOK(reply)
        self.assertEqual(self.links()[0]["log"][0]["who"], "alice")

    def test_devpi_token_works(self) -> None:
        self.assertIn("X-Devpi-Auth", self.alice)
        self.assertOK(upload(self.server, "alice/dev", self.wheel(), self.alice))
        self.assertEqual(self.links()[0]["log"][0]["who"], "alice")

    def test_authenticated_principal_in_acl_upload_lets_any_user_upload(self) -> None:
        bob = self.server.create_user("bob")
        reply = self.server.request(
            "PATCH", "/alice/dev", ["acl_upload=:authenticated:"], headers=self.alice
        )
        self.assertEqual(reply.code, 200, reply)
        self.assertOK(upload(self.server, "alice/dev", self.wheel(), bob))
        self.assertEqual(self.links()[0]["log"][0]["who"], "bob")

    def test_upload_time_is_recorded_and_shown_in_pep691_json(self) -> None:
        self.server.clock.advance(0.25)
        first = self.server.clock.seconds()
        self.assertOK(self.upload(self.wheel()))
        self.server.clock.advance(3600)
        self.assertOK(self.upload(self.sdist()))
        files = {f["filename"]: f for f in self.simple_json()["files"]}
        self.assertEqual(files[WHEEL]["upload-time"], pep700_time(first))
        self.assertTrue(files[WHEEL]["upload-time"].endswith(".250000Z"))
        self.assertEqual(files[SDIST]["upload-time"], pep700_time(first + 3600))
        self.assertEqual(files[WHEEL]["size"], os.path.getsize(self.wheel()))

    def test_wheel_metadata_is_served_and_advertised(self) -> None:
        wheel = self.wheel()
        self.assertOK(self.upload(wheel))
        self.assertOK(self.upload(self.sdist()))
        metadata = read_metadata(wheel)
        digest = hashlib.sha256(metadata).hexdigest()
        files = {f["filename"]: f for f in self.simple_json()["files"]}
        self.assertEqual(files[WHEEL]["core-metadata"], {"sha256": digest})
        self.assertNotIn("core-metadata", files[SDIST])
        page = self.get(f"{HOST}/alice/dev/+simple/hello-pkg/").body
        self.assertIn(f'data-core-metadata="sha256={digest}"'.encode(), page)
        [wheel_link, sdist_link] = self.links()
        served = self.get(wheel_link["href"] + ".metadata")
        self.assertEqual(served.code, 200, served)
        self.assertEqual(served.body, metadata)
        missing = self.get(sdist_link["href"] + ".metadata")
        self.assertEqual(missing.code, 404, missing)
        sdist_relpath = sdist_link["href"][len(HOST) + 1:]
        self.assertIn(f"no metadata found in {sdist_relpath}", missing.body.decode())

    def test_twine_fields_are_what_the_upload_helper_sends(self) -> None:
        fields = twine_fields(self.wheel(requires_dist=["a", "b"]))
        self.assertEqual(fields["requires_dist"], ["a", "b"])
        self.assertEqual(fields[":action"], "file_upload")
        self.assertEqual((fields["filetype"], fields["pyversion"]), ("bdist_wheel", "py3"))
        self.assertEqual(twine_fields(self.sdist())["pyversion"], "source")


class SubmitTests(UploadTestCase):
    def submit(self, **fields: Any) -> Reply:
        form = {":action": "submit", "name": "hello-pkg", "version": "1.0", **fields}
        return post_form(self.server, "alice/dev", form, {}, self.alice)

    def test_submit_registers_a_version_without_files(self) -> None:
        serial = self.server.store.serial
        self.assertOK(self.submit(summary="Registered", classifiers=["A :: B", "C :: D"]))
        self.assertEqual(self.server.store.serial, serial + 1)
        version = self.version()
        self.assertEqual(version["summary"], "Registered")
        self.assertEqual(version["classifiers"], ["A :: B", "C :: D"])
        self.assertEqual(version["+links"], [])
        self.assertEqual(disk_files(self.server), set())

    def test_submit_replaces_the_metadata_wholesale_and_keeps_the_files(self) -> None:
        self.assertOK(self.upload(self.wheel()))
        self.assertEqual(self.version()["requires_python"], ">=3.8")
        self.assertOK(self.submit(summary="Replaced"))
        version = self.version()
        self.assertEqual(version["summary"], "Replaced")
        self.assertEqual(version["requires_python"], "")
        self.assertEqual(len(version["+links"]), 1)

    def test_submit_to_another_users_index_is_403(self) -> None:
        bob = self.server.create_user("bob")
        form = {":action": "submit", "name": "hello-pkg", "version": "1.0"}
        reply = post_form(self.server, "alice/dev", form, {}, bob)
        self.assertEqual((reply.code, reply.phrase), (403, "no permission to submit"))


class DocUploadTests(UploadTestCase):
    def docs(self, files: Optional[dict[str, bytes]] = None) -> str:
        return make_doc_zip(self.fresh_dir(), files or {"index.html": b"<p>hello</p>"})

    def test_doc_upload_for_a_version(self) -> None:
        self.assertOK(self.upload(self.wheel()))
        docs = self.docs()
        self.assertOK(upload_docs(self.server, "alice/dev", docs, self.alice, "hello-pkg", "1.0"))
        [link] = self.links("doczip")
        digest = sha256_of(docs)
        self.assertEqual(
            link["href"], f"{HOST}/alice/dev/+f/{digest[:3]}/{digest[3:16]}/hello-pkg-1.0.doc.zip"
        )
        self.assertEqual(link["log"][0]["what"], "upload")
        self.assertEqual(self.get(link["href"]).body, read(docs))

    def test_doc_upload_without_version_goes_to_the_newest_version(self) -> None:
        for version in ("1.9", "1.10", "1.2"):
            self.assertOK(self.upload(self.wheel(version)))
        self.assertOK(upload_docs(self.server, "alice/dev", self.docs(), self.alice, "hello-pkg"))
        self.assertEqual(len(self.links("doczip", version="1.10")), 1)
        self.assertEqual(self.links("doczip", version="1.9"), [])

    def test_doc_upload_for_a_new_version_creates_it(self) -> None:
        self.assertOK(
            upload_docs(self.server, "alice/dev", self.docs(), self.alice, "hello-pkg", "7.7")
        )
        self.assertEqual(len(self.links("doczip", version="7.7")), 1)

    def test_new_doczip_replaces_the_old_on_a_volatile_index(self) -> None:
        self.assertOK(self.upload(self.wheel()))
        first = self.docs({"index.html": b"one"})
        second = self.docs({"index.html": b"two"})
        self.assertOK(upload_docs(self.server, "alice/dev", first, self.alice, "hello-pkg", "1.0"))
        self.assertOK(upload_docs(self.server, "alice/dev", second, self.alice, "hello-pkg", "1.0"))
        [link] = self.links("doczip")
        self.assertEqual(link["hashes"]["sha256"], sha256_of(second))
        self.assertFalse(self.server.blobs.exists(sha256_of(first)))


class AuthRefusalTests(RefusalTestCase):
    def test_no_credentials_is_401_with_a_basic_challenge(self) -> None:
        reply = upload(self.server, "alice/dev", self.wheel(), {})
        self.assertRefused(reply, 401, "no permission to submit: log in first")
        self.assertEqual(reply.header("www-authenticate"), 'Basic realm="pypi"')
        self.assertUnchanged()

    def test_wrong_password_is_401(self) -> None:
        reply = upload(self.server, "alice/dev", self.wheel(), basic_auth("alice", "wrong"))
        self.assertRefused(reply, 401, "user 'alice' could not be authenticated")
        self.assertEqual(reply.header("www-authenticate"), 'Basic realm="pypi"')
        self.assertUnchanged()

    def test_user_not_in_acl_upload_is_403(self) -> None:
        bob = self.server.create_user("bob")
        self.before = snapshot(self.server)
        reply = upload(self.server, "alice/dev", self.wheel(), bob)
        self.assertRefused(reply, 403, "no permission to submit")
        self.assertUnchanged()

    def test_root_is_not_implicitly_in_acl_upload(self) -> None:
        root = self.server.login("root", "")
        reply = upload(self.server, "alice/dev", self.wheel(), root)
        self.assertRefused(reply, 403, "no permission to submit")
        self.assertUnchanged()

    def test_authenticated_principal_still_refuses_anonymous(self) -> None:
        reply = self.server.request(
            "PATCH", "/alice/dev", ["acl_upload=:AUTHENTICATED:"], headers=self.alice
        )
        self.assertEqual(reply.code, 200, reply)
        self.before = snapshot(self.server)
        reply = upload(self.server, "alice/dev", self.wheel(), {})
        self.assertEqual(reply.code, 401, reply)
        self.assertUnchanged()

    def test_upload_to_a_mirror_is_404(self) -> None:
        root = self.server.login("root", "")
        reply = upload(self.server, "root/pypi", self.wheel(), root)
        self.assertRefused(reply, 404, "cannot submit to mirror index")
        self.assertUnchanged()


class BadInputTests(RefusalTestCase):
    def test_filename_not_matching_the_project_name(self) -> None:
        reply = self.upload(self.wheel(), filename="other_pkg-1.0-py3-none-any.whl")
        self.assertRefused(
            reply,
            400,
            "filename 'other_pkg-1.0-py3-none-any.whl' does not match project name 'hello-pkg'",
        )
        self.assertUnchanged()

    def test_filename_not_containing_the_version(self) -> None:
        reply = self.upload(self.wheel(), version="2.0")
        self.assertRefused(
            reply, 400, f"filename '{WHEEL}' does not contain version '2.0'"
        )
        self.assertUnchanged()

    def test_not_an_archive_name(self) -> None:
        reply = self.upload(self.wheel(), filename="hello_pkg-1.0.foo")
        self.assertRefused(reply, 400, "'hello_pkg-1.0.foo' is not a valid archive name")
        self.assertUnchanged()

    def test_bytes_that_are_not_an_archive(self) -> None:
        reply = self.upload(self.wheel(), content=b"this is not a zip file at all")
        self.assertRefused(reply, 400, f"'{WHEEL}' is not a valid zip archive")
        self.assertUnchanged()

    def test_truncated_wheel(self) -> None:
        wheel = self.wheel()
        reply = self.upload(wheel, content=read(wheel)[:-100])
        self.assertRefused(reply, 400, f"'{WHEEL}' is not a valid zip archive")
        self.assertUnchanged()

    def test_truncated_sdist(self) -> None:
        sdist = self.sdist()
        reply = self.upload(sdist, content=read(sdist)[:-30])
        self.assertRefused(reply, 400, f"'{SDIST}' is not a valid tar archive")
        self.assertUnchanged()

    def test_wheel_without_metadata(self) -> None:
        path = os.path.join(self.fresh_dir(), WHEEL)
        os.makedirs(os.path.dirname(path))
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("hello_pkg/__init__.py", "")
            archive.writestr("hello_pkg-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\n")
        fields = {":action": "file_upload", "name": "hello-pkg", "version": "1.0"}
        files = {"content": (WHEEL, read(path))}
        reply = post_form(self.server, "alice/dev", fields, files, self.alice)
        self.assertRefused(reply, 400, f"no METADATA found in '{WHEEL}'")
        self.assertUnchanged()

    def test_form_name_differs_from_the_files_metadata(self) -> None:
        wheel = self.wheel(metadata="Metadata-Version: 2.1\nName: other\nVersion: 1.0\n")
        reply = self.upload(wheel, name="hello-pkg")
        self.assertRefused(
            reply, 400, "form name 'hello-pkg' does not match the file's metadata name 'other'"
        )
        self.assertUnchanged()

    def test_form_version_differs_from_the_files_metadata(self) -> None:
        wheel = self.wheel(metadata="Metadata-Version: 2.1\nName: hello-pkg\nVersion: 1.1\n")
        reply = self.upload(wheel, version="1.0")
        self.assertRefused(
            reply, 400, "form version '1.0' does not match the file's metadata version '1.1'"
        )
        self.assertUnchanged()

    def test_md5_mismatch(self) -> None:
        wheel = self.wheel()
        md5 = hashlib.md5(read(wheel)).hexdigest()
        reply = self.upload(wheel, md5_digest="0" * 32)
        self.assertRefused(
            reply, 400,
            f"md5_digest mismatch: the uploaded {WHEEL} has md5 {md5}, the form says {'0' * 32}",
        )
        self.assertUnchanged()

    def test_sha256_mismatch(self) -> None:
        wheel = self.wheel()
        reply = self.upload(wheel, sha256_digest="0" * 64)
        self.assertRefused(
            reply, 400,
            f"sha256_digest mismatch: the uploaded {WHEEL} has sha256 {sha256_of(wheel)}, "
            f"the form says {'0' * 64}",
        )
        self.assertUnchanged()

    def test_blake2_256_mismatch(self) -> None:
        wheel = self.wheel()
        blake2 = hashlib.blake2b(read(wheel), digest_size=32).hexdigest()
        reply = self.upload(wheel, blake2_256_digest="f" * 64)
        self.assertRefused(
            reply, 400,
            f"blake2_256_digest mismatch: the uploaded {WHEEL} has blake2_256 {blake2}, "
            f"the form says {'f' * 64}",
        )
        self.assertUnchanged()

    def test_digests_in_upper_case_are_accepted(self) -> None:
        wheel = self.wheel()
        self.assertOK(self.upload(wheel, sha256_digest=sha256_of(wheel).upper()))

    def test_missing_content_field(self) -> None:
        fields = twine_fields(self.wheel())
        reply = post_form(self.server, "alice/dev", fields, {}, self.alice)
        self.assertRefused(reply, 400, "content file field not found")
        self.assertUnchanged()

    def test_content_sent_as_a_text_field(self) -> None:
        wheel = self.wheel()
        fields = {**twine_fields(wheel), "content": "not a file part"}
        reply = post_form(self.server, "alice/dev", fields, {}, self.alice)
        self.assertRefused(reply, 400, "content file field not found")
        self.assertUnchanged()

    def test_project_name_with_invalid_characters(self) -> None:
        reply = self.upload(self.wheel(), name="hello pkg!")
        self.assertRefused(
            reply, 400,
            "invalid metadata: Invalid package name. Names must contain only ASCII "
            "letters, digits, underscores, hyphens, and periods",
        )
        self.assertUnchanged()

    def test_project_name_starting_with_punctuation(self) -> None:
        reply = self.upload(self.wheel(), name="-hello-pkg")
        self.assertRefused(
            reply, 400,
            "invalid metadata: Invalid package name. "
            "Names must start with an ASCII letter or digit",
        )
        self.assertUnchanged()

    def test_project_name_ending_with_punctuation(self) -> None:
        reply = self.upload(self.wheel(), name="hello-pkg.")
        self.assertRefused(
            reply, 400,
            "invalid metadata: Invalid package name. Names must end with an ASCII letter or digit",
        )
        self.assertUnchanged()

    def test_missing_name(self) -> None:
        reply = self.upload(self.wheel(), name=None)
        self.assertRefused(reply, 400, 'invalid metadata: Missing required field "name"')
        self.assertUnchanged()

    def test_unknown_action(self) -> None:
        reply = self.upload(self.wheel(), **{":action": "frobnicate"})
        self.assertRefused(reply, 400, "action 'frobnicate' not supported")
        self.assertUnchanged()

    def test_body_that_is_not_multipart(self) -> None:
        reply = self.server.request(
            "POST", "/alice/dev/", data=b"garbage",
            headers={**self.alice, "Content-Type": "multipart/form-data; boundary=xyz"},
            accept_json=False,
        )
        self.assertRefused(reply, 400, "body ends before the final boundary")
        self.assertUnchanged()

    def test_multipart_without_boundary(self) -> None:
        reply = self.server.request(
            "POST", "/alice/dev/", data=b"garbage",
            headers={**self.alice, "Content-Type": "multipart/form-data"},
            accept_json=False,
        )
        self.assertRefused(reply, 400, "no boundary in the multipart/form-data content type")
        self.assertUnchanged()

    def test_body_cut_off_inside_the_file_leaves_no_temp_file(self) -> None:
        wheel = self.wheel()
        body, content_type = form_body(twine_fields(wheel), {"content": (WHEEL, read(wheel))})
        reply = self.server.request(
            "POST", "/alice/dev/", data=body[:-200],
            headers={**self.alice, "Content-Type": content_type},
            accept_json=False,
        )
        self.assertRefused(reply, 400, "body ends before the final boundary")
        self.assertUnchanged()

    def test_body_over_the_size_limit_is_413(self) -> None:
        server = MemoryServer(self.mktemp(), max_body_size=2000)
        self.addCleanup(server.close)
        alice = server.create_user("alice")
        self.assertEqual(server.request("PUT", "/alice/dev", {}, headers=alice).code, 200)
        before = snapshot(server)
        wheel = self.wheel(extra_files={"hello_pkg/data.bin": os.urandom(4000)})
        reply = upload(server, "alice/dev", wheel, alice)
        self.assertEqual((reply.code, reply.phrase), (413, "Request Entity Too Large"), reply)
        self.assertIn(b"request body larger than 2000 bytes", reply.body)
        self.assertEqual(snapshot(server), before)


class DocRefusalTests(RefusalTestCase):
    def refuse_docs(self, members: dict[str, bytes], message: str) -> None:
        docs = make_doc_zip(self.fresh_dir(), members)
        reply = upload_docs(self.server, "alice/dev", docs, self.alice, "hello-pkg", "0.9")
        self.assertRefused(reply, 400, message)
        self.assertUnchanged()
        # nothing was unpacked anywhere near the server directory
        test_dir = os.path.dirname(os.path.dirname(os.path.abspath(self.server.blobs.root)))
        for directory, _, names in os.walk(test_dir):
            self.assertNotIn("evil.html", names, directory)

    def test_doc_zip_with_dotdot_member_is_refused(self) -> None:
        self.refuse_docs(
            {"index.html": b"ok", "../evil.html": b"x"},
            "doc zip member '../evil.html' contains '..'",
        )

    def test_doc_zip_with_nested_dotdot_member_is_refused(self) -> None:
        self.refuse_docs(
            {"a/../../evil.html": b"x"}, "doc zip member 'a/../../evil.html' contains '..'"
        )

    def test_doc_zip_with_absolute_member_is_refused(self) -> None:
        self.refuse_docs(
            {"/tmp/evil.html": b"x"}, "doc zip member '/tmp/evil.html' has an absolute path"
        )

    def test_doc_upload_without_version_and_no_release(self) -> None:
        docs = make_doc_zip(self.fresh_dir(), {"index.html": b"ok"})
        reply = upload_docs(self.server, "alice/dev", docs, self.alice, "other-pkg")
        self.assertRefused(
            reply, 400, "doczip has no version and 'other-pkg' has no releases to derive one from"
        )
        self.assertUnchanged()

    def test_doc_upload_that_is_not_a_zip(self) -> None:
        path = os.path.join(self.fresh_dir(), "docs.zip")
        os.makedirs(os.path.dirname(path))
        with open(path, "wb") as f:
            f.write(b"not a zip")
        reply = upload_docs(self.server, "alice/dev", path, self.alice, "hello-pkg", "0.9")
        self.assertEqual(reply.code, 400, reply)
        self.assertUnchanged()


class VolatileTests(UploadTestCase):
    def test_identical_reupload_to_non_volatile_is_a_200_no_op(self) -> None:
        wheel = self.wheel()
        self.assertOK(self.upload(wheel, "alice/prod"))
        before = snapshot(self.server)
        reply = self.upload(wheel, "alice/prod")
        self.assertOK(reply, "Upload of identical file to non volatile index.")
        self.assertEqual(snapshot(self.server), before)

    def test_other_bytes_under_the_same_name_on_non_volatile_is_409(self) -> None:
        first = self.wheel(summary="First")
        self.assertOK(self.upload(first, "alice/prod"))
        before = snapshot(self.server)
        reply = self.upload(self.wheel(summary="Second"), "alice/prod")
        self.assertRefused(reply, 409, f"{WHEEL} already exists in non-volatile index")
        self.assertEqual(snapshot(self.server), before)
        [link] = self.links(index="alice/prod")
        self.assertEqual(self.get(link["href"]).body, read(first))

    def test_other_bytes_under_the_same_name_on_volatile_replace_the_file(self) -> None:
        first, second = self.wheel(summary="First"), self.wheel(summary="Second")
        self.assertOK(self.upload(first))
        old_href = self.links()[0]["href"]
        self.assertOK(self.upload(second))
        [link] = self.links()
        self.assertEqual(link["hashes"]["sha256"], sha256_of(second))
        self.assertEqual([entry["what"] for entry in link["log"]], ["overwrite"])
        self.assertEqual(self.version()["summary"], "Second")
        self.assertEqual(self.get(link["href"]).body, read(second))
        self.assertNotEqual(self.get(old_href).code, 200)
        # the old wheel and its METADATA are referred to by nothing: their files are gone
        blob_files = {os.path.basename(f) for f in disk_files(self.server)}
        second_meta = hashlib.sha256(read_metadata(second)).hexdigest()
        self.assertEqual(blob_files, {sha256_of(second), second_meta})

    def test_identical_reupload_to_volatile_changes_nothing(self) -> None:
        wheel = self.wheel()
        self.assertOK(self.upload(wheel))
        before = snapshot(self.server)
        self.assertOK(self.upload(wheel))
        self.assertEqual(snapshot(self.server), before)

    def test_deleting_a_release_on_non_volatile_is_403(self) -> None:
        self.assertOK(self.upload(self.wheel(), "alice/prod"))
        before = snapshot(self.server)
        reply = self.server.request("DELETE", "/alice/prod/hello-pkg/1.0", headers=self.alice)
        self.assertEqual(reply.code, 403, reply)
        self.assertEqual(reply.json["message"], "cannot delete version on non-volatile index")
        self.assertEqual(snapshot(self.server), before)

    def test_deleting_a_release_on_volatile_removes_its_files(self) -> None:
        self.assertOK(self.upload(self.wheel()))
        reply = self.server.request("DELETE", "/alice/dev/hello-pkg/1.0", headers=self.alice)
        self.assertEqual(reply.code, 200, reply)
        self.assertEqual(disk_files(self.server), set())
