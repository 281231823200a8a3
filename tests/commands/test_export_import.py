"""devpi-twisted export and import: devpi-server 6's export, round trips, and refusals that import nothing."""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

from twisted.trial.unittest import TestCase

from devpi_twisted import __version__
from devpi_twisted.auth.passwords import PasswordHasher
from devpi_twisted.commands.offline import open_offline
from devpi_twisted.model import keys
from devpi_twisted.model.indexes import root_pypi_config
from devpi_twisted.serverdir import BLOBS, open_serverdir
from tests.commands.console import Outcome, run_command
from tests.dists.archives import make_doc_zip, make_sdist, make_wheel
from tests.dump.exports import (
    DEV,
    DEVPI6_EXPORT,
    WHEEL_1_0,
    copy_export,
    edit_dataindex,
    file_desc,
    read_dataindex,
)
from tests.support import MemoryServer, RunningServer, result_of, run_inline, server_options
from tests.web.forms import upload, upload_docs

HOST = "http://devpi.test"


def stored(serverdir: str) -> dict[str, Any]:
    """Every key of a server directory's store and its value."""
    with open_offline(serverdir) as server:
        return {key: server.store.get(key) for key in server.store._values}


def blob_bytes(serverdir: str, sha256: str) -> bytes:
    with open(os.path.join(serverdir, BLOBS, sha256[:2], sha256[2:4], sha256), "rb") as f:
        return f.read()


def dump_bytes(relpath: str) -> bytes:
    with open(os.path.join(DEVPI6_EXPORT, relpath), "rb") as f:
        return f.read()


class CommandTestCase(TestCase):
    def setUp(self) -> None:
        self.base = os.path.abspath(self.mktemp())
        os.makedirs(self.base)
        self.serverdir = os.path.join(self.base, "server")

    def import_(self, export: str = DEVPI6_EXPORT, *options: str) -> Outcome:
        return run_command("import", "--serverdir", self.serverdir, *options, export)

    def imported(self, export: str = DEVPI6_EXPORT, *options: str) -> Outcome:
        outcome = self.import_(export, *options)
        self.assertEqual(outcome.code, 0, outcome)
        return outcome

    def assertNothingImported(self, outcome: Outcome, *message: str) -> None:
        """Refused with C{message} parts in the error, and no server directory left behind."""
        self.assertEqual(outcome.code, 1, outcome)
        for part in message:
            self.assertIn(part, outcome.err)
        self.assertNotIn("server", os.listdir(self.base))
        self.assertFalse([name for name in os.listdir(self.base) if ".partial-" in name])


class ImportDevpi6Tests(CommandTestCase):
    """The real devpi-server 6.20.3 export of tests/data/devpi6-export."""

    def setUp(self) -> None:
        super().setUp()
        self.outcome = self.imported()
        self.state = stored(self.serverdir)
        self.dump = read_dataindex(DEVPI6_EXPORT)

    def test_reports_what_it_imported(self) -> None:
        self.assertIn("written by devpi-server 6.20.3", self.outcome.out)
        self.assertIn("imported 3 users, 4 indexes, 2 projects and 9 files", self.outcome.out)
        self.assertEqual(self.outcome.err, "")

    def test_users_keep_their_password_hashes_which_we_verify(self) -> None:
        alice = self.state[keys.user("alice")]
        dumped = self.dump["users"]["alice"]
        self.assertEqual(
            alice,
            {key: dumped[key] for key in ("pwhash", "email", "title", "created")},
        )
        hasher = PasswordHasher(run_inline)
        self.assertTrue(result_of(hasher.verify("alicepw", alice["pwhash"])))
        self.assertFalse(result_of(hasher.verify("bobpw", alice["pwhash"])))
        self.assertEqual(self.state[keys.user("root")]["pwhash"], self.dump["users"]["root"]["pwhash"])

    def test_index_configs_are_devpis(self) -> None:
        for name, index in self.dump["indexes"].items():
            self.assertEqual(self.state[keys.index(*name.split("/"))], index["indexconfig"], name)

    def test_versions_keep_their_metadata(self) -> None:
        record = self.state[keys.version("alice", "dev", "hello-pkg", "1.0")]
        metadata = self.dump["indexes"][DEV]["projects"]["hello-pkg"]["1.0"]
        self.assertEqual({key: record[key] for key in metadata}, metadata)
        self.assertEqual(self.state[keys.project("alice", "dev", "hello-pkg")], {"name": "Hello.Pkg"})

    def test_release_files_are_stored_under_their_hash_with_their_history(self) -> None:
        desc = file_desc(self.dump, WHEEL_1_0)
        sha256 = desc["entrymapping"]["hashes"]["sha256"]
        relpath = f"alice/dev/+f/{sha256[:3]}/{sha256[3:16]}/hello_pkg-1.0-py3-none-any.whl"
        entry = self.state[keys.file(relpath)]
        self.assertEqual(entry["last_modified"], desc["entrymapping"]["last_modified"])
        self.assertEqual(entry["upload_time"][:19], "2026-11-25T14:19:41")
        self.assertEqual(blob_bytes(self.serverdir, sha256), dump_bytes(WHEEL_1_0))
        # the wheel's METADATA is served as uploads serve it (PEP 658)
        metadata = blob_bytes(self.serverdir, entry["core_metadata_sha256"])
        self.assertIn(b"Name: Hello.Pkg", metadata)
        record = self.state[keys.version("alice", "dev", "hello-pkg", "1.0")]
        [link] = [link for link in record["+elinks"] if link["entrypath"] == relpath]
        self.assertEqual(link["_log"], desc["log"])
        sdist = "alice/dev/+f/df6/843416f32280f/hello_pkg-1.0.tar.gz"
        self.assertNotIn("core_metadata_sha256", self.state[keys.file(sdist)])

    def test_toxresults_and_docs(self) -> None:
        record = self.state[keys.version("alice", "prod", "hello-pkg", "1.0")]
        links = {link["rel"]: link for link in record["+elinks"]}
        wheel = "alice/prod/+f/876/ff945072c9771/hello_pkg-1.0-py3-none-any.whl"
        self.assertEqual(links["toxresult"]["for_entrypath"], wheel)
        self.assertTrue(links["toxresult"]["entrypath"].startswith(wheel + ".toxresult-"))
        self.assertTrue(links["doczip"]["entrypath"].endswith("/hello-pkg-1.0.doc.zip"))
        self.assertEqual([entry["what"] for entry in links["doczip"]["_log"]], ["upload", "push"])
        doc = self.state[keys.file(links["doczip"]["entrypath"])]
        self.assertEqual(
            blob_bytes(self.serverdir, doc["sha256"]), dump_bytes("alice/prod/hello-pkg-1.0.doc.zip")
        )

    def test_exporting_again_gives_devpis_dump(self) -> None:
        export = os.path.join(self.base, "export")
        outcome = run_command("export", "--serverdir", self.serverdir, export)
        self.assertEqual(outcome.code, 0, outcome)
        ours = read_dataindex(export)
        self.assertEqual(ours["dumpversion"], "2")
        self.assertEqual(ours["users"], self.dump["users"])
        for name, index in self.dump["indexes"].items():
            mine = dict(ours["indexes"][name])
            files = {desc["relpath"]: desc for desc in mine.pop("files", [])}
            for desc in files.values():
                del desc["entrymapping"]["upload_time"]  # ours, which devpi ignores
            self.assertEqual(files, {desc["relpath"]: desc for desc in index.get("files", [])})
            self.assertEqual(mine, {key: value for key, value in index.items() if key != "files"})
            for desc in index.get("files", []):
                with open(os.path.join(export, desc["relpath"]), "rb") as f:
                    self.assertEqual(f.read(), dump_bytes(desc["relpath"]))


class ServeImportedTests(CommandTestCase):
    """A real server on the imported directory serves what devpi-server served."""

    async def test_login_pages_and_export_while_running(self) -> None:
        self.imported()
        server = RunningServer(server_options(self.serverdir))
        await server.start()
        self.addCleanup(server.stop)
        reply = await server.request("POST", "/+login", {"user": "alice", "password": "alicepw"})
        self.assertEqual(reply.code, 200, reply)
        reply = await server.request("GET", "/alice/prod/+simple/hello-pkg/", headers={"Accept": "text/html"})
        self.assertEqual(reply.code, 200, reply)
        for name in (b"hello_pkg-1.0.tar.gz", b"hello_pkg-1.0-py3-none-any.whl", b"hello_pkg-1.1-py3"):
            self.assertIn(name, reply.body)
        reply = await server.request(
            "GET", "/alice/dev/+f/876/ff945072c9771/hello_pkg-1.0-py3-none-any.whl", headers={"Accept": "*/*"}
        )
        self.assertEqual(reply.body, dump_bytes(WHEEL_1_0))
        # export reads a consistent state while the server runs
        outcome = run_command("export", "--serverdir", self.serverdir, os.path.join(self.base, "export"))
        self.assertEqual(outcome.code, 0, outcome)
        self.assertIn("exported 3 users, 4 indexes, 2 projects and 9 files", outcome.out)


class RoundTripTests(CommandTestCase):
    """What devpi-twisted stored comes back exactly after export and import."""

    def setUp(self) -> None:
        super().setUp()
        self.source = os.path.join(self.base, "source")
        open_serverdir(self.source).close()
        server = MemoryServer(self.source)
        try:
            self.fill(server)
        finally:
            server.close()
        self.export = os.path.join(self.base, "export")

    def fill(self, server: MemoryServer) -> None:
        alice = server.create_user("alice", "alicepw")
        reply = server.request("PATCH", "/alice", {"email": "alice@example.com"}, headers=alice)
        self.assertEqual(reply.code, 200, reply)
        for name, config in [
            ("dev", {"bases": ["root/pypi"], "mirror_whitelist": ["hello-pkg"]}),
            ("prod", {"bases": ["alice/dev"], "volatile": False}),
            ("mirror", {"type": "mirror", "mirror_url": "http://127.0.0.1:9/simple/"}),
        ]:
            self.assertEqual(server.request("PUT", f"/alice/{name}", config, headers=alice).code, 200)
        files = os.path.join(self.base, "files")
        for path in (
            make_wheel(files, "Hello.Pkg", "1.0", requires_python=">=3.8"),
            make_sdist(files, "Hello.Pkg", "1.0"),
            make_wheel(files, "Hello.Pkg", "1.1"),
        ):
            self.assertEqual(upload(server, "alice/dev", path, alice).code, 200)
        docs = make_doc_zip(files, {"index.html": b"<p>docs</p>"})
        self.assertEqual(upload_docs(server, "alice/dev", docs, alice, "Hello.Pkg", "1.0").code, 200)
        wheel = sha256_path("alice/dev", os.path.join(files, "hello_pkg-1.0-py3-none-any.whl"))
        report = b'{"testenvs": {"py3": {"test": [{"retcode": 0}]}}}'
        reply = server.request("POST", "/" + wheel, data=report, headers={"Content-Type": "application/json"})
        self.assertEqual(reply.code, 200, reply)
        reply = server.request("PATCH", "/alice/dev/hello-pkg/1.1", {"yanked": "broken"}, headers=alice)
        self.assertEqual(reply.code, 200, reply)
        push = {"name": "hello-pkg", "version": "1.0", "targetindex": "alice/prod"}
        self.assertEqual(server.request("PUSH", "/alice/dev", push, headers=alice).code, 200)

    def test_import_of_the_export_stores_the_same(self) -> None:
        outcome = run_command("export", "--serverdir", self.source, self.export)
        self.assertEqual(outcome.code, 0, outcome)
        self.assertIn("exported 2 users, 4 indexes, 2 projects and 9 files", outcome.out)
        self.imported(self.export)
        before, after = stored(self.source), stored(self.serverdir)
        for state in (before, after):
            for key, value in state.items():
                if key.startswith("version/"):
                    value["+elinks"].sort(key=lambda link: link["entrypath"])
        self.assertEqual(sorted(before), sorted(after))
        for key in before:
            self.assertEqual(after[key], before[key], key)
        self.assertEqual(after[keys.version("alice", "dev", "hello-pkg", "1.1")]["yanked"], "broken")

    def test_export_carries_our_extras_where_devpi_ignores_them(self) -> None:
        self.assertEqual(run_command("export", "--serverdir", self.source, self.export).code, 0)
        dump = read_dataindex(self.export)
        self.assertEqual(dump["devpi_twisted"], __version__)
        self.assertNotIn("devpi_server", dump)
        dev = dump["indexes"][DEV]
        self.assertEqual(dev["devpi_twisted"], {"yanked": {"hello-pkg": {"1.1": "broken"}}})
        self.assertNotIn("yanked", dev["projects"]["hello-pkg"]["1.1"])
        self.assertIn("upload_time", dev["files"][0]["entrymapping"])
        self.assertEqual(dump["indexes"]["alice/mirror"], {"indexconfig": {
            "type": "mirror", "volatile": True, "mirror_url": "http://127.0.0.1:9/simple/"}})

    def test_export_refuses_a_directory_that_is_not_empty(self) -> None:
        os.makedirs(self.export)
        open(os.path.join(self.export, "keep"), "w").close()
        outcome = run_command("export", "--serverdir", self.source, self.export)
        self.assertEqual(outcome.code, 1, outcome)
        self.assertIn(f"{self.export} exists and is not empty", outcome.err)
        self.assertEqual(os.listdir(self.export), ["keep"])

    def test_export_refuses_a_missing_file_and_leaves_no_export(self) -> None:
        blobs = os.path.join(self.source, BLOBS)
        doc = next(
            value for key, value in stored(self.source).items()
            if key.startswith("file/") and key.endswith(".doc.zip")
        )
        os.remove(os.path.join(blobs, doc["sha256"][:2], doc["sha256"][2:4], doc["sha256"]))
        outcome = run_command("export", "--serverdir", self.source, self.export)
        self.assertEqual(outcome.code, 1, outcome)
        self.assertIn(f"(sha256 {doc['sha256']}) is missing from the blob store", outcome.err)
        self.assertFalse([name for name in os.listdir(self.base) if "export" in name])

    def test_export_of_no_server_directory(self) -> None:
        outcome = run_command("export", "--serverdir", os.path.join(self.base, "nothing"), self.export)
        self.assertEqual(outcome.code, 1, outcome)
        self.assertIn("there is no server directory", outcome.err)


def sha256_path(index: str, path: str) -> str:
    with open(path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    return f"{index}/+f/{digest[:3]}/{digest[3:16]}/{os.path.basename(path)}"


class ImportInputTests(CommandTestCase):
    """Edited copies of devpi-server 6's export: refusals import nothing, fixable input warns."""

    def setUp(self) -> None:
        super().setUp()
        self.export = copy_export(os.path.join(self.base, "export"))

    def test_server_directory_with_data(self) -> None:
        self.imported(self.export)
        before = stored(self.serverdir)
        outcome = self.import_(self.export)
        self.assertEqual(outcome.code, 1, outcome)
        self.assertIn(
            f"{self.serverdir} is not empty: import into a new server directory, or add --merge", outcome.err
        )
        self.assertEqual(stored(self.serverdir), before)

    def test_merge_adds_to_a_server_and_keeps_its_root(self) -> None:
        self.assertEqual(run_command("init", "--serverdir", self.serverdir, "--root-passwd", "mine").code, 0)
        root = stored(self.serverdir)[keys.user("root")]
        outcome = self.imported(self.export, "--merge")
        self.assertIn("keeping the server's root user", outcome.out)
        state = stored(self.serverdir)
        self.assertEqual(state[keys.user("root")], root)
        self.assertIn(keys.version("alice", "prod", "hello-pkg", "1.0"), state)

    def test_merge_refuses_users_and_indexes_the_server_has(self) -> None:
        self.imported(self.export)
        before = stored(self.serverdir)
        outcome = self.import_(self.export, "--merge")
        self.assertEqual(outcome.code, 1, outcome)
        self.assertIn(
            "already has user bob, user alice, index alice/dev, index alice/prod, index alice/mirror;"
            " nothing was imported",
            outcome.err,
        )
        self.assertEqual(stored(self.serverdir), before)

    def test_merge_refused_for_an_altered_file_leaves_no_file_behind(self) -> None:
        self.assertEqual(run_command("init", "--serverdir", self.serverdir).code, 0)
        before = stored(self.serverdir)
        with open(os.path.join(self.export, "alice/prod/hello-pkg-1.0.doc.zip"), "ab") as f:
            f.write(b"tampered")
        outcome = self.import_(self.export, "--merge")
        self.assertEqual(outcome.code, 1, outcome)
        self.assertIn("alice/prod/hello-pkg-1.0.doc.zip: its sha256 is", outcome.err)
        self.assertEqual(stored(self.serverdir), before)
        blobs = os.path.join(self.serverdir, BLOBS)
        self.assertEqual([names for _, _, names in os.walk(blobs) if names], [])

    def test_missing_file(self) -> None:
        os.remove(os.path.join(self.export, "alice/prod/hello-pkg-1.0.doc.zip"))
        self.assertNothingImported(
            self.import_(self.export),
            f"{self.export}/alice/prod/hello-pkg-1.0.doc.zip is missing",
            'lists it at indexes["alice/prod"].files[3]',
        )

    def test_file_with_other_bytes_than_its_hash(self) -> None:
        with open(os.path.join(self.export, WHEEL_1_0), "ab") as f:
            f.write(b"tampered")
        self.assertNothingImported(
            self.import_(self.export),
            f"{self.export}/{WHEEL_1_0}: its sha256 is ",
            'but indexes["alice/dev"].files[1] records 876ff945',
        )

    def test_corrupt_dataindex(self) -> None:
        with open(os.path.join(self.export, "dataindex.json"), "r+") as f:
            f.truncate(500)
        self.assertNothingImported(
            self.import_(self.export), f"{self.export}/dataindex.json is corrupt (not JSON)"
        )

    def test_unknown_dumpversion(self) -> None:
        edit_dataindex(self.export, lambda data: data.update(dumpversion="9"))
        self.assertNothingImported(self.import_(self.export), "dumpversion: unknown dumpversion '9'")

    def test_invalid_index_config(self) -> None:
        edit_dataindex(
            self.export,
            lambda data: data["indexes"]["alice/mirror"]["indexconfig"].update(mirror_url="ftp:x"),
        )
        self.assertNothingImported(
            self.import_(self.export),
            'indexes["alice/mirror"].indexconfig: \'mirror_url\' option must be a URL',
        )

    def test_unknown_index_type_unless_skipped(self) -> None:
        edit_dataindex(
            self.export, lambda data: data["indexes"]["alice/mirror"]["indexconfig"].update(type="plugin")
        )
        self.assertNothingImported(
            self.import_(self.export),
            "unknown index type 'plugin'; leave such indexes out with --skip-import-type plugin",
        )
        self.imported(self.export, "--skip-import-type", "plugin")
        self.assertNotIn(keys.index("alice", "mirror"), stored(self.serverdir))

    def test_bases_cycle_and_missing_base_are_dropped_with_a_warning(self) -> None:
        def change(data: dict[str, Any]) -> None:
            data["indexes"][DEV]["indexconfig"]["bases"] = ["root/pypi", "alice/prod"]
            data["indexes"]["alice/prod"]["indexconfig"]["bases"] = ["alice/dev", "carol/gone"]

        edit_dataindex(self.export, change)
        outcome = self.imported(self.export)
        self.assertIn("warning: alice/prod: dropped base carol/gone: no such index", outcome.err)
        self.assertIn(
            "warning: alice/prod: dropped base alice/dev: it would form a cycle"
            " alice/dev -> alice/prod -> alice/dev",
            outcome.err,
        )
        state = stored(self.serverdir)
        self.assertEqual(state[keys.index("alice", "dev")]["bases"], ["root/pypi", "alice/prod"])
        self.assertEqual(state[keys.index("alice", "prod")]["bases"], [])
        self.assertIn(keys.version("alice", "prod", "hello-pkg", "1.0"), state)

    def test_names_are_normalized(self) -> None:
        def change(data: dict[str, Any]) -> None:
            dev = data["indexes"][DEV]
            versions = dev["projects"].pop("hello-pkg")
            dev["projects"]["Hello_Pkg"] = {"1.0": versions["1.0"]}
            dev["projects"]["hello.pkg"] = {"1.1": versions["1.1"]}
            for desc in dev["files"]:
                desc["projectname"] = "HELLO_pkg"
            dev["indexconfig"].update(mirror_whitelist=["Hello.Pkg"], acl_toxresult_upload=[":anonymous:"])

        edit_dataindex(self.export, change)
        self.imported(self.export)
        state = stored(self.serverdir)
        self.assertEqual(state[keys.index("alice", "dev")]["mirror_whitelist"], ["hello-pkg"])
        self.assertEqual(state[keys.index("alice", "dev")]["acl_toxresult_upload"], [":ANONYMOUS:"])
        self.assertEqual(
            [key for key in state if key.startswith("version/alice/dev/")],
            [keys.version("alice", "dev", "hello-pkg", v) for v in ("1.0", "1.1")],
        )
        record = state[keys.version("alice", "dev", "hello-pkg", "1.0")]
        self.assertEqual(
            sorted(link["rel"] for link in record["+elinks"]),
            ["doczip", "releasefile", "releasefile", "toxresult"],
        )

    def test_root_and_root_pypi_missing_from_the_dump_are_created_like_init(self) -> None:
        def change(data: dict[str, Any]) -> None:
            del data["users"]["root"]
            del data["indexes"]["root/pypi"]

        edit_dataindex(self.export, change)
        outcome = self.imported(self.export)
        self.assertIn("warning: the dump has no root user: root gets an empty password", outcome.err)
        state = stored(self.serverdir)
        self.assertTrue(result_of(PasswordHasher(run_inline).verify("", state[keys.user("root")]["pwhash"])))
        self.assertEqual(state[keys.index("root", "pypi")], root_pypi_config())
        self.assertEqual(state[keys.index("alice", "dev")]["bases"], ["root/pypi"])

    def test_plugin_keys_and_legacy_password_hashes_are_reported(self) -> None:
        def change(data: dict[str, Any]) -> None:
            data["users"]["bob"]["pwsalt"] = "salt"
            data["indexes"][DEV]["indexconfig"]["constraints"] = ["foo<2"]

        edit_dataindex(self.export, change)
        outcome = self.imported(self.export)
        self.assertIn("warning: user bob: has a salted sha256 password hash", outcome.err)
        self.assertIn(
            "warning: index alice/dev: dropped config keys devpi-twisted does not know: constraints",
            outcome.err,
        )
        self.assertNotIn("pwsalt", json.dumps(stored(self.serverdir)[keys.user("bob")]))
