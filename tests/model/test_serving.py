"""Which source serves a file: the store, the primary, a mirror's upstream."""

from __future__ import annotations

from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from devpi_twisted.model import keys
from devpi_twisted.model.errors import NotFound
from devpi_twisted.model.indexes import mirror_defaults, stage_defaults
from devpi_twisted.model.serving import Source, attached, file_source, has_core_metadata, metadata_of

WHEEL = "root/pypi/+f/abc/def/hello-1.0-py3-none-any.whl"
STAGE_WHEEL = "alice/dev/+f/abc/def/hello-1.0-py3-none-any.whl"


class State:
    """Values by key, as the store holds them."""

    def __init__(self, values: dict[str, Any]) -> None:
        self._values = values

    def get(self, key: str, default: Any = None) -> Any:
        return self._values.get(key, default)

    def children(self, parent: str) -> list[str]:
        return []


def state(*files: tuple[str, dict[str, Any]], external: bool = False) -> State:
    """alice/dev (a stage) and root/pypi (a mirror), holding C{files}."""
    mirror = dict(mirror_defaults("root"), mirror_use_external_urls=external)
    values = {keys.index("alice", "dev"): stage_defaults("alice"), keys.index("root", "pypi"): mirror}
    values.update({keys.file(relpath): entry for relpath, entry in files})
    return State(values)


class FileSourceTests(SynchronousTestCase):
    def test_a_stored_file_is_served_from_the_store(self) -> None:
        stored = state((WHEEL, {"sha256": "1" * 64}))
        self.assertIs(file_source(stored, "root", "pypi", WHEEL, on_replica=False), Source.STORE)
        self.assertIs(file_source(stored, "root", "pypi", WHEEL, on_replica=True), Source.STORE)

    def test_a_replica_relays_what_it_does_not_have(self) -> None:
        self.assertIs(file_source(state(), "alice", "dev", STAGE_WHEEL, on_replica=True), Source.PRIMARY)
        self.assertIs(file_source(state(), "root", "pypi", WHEEL, on_replica=True), Source.PRIMARY)

    def test_a_replica_serves_the_metadata_stored_with_its_wheel(self) -> None:
        stored = state((WHEEL, {"sha256": "1" * 64, "core_metadata_sha256": "2" * 64}))
        self.assertIs(file_source(stored, "root", "pypi", WHEEL + ".metadata", on_replica=True), Source.STORE)

    def test_a_mirror_fetches_a_missing_file_upstream(self) -> None:
        self.assertIs(file_source(state(), "root", "pypi", WHEEL, on_replica=False), Source.MIRROR)

    def test_a_mirror_with_external_urls_sends_the_client_upstream(self) -> None:
        self.assertIs(file_source(state(external=True), "root", "pypi", WHEEL, on_replica=False), Source.EXTERNAL)

    def test_a_mirror_fetches_metadata_only_for_a_wheel_it_has_not(self) -> None:
        metadata = WHEEL + ".metadata"
        self.assertIs(file_source(state(), "root", "pypi", metadata, on_replica=False), Source.MIRROR_METADATA)
        stored = state((WHEEL, {"sha256": "1" * 64}))
        self.assertIs(file_source(stored, "root", "pypi", metadata, on_replica=False), Source.STORE)

    def test_a_stage_serves_only_what_is_stored(self) -> None:
        self.assertIs(file_source(state(), "alice", "dev", STAGE_WHEEL, on_replica=False), Source.STORE)

    def test_an_unknown_index_is_not_found(self) -> None:
        self.assertRaises(NotFound, file_source, state(), "bob", "dev", "bob/dev/+f/a/b/x.whl", False)


class CoreMetadataTests(SynchronousTestCase):
    def test_metadata_of_names_the_wheel(self) -> None:
        self.assertEqual(metadata_of(WHEEL + ".metadata"), WHEEL)
        self.assertIsNone(metadata_of(WHEEL))

    def test_the_metadata_stored_with_a_wheel(self) -> None:
        entry = {"sha256": "1" * 64, "core_metadata_sha256": "2" * 64}
        stored = state((WHEEL, entry))
        self.assertTrue(has_core_metadata(stored, WHEEL + ".metadata"))
        self.assertEqual(attached(stored, WHEEL + ".metadata"), (entry, "2" * 64))

    def test_a_wheel_without_metadata(self) -> None:
        stored = state((WHEEL, {"sha256": "1" * 64}))
        self.assertFalse(has_core_metadata(stored, WHEEL + ".metadata"))
        error = self.assertRaises(NotFound, attached, stored, WHEEL + ".metadata")
        self.assertEqual(error.message, f"no metadata found in {WHEEL}")
        error = self.assertRaises(NotFound, attached, state(), WHEEL + ".metadata")
        self.assertEqual(error.message, f"no such file: {WHEEL}.metadata")
