"""Releases model on a real store: files, docs, toxresults, deletion, yanking, blob references."""

from __future__ import annotations

import hashlib
import os
from typing import Any, Callable, Optional, TypeVar

from twisted.internet.task import Clock
from twisted.trial.unittest import TestCase

from devpi_twisted.model import keys, releases
from devpi_twisted.model.errors import Conflict, Forbidden, InvalidInput, NotFound
from devpi_twisted.model.indexes import mirror_defaults, stage_defaults
from devpi_twisted.model.releases import Outcome, StoredBlob
from devpi_twisted.store.changelog import Store, Transaction
from devpi_twisted.store.sqlite import SQLiteBackend
from tests.support import run_inline

T = TypeVar("T")
NOW = 1_800_000_000.0
STAMP = "20270115080000"  # NOW as a toxresult time stamp
SDIST = "hello_pkg-1.0.tar.gz"
WHEEL = "hello_pkg-1.0-py3-none-any.whl"


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def blob(filename: str, data: bytes, core: Optional[bytes] = None) -> StoredBlob:
    """A blob as the upload code hands it over (the bytes need not exist here)."""
    core_sha256 = None if core is None else sha256_of(core)
    return StoredBlob(filename, sha256_of(data), len(data), core_sha256)


class ReleasesTestCase(TestCase):
    """User alice with volatile alice/dev, non-volatile alice/prod and mirror alice/mirror."""

    def setUp(self) -> None:
        path = self.mktemp()
        os.makedirs(path)
        self.clock = Clock()
        self.clock.advance(NOW)
        backend = SQLiteBackend(os.path.join(path, "store.sqlite"))
        self.store = Store(backend, run_inline, self.clock)
        self.addCleanup(self.store.close)
        prod = stage_defaults("alice")
        prod["volatile"] = False

        def populate(txn: Transaction) -> None:
            txn.set(keys.user("alice"), {"username": "alice"})
            txn.set(keys.index("alice", "dev"), stage_defaults("alice"))
            txn.set(keys.index("alice", "prod"), prod)
            txn.set(keys.index("alice", "mirror"), mirror_defaults("alice"))

        self.transact(populate)

    def transact(self, work: Callable[[Transaction], T]) -> T:
        return self.store.transact_now(work).result

    def add(
        self,
        filename: str = SDIST,
        data: bytes = b"sdist bytes",
        index: str = "alice/dev",
        version: str = "1.0",
        name: str = "Hello.Pkg",
        core: Optional[bytes] = None,
        who: Optional[str] = "alice",
        **metadata: Any,
    ) -> Outcome:
        username, indexname = index.split("/")
        meta = {"name": name, "version": version, **metadata}
        stored = blob(filename, data, core)
        return self.transact(
            lambda txn: releases.add_release_file(
                txn, username, indexname, meta, stored, who, self.clock.seconds()
            )
        )

    def add_doc(
        self, data: bytes = b"doc zip", version: Optional[str] = "1.0", index: str = "alice/dev"
    ) -> Outcome:
        username, indexname = index.split("/")
        return self.transact(
            lambda txn: releases.add_doczip(
                txn, username, indexname, "Hello.Pkg", version, blob("docs.zip", data), "alice", NOW
            )
        )

    def add_toxresult(self, for_relpath: str, data: bytes = b'{"tox": 1}') -> Outcome:
        return self.transact(
            lambda txn: releases.add_toxresult(
                txn, "alice", "dev", for_relpath, blob("toxresult", data), None, NOW
            )
        )

    def version(self, version: str = "1.0", index: str = "alice/dev") -> Optional[dict[str, Any]]:
        username, indexname = index.split("/")
        result: Optional[dict[str, Any]] = self.store.get(
            keys.version(username, indexname, "hello-pkg", version)
        )
        return result

    def links(self, version: str = "1.0", index: str = "alice/dev") -> list[dict[str, Any]]:
        record = self.version(version, index)
        assert record is not None
        return list(record["+elinks"])

    def refs(self, data: bytes) -> Optional[list[str]]:
        """The relpaths referring to the blob of C{data}, or None without a record."""
        record = self.store.get(keys.blob(sha256_of(data)))
        return None if record is None else list(record["refs"])

    def assertUnchanged(self, change: Callable[[Transaction], Any]) -> None:
        """C{change} fails and the store stays at its serial."""
        serial = self.store.serial
        self.assertRaises(Exception, self.transact, change)
        self.assertEqual(self.store.serial, serial)


class AddReleaseFileTests(ReleasesTestCase):
    def test_relpath_is_devpis_layout(self) -> None:
        sha = sha256_of(b"sdist bytes")
        outcome = self.add()
        self.assertEqual(outcome, Outcome(f"alice/dev/+f/{sha[:3]}/{sha[3:16]}/{SDIST}"))

    def test_project_record_keeps_the_first_spelling_under_the_normalized_name(self) -> None:
        self.add()
        self.add(WHEEL, b"wheel", name="hello_pkg")
        record = self.store.get(keys.project("alice", "dev", "hello-pkg"))
        self.assertEqual(record, {"name": "Hello.Pkg"})
        self.assertEqual(self.store.children(keys.projects_of("alice", "dev")), ["hello-pkg"])

    def test_version_record_has_every_metadata_key(self) -> None:
        self.add(requires_python=">=3.8", summary="hi")
        record = self.version()
        assert record is not None
        self.assertEqual(record["name"], "Hello.Pkg")
        self.assertEqual(record["version"], "1.0")
        self.assertEqual(record["requires_python"], ">=3.8")
        self.assertEqual(record["summary"], "hi")
        self.assertEqual(record["classifiers"], [])
        self.assertEqual(record["author"], "")

    def test_link_with_hashes_and_upload_log(self) -> None:
        relpath = self.add().relpath
        sha = sha256_of(b"sdist bytes")
        self.assertEqual(
            self.links(),
            [
                {
                    "rel": "releasefile",
                    "entrypath": relpath,
                    "hash_spec": f"sha256={sha}",
                    "hashes": {"sha256": sha},
                    "_log": [
                        {
                            "what": "upload",
                            "who": "alice",
                            "when": [2027, 1, 15, 8, 0, 0],
                            "dst": "alice/dev",
                        }
                    ],
                }
            ],
        )

    def test_file_entry(self) -> None:
        relpath = self.add().relpath
        self.assertEqual(
            releases.get_file(self.store, relpath),
            {
                "sha256": sha256_of(b"sdist bytes"),
                "size": len(b"sdist bytes"),
                "last_modified": "Fri, 15 Jan 2027 08:00:00 GMT",
                "upload_time": "2027-01-15T08:00:00.000000Z",
                "project": "hello-pkg",
                "version": "1.0",
                "rel": "releasefile",
            },
        )

    def test_blob_reference_recorded(self) -> None:
        relpath = self.add().relpath
        self.assertEqual(self.refs(b"sdist bytes"), [relpath])

    def test_core_metadata_is_a_reference_of_its_own(self) -> None:
        relpath = self.add(WHEEL, b"wheel", core=b"Metadata-Version: 2.1\n").relpath
        self.assertEqual(self.refs(b"Metadata-Version: 2.1\n"), [relpath + ".metadata"])
        entry = releases.get_file(self.store, relpath)
        self.assertEqual(entry["core_metadata_sha256"], sha256_of(b"Metadata-Version: 2.1\n"))

    def test_same_bytes_on_two_indexes_count_twice(self) -> None:
        one = self.add().relpath
        two = self.add(index="alice/prod").relpath
        self.assertNotEqual(one, two)
        self.assertEqual(self.refs(b"sdist bytes"), sorted([one, two]))

    def test_second_file_of_a_version_updates_the_metadata_it_gives(self) -> None:
        self.add(summary="first", requires_python=">=3.8")
        self.add(WHEEL, b"wheel", summary="second")
        record = self.version()
        assert record is not None
        self.assertEqual(record["summary"], "second")
        self.assertEqual(record["requires_python"], ">=3.8")
        names = [link["entrypath"].rsplit("/", 1)[1] for link in record["+elinks"]]
        self.assertEqual(names, [SDIST, WHEEL])

    def test_identical_re_add_is_a_no_op(self) -> None:
        first = self.add()
        serial = self.store.serial
        again = self.add()
        self.assertEqual(again, Outcome(first.relpath, identical=True))
        self.assertEqual(self.store.serial, serial)
        self.assertEqual(len(self.links()), 1)

    def test_identical_re_add_on_non_volatile_index_is_a_no_op(self) -> None:
        first = self.add(index="alice/prod")
        self.assertEqual(self.add(index="alice/prod"), Outcome(first.relpath, identical=True))

    def test_overwrite_on_volatile_index_replaces_the_file(self) -> None:
        old = self.add().relpath
        new = self.add(data=b"other bytes").relpath
        links = self.links()
        self.assertEqual([link["entrypath"] for link in links], [new])
        self.assertEqual(links[0]["_log"][0]["what"], "overwrite")
        self.assertIsNone(self.store.get(keys.file(old)))
        self.assertIsNone(self.refs(b"sdist bytes"))
        self.assertEqual(self.refs(b"other bytes"), [new])

    def test_overwrite_on_non_volatile_index_is_a_conflict(self) -> None:
        self.add(index="alice/prod")
        serial = self.store.serial
        error = self.assertRaises(Conflict, self.add, data=b"other bytes", index="alice/prod")
        self.assertEqual(error.message, f"{SDIST} already exists in non-volatile index")
        self.assertEqual(self.store.serial, serial)

    def test_mirror_takes_no_uploads(self) -> None:
        error = self.assertRaises(NotFound, self.add, index="alice/mirror")
        self.assertEqual(error.message, "cannot submit to mirror index")

    def test_unknown_index(self) -> None:
        self.assertRaises(NotFound, self.add, index="alice/nope")

    def test_version_is_required(self) -> None:
        self.assertRaises(InvalidInput, self.add, version="")

    def test_version_with_a_slash_is_refused(self) -> None:
        self.assertRaises(InvalidInput, self.add, version="1.0/../2")


class RegisterVersionTests(ReleasesTestCase):
    def register(self, **metadata: Any) -> None:
        meta = {"name": "Hello.Pkg", "version": "1.0", **metadata}
        self.transact(lambda txn: releases.register_version(txn, "alice", "dev", meta))

    def test_version_without_files(self) -> None:
        self.register(summary="registered")
        record = self.version()
        assert record is not None
        self.assertEqual(record["+elinks"], [])
        self.assertEqual(record["summary"], "registered")
        self.assertIsNotNone(self.store.get(keys.project("alice", "dev", "hello-pkg")))

    def test_replaces_metadata_entirely_but_keeps_links_and_yanked(self) -> None:
        relpath = self.add(summary="old", author="me").relpath
        self.transact(
            lambda txn: releases.set_yanked(txn, "alice", "dev", "hello-pkg", "1.0", "bad")
        )
        self.register(summary="new")
        record = self.version()
        assert record is not None
        self.assertEqual(record["summary"], "new")
        self.assertEqual(record["author"], "")
        self.assertEqual([link["entrypath"] for link in record["+elinks"]], [relpath])
        self.assertEqual(record["yanked"], "bad")

    def test_not_on_a_mirror(self) -> None:
        meta = {"name": "x", "version": "1.0"}
        self.assertRaises(
            NotFound,
            self.transact,
            lambda txn: releases.register_version(txn, "alice", "mirror", meta),
        )


class DoczipTests(ReleasesTestCase):
    def doc_links(self, version: str = "1.0") -> list[dict[str, Any]]:
        return [link for link in self.links(version) if link["rel"] == "doczip"]

    def test_stored_under_devpis_name(self) -> None:
        relpath = self.add_doc().relpath
        self.assertTrue(relpath.endswith("/hello-pkg-1.0.doc.zip"), relpath)
        self.assertEqual([link["entrypath"] for link in self.doc_links()], [relpath])
        self.assertEqual(releases.get_file(self.store, relpath)["rel"], "doczip")
        self.assertEqual(self.refs(b"doc zip"), [relpath])

    def test_for_a_version_never_registered(self) -> None:
        self.add_doc(version="7.7")
        self.assertEqual(len(self.doc_links("7.7")), 1)

    def test_without_version_goes_to_the_newest(self) -> None:
        self.add(version="1.0")
        self.add("hello_pkg-1.10.tar.gz", b"newer", version="1.10")
        self.add("hello_pkg-1.9.tar.gz", b"older", version="1.9")
        self.add_doc(version=None)
        self.assertEqual(len(self.doc_links("1.10")), 1)
        self.assertEqual(self.doc_links("1.9"), [])

    def test_without_version_nor_releases(self) -> None:
        self.assertRaises(InvalidInput, self.add_doc, version=None)

    def test_new_doczip_replaces_the_old_on_volatile_index(self) -> None:
        self.add_doc(b"first docs")
        relpath = self.add_doc(b"second docs").relpath
        self.assertEqual([link["entrypath"] for link in self.doc_links()], [relpath])
        self.assertIsNone(self.refs(b"first docs"))

    def test_new_doczip_on_non_volatile_index_is_a_conflict(self) -> None:
        self.add_doc(b"first docs", index="alice/prod")
        self.assertRaises(Conflict, self.add_doc, b"second docs", index="alice/prod")

    def test_same_doczip_again_is_a_no_op(self) -> None:
        first = self.add_doc(index="alice/prod")
        self.assertEqual(self.add_doc(index="alice/prod"), Outcome(first.relpath, identical=True))


class ToxresultTests(ReleasesTestCase):
    def test_stored_next_to_its_release_file(self) -> None:
        release = self.add().relpath
        relpath = self.add_toxresult(release).relpath
        self.assertEqual(relpath, f"{release}.toxresult-{STAMP}-0")
        link = self.links()[1]
        self.assertEqual(link["rel"], "toxresult")
        self.assertEqual(link["for_entrypath"], release)
        self.assertEqual(link["_log"][0]["who"], None)
        self.assertEqual(releases.get_file(self.store, relpath)["rel"], "toxresult")

    def test_results_are_numbered(self) -> None:
        release = self.add().relpath
        self.add_toxresult(release, b"one")
        second = self.add_toxresult(release, b"two").relpath
        self.assertTrue(second.endswith(f".toxresult-{STAMP}-1"), second)

    def test_only_for_release_files(self) -> None:
        doc = self.add_doc().relpath
        self.assertRaises(NotFound, self.add_toxresult, doc)
        self.assertRaises(NotFound, self.add_toxresult, "alice/dev/+f/abc/def/nothing.tar.gz")

    def test_only_for_this_index(self) -> None:
        other = self.add(index="alice/prod").relpath
        self.assertRaises(NotFound, self.add_toxresult, other)

    def test_overwritten_release_file_takes_its_toxresults_along(self) -> None:
        release = self.add().relpath
        result = self.add_toxresult(release).relpath
        self.add(data=b"other bytes")
        self.assertEqual([link["rel"] for link in self.links()], ["releasefile"])
        self.assertIsNone(self.store.get(keys.file(result)))
        self.assertIsNone(self.refs(b'{"tox": 1}'))


class DeleteFileTests(ReleasesTestCase):
    def delete(self, relpath: str, index: str = "alice/dev", force: bool = False) -> None:
        username, indexname = index.split("/")
        self.transact(lambda txn: releases.delete_file(txn, username, indexname, relpath, force))

    def test_removes_link_entry_and_reference(self) -> None:
        sdist = self.add().relpath
        wheel = self.add(WHEEL, b"wheel").relpath
        self.delete(sdist)
        self.assertEqual([link["entrypath"] for link in self.links()], [wheel])
        self.assertIsNone(self.store.get(keys.file(sdist)))
        self.assertIsNone(self.refs(b"sdist bytes"))

    def test_version_stays_without_files(self) -> None:
        self.delete(self.add().relpath)
        self.assertEqual(self.links(), [])
        self.assertIsNotNone(self.store.get(keys.project("alice", "dev", "hello-pkg")))

    def test_toxresults_go_with_their_release_file(self) -> None:
        release = self.add().relpath
        result = self.add_toxresult(release).relpath
        self.delete(release)
        self.assertEqual(self.links(), [])
        self.assertIsNone(self.store.get(keys.file(result)))
        self.assertIsNone(self.refs(b'{"tox": 1}'))

    def test_deleting_a_toxresult_keeps_the_release_file(self) -> None:
        release = self.add().relpath
        self.delete(self.add_toxresult(release).relpath)
        self.assertEqual([link["entrypath"] for link in self.links()], [release])

    def test_core_metadata_reference_dropped(self) -> None:
        relpath = self.add(WHEEL, b"wheel", core=b"METADATA").relpath
        self.delete(relpath)
        self.assertIsNone(self.refs(b"METADATA"))

    def test_other_index_keeps_its_reference(self) -> None:
        mine = self.add().relpath
        theirs = self.add(index="alice/prod").relpath
        self.delete(mine)
        self.assertEqual(self.refs(b"sdist bytes"), [theirs])

    def test_non_volatile_needs_force(self) -> None:
        relpath = self.add(index="alice/prod").relpath
        error = self.assertRaises(Forbidden, self.delete, relpath, "alice/prod")
        self.assertEqual(error.message, "cannot delete version on non-volatile index")
        self.delete(relpath, "alice/prod", force=True)
        self.assertIsNone(self.store.get(keys.file(relpath)))

    def test_unknown_file(self) -> None:
        error = self.assertRaises(NotFound, self.delete, "alice/dev/+f/abc/def/x.tar.gz")
        self.assertEqual(error.message, "package 'alice/dev/+f/abc/def/x.tar.gz' doesn't exist")


class DeleteVersionTests(ReleasesTestCase):
    def delete(self, version: str = "1.0", index: str = "alice/dev", force: bool = False) -> None:
        username, indexname = index.split("/")
        self.transact(
            lambda txn: releases.delete_version(
                txn, username, indexname, "hello-pkg", version, force
            )
        )

    def test_removes_files_doczip_and_toxresults(self) -> None:
        release = self.add().relpath
        result = self.add_toxresult(release).relpath
        doc = self.add_doc().relpath
        self.delete()
        self.assertIsNone(self.version())
        for relpath in (release, result, doc):
            self.assertIsNone(self.store.get(keys.file(relpath)), relpath)
        for data in (b"sdist bytes", b'{"tox": 1}', b"doc zip"):
            self.assertIsNone(self.refs(data), data)

    def test_project_removed_with_its_last_version(self) -> None:
        self.add()
        self.delete()
        self.assertIsNone(self.store.get(keys.project("alice", "dev", "hello-pkg")))
        self.assertEqual(self.store.children(keys.projects_of("alice", "dev")), [])

    def test_project_stays_while_versions_remain(self) -> None:
        self.add()
        self.add("hello_pkg-2.0.tar.gz", b"two", version="2.0")
        self.delete()
        self.assertIsNotNone(self.store.get(keys.project("alice", "dev", "hello-pkg")))
        self.assertIsNotNone(self.version("2.0"))

    def test_non_volatile_needs_force(self) -> None:
        self.add(index="alice/prod")
        error = self.assertRaises(Forbidden, self.delete, index="alice/prod")
        self.assertEqual(error.message, "cannot delete version on non-volatile index")
        self.assertIsNotNone(self.version(index="alice/prod"))
        self.delete(index="alice/prod", force=True)
        self.assertIsNone(self.version(index="alice/prod"))

    def test_unknown_version(self) -> None:
        self.add()
        error = self.assertRaises(NotFound, self.delete, "9.9")
        self.assertEqual(error.message, "The version 9.9 of project hello-pkg does not exist.")


class DeleteProjectTests(ReleasesTestCase):
    def delete(self, index: str = "alice/dev", force: bool = False) -> None:
        username, indexname = index.split("/")
        self.transact(
            lambda txn: releases.delete_project(txn, username, indexname, "hello-pkg", force)
        )

    def test_removes_every_version_and_the_project(self) -> None:
        self.add()
        self.add("hello_pkg-2.0.tar.gz", b"two", version="2.0")
        self.add_doc()
        self.delete()
        self.assertIsNone(self.store.get(keys.project("alice", "dev", "hello-pkg")))
        self.assertEqual(self.store.children(keys.versions_of("alice", "dev", "hello-pkg")), [])
        for data in (b"sdist bytes", b"two", b"doc zip"):
            self.assertIsNone(self.refs(data), data)

    def test_other_index_untouched(self) -> None:
        self.add()
        kept = self.add(index="alice/prod").relpath
        self.delete()
        self.assertIsNotNone(self.version(index="alice/prod"))
        self.assertEqual(self.refs(b"sdist bytes"), [kept])

    def test_non_volatile_needs_force(self) -> None:
        self.add(index="alice/prod")
        error = self.assertRaises(Forbidden, self.delete, "alice/prod")
        self.assertEqual(error.message, "project hello-pkg is on non-volatile index alice/prod")
        self.delete("alice/prod", force=True)
        self.assertIsNone(self.store.get(keys.project("alice", "prod", "hello-pkg")))

    def test_unknown_project(self) -> None:
        self.assertRaises(NotFound, self.delete)


class DeleteIndexTests(ReleasesTestCase):
    def test_removes_config_projects_and_references(self) -> None:
        kept = self.add(index="alice/prod").relpath
        release = self.add().relpath
        self.add_toxresult(release)
        self.add_doc()
        self.add("other-1.0.tar.gz", b"other", name="other")
        self.transact(lambda txn: releases.delete_index(txn, "alice", "dev"))
        self.assertIsNone(self.store.get(keys.index("alice", "dev")))
        self.assertEqual(self.store.children(keys.projects_of("alice", "dev")), [])
        self.assertEqual(self.store.children(keys.versions_of("alice", "dev", "hello-pkg")), [])
        self.assertIsNone(self.store.get(keys.file(release)))
        self.assertEqual(self.refs(b"sdist bytes"), [kept])
        for data in (b'{"tox": 1}', b"doc zip", b"other"):
            self.assertIsNone(self.refs(data), data)

    def test_non_volatile_index_cannot_be_deleted(self) -> None:
        self.add(index="alice/prod")
        self.assertUnchanged(lambda txn: releases.delete_index(txn, "alice", "prod"))
        self.assertRaises(
            Forbidden, self.transact, lambda txn: releases.delete_index(txn, "alice", "prod")
        )


class YankTests(ReleasesTestCase):
    def yank(self, yanked: Any, version: str = "1.0", index: str = "alice/dev") -> None:
        username, indexname = index.split("/")
        self.transact(
            lambda txn: releases.set_yanked(txn, username, indexname, "hello-pkg", version, yanked)
        )

    def yanked(self) -> Any:
        record = self.version()
        assert record is not None
        return record.get("yanked", "absent")

    def test_yank_without_reason(self) -> None:
        self.add()
        self.yank(True)
        self.assertIs(self.yanked(), True)

    def test_yank_with_reason(self) -> None:
        self.add()
        self.yank("broken on windows")
        self.assertEqual(self.yanked(), "broken on windows")

    def test_empty_reason_is_a_plain_yank(self) -> None:
        # PEP 691: the reason is a non-empty string, else the value is a boolean
        self.add()
        self.yank("")
        self.assertIs(self.yanked(), True)

    def test_unyank_removes_the_key(self) -> None:
        self.add()
        self.yank("bad")
        self.yank(False)
        self.assertEqual(self.yanked(), "absent")

    def test_yanking_keeps_files(self) -> None:
        relpath = self.add().relpath
        self.yank(True)
        self.assertEqual([link["entrypath"] for link in self.links()], [relpath])

    def test_allowed_on_non_volatile_index(self) -> None:
        self.add(index="alice/prod")
        self.yank(True, index="alice/prod")
        record = self.version(index="alice/prod")
        assert record is not None
        self.assertIs(record["yanked"], True)

    def test_other_values_refused(self) -> None:
        self.add()
        for value in (1, None, ["x"], {"reason": "x"}):
            self.assertUnchanged(
                lambda txn, value=value: releases.set_yanked(
                    txn, "alice", "dev", "hello-pkg", "1.0", value
                )
            )
            self.assertRaises(InvalidInput, self.yank, value)

    def test_unknown_version(self) -> None:
        self.assertRaises(NotFound, self.yank, True, "9.9")
