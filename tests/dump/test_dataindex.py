"""Reading dataindex.json: devpi-server 6's real export, older dumpversions, and refusals naming the key."""

from __future__ import annotations

import json
import os
from typing import Any

from twisted.trial.unittest import TestCase

from devpi_twisted.dump.dataindex import read_dump
from devpi_twisted.dump.errors import DumpError
from tests.dump.exports import DEV, DEVPI6_EXPORT, WHEEL_1_0, copy_export, edit_dataindex, file_desc

SHA256_1_0 = "876ff945072c9771dd3f28db2668ebe3e3a19d4b24bd1049caf68ab16566a0ff"


class Devpi6ExportTests(TestCase):
    def setUp(self) -> None:
        self.dump = read_dump(DEVPI6_EXPORT)

    def test_users_and_indexes(self) -> None:
        self.assertEqual(self.dump.dumpversion, "2")
        self.assertEqual(self.dump.producer, "devpi-server 6.20.3")
        self.assertEqual(sorted(self.dump.users), ["alice", "bob", "root"])
        self.assertTrue(self.dump.users["alice"]["pwhash"].startswith("$argon2"))
        self.assertEqual(sorted(self.dump.indexes), ["alice/dev", "alice/mirror", "alice/prod", "root/pypi"])
        self.assertEqual(self.dump.indexes["alice/prod"].config["bases"], ["alice/dev"])

    def test_projects_by_normalized_name_keep_their_spelling(self) -> None:
        dev = self.dump.indexes[DEV]
        self.assertEqual(list(dev.projects), ["hello-pkg"])
        self.assertEqual(sorted(dev.projects["hello-pkg"]), ["1.0", "1.1"])
        self.assertEqual(dev.projects["hello-pkg"]["1.0"]["name"], "Hello.Pkg")

    def test_files(self) -> None:
        files = {desc.relpath: desc for desc in self.dump.indexes[DEV].files}
        self.assertEqual(len(files), 5)
        wheel = files[WHEEL_1_0]
        self.assertEqual((wheel.type, wheel.project, wheel.version), ("releasefile", "hello-pkg", "1.0"))
        self.assertEqual(wheel.hashes, {"sha256": SHA256_1_0})
        self.assertEqual(wheel.log[0]["who"], "alice")
        [toxresult] = [desc for desc in files.values() if desc.type == "toxresult"]
        self.assertTrue(toxresult.for_entrypath.endswith("/hello_pkg-1.0-py3-none-any.whl"))

    def test_mirror_has_no_projects(self) -> None:
        mirror = self.dump.indexes["alice/mirror"]
        self.assertEqual((mirror.projects, mirror.files), ({}, []))


class OldDumpTests(TestCase):
    """What devpi's importer migrates from dumps of older devpi-servers."""

    def setUp(self) -> None:
        self.directory = copy_export(self.mktemp())

    def test_dumpversion_1_has_versions_in_file_names_only(self) -> None:
        def change(data: dict[str, Any]) -> None:
            data["dumpversion"] = "1"
            for desc in data["indexes"][DEV]["files"]:
                del desc["version"]
                mapping = desc["entrymapping"]
                del mapping["hashes"]
                if desc["type"] == "doczip":
                    del mapping["hash_spec"]

        edit_dataindex(self.directory, change)
        dump = read_dump(self.directory)
        versions = {desc.basename: desc.version for desc in dump.indexes[DEV].files}
        self.assertEqual(versions["hello_pkg-1.1-py3-none-any.whl"], "1.1")
        self.assertEqual(versions["hello-pkg-1.0.doc.zip"], "1.0")
        self.assertEqual(sorted(set(versions.values())), ["1.0", "1.1"])
        files = {desc.relpath: desc for desc in dump.indexes[DEV].files}
        self.assertEqual(files[WHEEL_1_0].hashes, {"sha256": SHA256_1_0})
        self.assertEqual(files["alice/dev/hello-pkg-1.0.doc.zip"].hashes, {})

    def test_pypi_whitelist_becomes_mirror_whitelist(self) -> None:
        def change(data: dict[str, Any]) -> None:
            config = data["indexes"]["alice/prod"]["indexconfig"]
            del config["mirror_whitelist"]
            config["pypi_whitelist"] = ["six"]

        edit_dataindex(self.directory, change)
        config = read_dump(self.directory).indexes["alice/prod"].config
        self.assertEqual(config["mirror_whitelist"], ["six"])
        self.assertNotIn("pypi_whitelist", config)

    def test_toxresult_hash_of_its_release_file_is_dropped(self) -> None:
        def change(data: dict[str, Any]) -> None:
            for desc in data["indexes"][DEV]["files"]:
                if desc["type"] == "toxresult":
                    desc["entrymapping"]["hashes"] = {"sha256": SHA256_1_0}
                    desc["entrymapping"]["hash_spec"] = f"sha256={SHA256_1_0}"

        edit_dataindex(self.directory, change)
        [toxresult] = [d for d in read_dump(self.directory).indexes[DEV].files if d.type == "toxresult"]
        self.assertEqual(toxresult.hashes, {})

    def test_spellings_of_one_project_are_merged(self) -> None:
        def change(data: dict[str, Any]) -> None:
            projects = data["indexes"][DEV]["projects"]
            versions = projects.pop("hello-pkg")
            projects["Hello_Pkg"] = {"1.0": versions["1.0"]}
            projects["hello.pkg"] = {"1.1": versions["1.1"]}
            for desc in data["indexes"][DEV]["files"]:
                desc["projectname"] = "HELLO.pkg"

        edit_dataindex(self.directory, change)
        dev = read_dump(self.directory).indexes[DEV]
        self.assertEqual(list(dev.projects), ["hello-pkg"])
        self.assertEqual(sorted(dev.projects["hello-pkg"]), ["1.0", "1.1"])
        self.assertEqual({desc.project for desc in dev.files}, {"hello-pkg"})

    def test_version_missing_from_metadata_is_taken_from_its_key(self) -> None:
        edit_dataindex(
            self.directory, lambda data: data["indexes"][DEV]["projects"]["hello-pkg"]["1.1"].pop("version")
        )
        dump = read_dump(self.directory)
        self.assertEqual(dump.indexes[DEV].projects["hello-pkg"]["1.1"]["version"], "1.1")
        self.assertEqual(len(dump.notes), 1)
        self.assertIn('["hello-pkg"]["1.1"]', dump.notes[0])


class RefusalTests(TestCase):
    """Bad input: every message names dataindex.json and the key at fault."""

    def setUp(self) -> None:
        self.directory = copy_export(self.mktemp())
        self.path = os.path.join(os.path.abspath(self.directory), "dataindex.json")

    def refused(self, change: Any) -> str:
        edit_dataindex(self.directory, change)
        error = self.assertRaises(DumpError, read_dump, self.directory)
        return str(error)

    def test_no_dataindex(self) -> None:
        os.remove(self.path)
        message = str(self.assertRaises(DumpError, read_dump, self.directory))
        self.assertIn(f"{self.path} does not exist", message)

    def test_not_a_directory(self) -> None:
        message = str(self.assertRaises(DumpError, read_dump, self.path))
        self.assertIn("no export directory", message)

    def test_corrupt_json(self) -> None:
        with open(self.path, "r+") as f:
            f.truncate(100)
        message = str(self.assertRaises(DumpError, read_dump, self.directory))
        self.assertIn(f"{self.path} is corrupt (not JSON)", message)

    def test_not_an_object(self) -> None:
        with open(self.path, "w") as f:
            json.dump([1, 2], f)
        message = str(self.assertRaises(DumpError, read_dump, self.directory))
        self.assertEqual(message, f"{self.path}: top level: expected an object, found list")

    def test_unknown_dumpversion(self) -> None:
        message = self.refused(lambda data: data.update(dumpversion="3"))
        self.assertEqual(
            message, f"{self.path}: dumpversion: unknown dumpversion '3'; this version reads 1 and 2"
        )

    def test_missing_dumpversion(self) -> None:
        message = self.refused(lambda data: data.pop("dumpversion"))
        self.assertEqual(message, f"{self.path}: dumpversion: missing")

    def test_invalid_username(self) -> None:
        message = self.refused(lambda data: data["users"].update({"b b": {"pwhash": "x"}}))
        self.assertIn(f'{self.path}: users["b b"]: username \'b b\' contains characters', message)

    def test_invalid_index_name(self) -> None:
        message = self.refused(
            lambda data: data["indexes"].update({"alice/a:b": {"indexconfig": {"type": "stage"}}})
        )
        self.assertIn('indexes["alice/a:b"]: indexname', message)

    def test_index_config_missing(self) -> None:
        message = self.refused(lambda data: data["indexes"][DEV].pop("indexconfig"))
        self.assertIn(f'{self.path}: indexes["alice/dev"].indexconfig: expected an object', message)

    def test_unknown_file_type(self) -> None:
        message = self.refused(lambda data: file_desc(data, WHEEL_1_0).update(type="egg"))
        self.assertEqual(
            message, f'{self.path}: indexes["alice/dev"].files[1].type: unknown file type \'egg\''
        )

    def test_relpath_leaving_the_export(self) -> None:
        message = self.refused(
            lambda data: file_desc(data, WHEEL_1_0).update(relpath="alice/../../../etc/passwd")
        )
        self.assertIn('indexes["alice/dev"].files[1].relpath', message)
        self.assertIn("not a safe relative path", message)

    def test_file_listed_twice(self) -> None:
        def change(data: dict[str, Any]) -> None:
            files = data["indexes"][DEV]["files"]
            files.append(dict(files[0]))

        self.assertIn("is listed twice", self.refused(change))

    def test_toxresult_without_its_release_file(self) -> None:
        def change(data: dict[str, Any]) -> None:
            files = data["indexes"][DEV]["files"]
            files.remove(file_desc(data, WHEEL_1_0))

        message = self.refused(change)
        self.assertIn(".for_entrypath: no release file 'hello_pkg-1.0-py3-none-any.whl'", message)

    def test_invalid_version(self) -> None:
        message = self.refused(lambda data: file_desc(data, WHEEL_1_0).update(version="1/0"))
        self.assertIn('indexes["alice/dev"].files[1].version', message)

    def test_metadata_name_of_another_project(self) -> None:
        message = self.refused(
            lambda data: data["indexes"][DEV]["projects"]["hello-pkg"]["1.0"].update(name="other")
        )
        self.assertIn(
            '["hello-pkg"]["1.0"].name: \'other\' is not a name of project \'hello-pkg\'', message
        )
