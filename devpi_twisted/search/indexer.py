"""Keeps the search index following the store's commits and the mirrors' project lists, off the reactor."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable, Optional

from twisted.internet.defer import Deferred, ensureDeferred
from twisted.logger import Logger

from devpi_twisted.dists.docs import doc_text
from devpi_twisted.dists.errors import InvalidDistribution
from devpi_twisted.model import keys
from devpi_twisted.model.indexes import MIRROR
from devpi_twisted.model.releases import DOCZIP, version_key
from devpi_twisted.search.interface import ISearchIndex, Release, Results
from devpi_twisted.store.blobs import BlobStoreUnavailable, IBlobStore, local_copy
from devpi_twisted.store.changelog import Store
from devpi_twisted.store.interface import Changes
from devpi_twisted.threads import Runner

#: Key kinds whose change alters a project's search document.
_PROJECT_KINDS = ("project", "version")
#: Projects read from the store per step of a rebuild (each step then waits for the writer).
REBUILD_STEP = 500


@dataclass(frozen=True)
class _Document:
    release: Release
    #: The doc zip of the version, whose text is read in the writer thread.
    doc_sha256: Optional[str]


def read_document(store: Store, index: str, project: str) -> Optional[_Document]:
    """What is searched of a project on a stage index: its newest version; None when it has none."""
    username, _, indexname = index.partition("/")
    versions = store.children(keys.versions_of(username, indexname, project))
    if not versions:
        return None
    newest = max(versions, key=version_key)
    record: dict[str, Any] = store.get(keys.version(username, indexname, project, newest)) or {}
    docs = [link["hashes"]["sha256"] for link in record.get("+elinks", []) if link["rel"] == DOCZIP]
    keywords = record.get("keywords") or ""
    release = Release(
        index=index,
        project=project,
        name=record.get("name") or project,
        version=newest,
        summary=record.get("summary") or "",
        keywords=" ".join(keywords) if isinstance(keywords, list) else str(keywords),
        description=record.get("description") or "",
        docs="",
    )
    return _Document(release, docs[-1] if docs else None)


class Indexer:
    """
    Brings the search index up to date after each commit (the projects it
    touched) and after a mirror's project list changes (the names added and
    removed, in batches); all index work runs through C{writer}, a
    one-thread runner, and searches through C{reader}, so neither waits on
    the reactor nor holds it up.
    """

    def __init__(
        self,
        store: Store,
        index: ISearchIndex,
        writer: Runner,
        reader: Runner,
        blobs: IBlobStore,
        log: Logger,
        batch: int = 5000,
    ) -> None:
        self._store = store
        self._index = index
        self._writer = writer
        self._reader = reader
        self._blobs = blobs
        self._log = log
        self._batch = batch
        self._pending: set[tuple[str, str]] = set()
        self._running: Optional[Deferred[None]] = None
        self._rebuild = False
        self._mirror_lists: dict[str, list[str]] = {}
        self._mirrors_running: Optional[Deferred[None]] = None
        self._unsubscribe: Optional[Callable[[], None]] = None

    def start(self) -> Deferred[None]:
        """Follow commits from now on; rebuild the release documents if they are behind the store."""
        self._unsubscribe = self._store.subscribe(self._committed)
        d = self._writer(self._index.indexed_serial)

        def check(serial: int) -> None:
            if serial != self._store.serial:
                self._rebuild = True
                self._kick()

        return d.addCallback(check)

    def stop(self) -> None:
        """Stop following commits."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def idle(self) -> bool:
        """Whether everything committed and every list announced so far is indexed."""
        return self._running is None and self._mirrors_running is None and not self._pending

    async def search(self, query: str, offset: int, limit: int) -> Results:
        """Hits for C{query}, searched in a reader thread; raises L{QueryError}."""
        return await self._reader(lambda: self._index.search(query, offset, limit))

    def _committed(self, serial: int, changes: Changes) -> None:
        for key in changes:
            parts = key.split("/")
            if parts[0] in _PROJECT_KINDS and len(parts) > 3:
                self._pending.add((f"{parts[1]}/{parts[2]}", parts[3]))
        if self._pending:
            self._kick()

    def _kick(self) -> None:
        if self._running is None:
            self._running = ensureDeferred(self._flush())
            self._running.addErrback(lambda failure: self._log.failure("indexing for search failed", failure))
            self._running.addBoth(self._flushed)

    def _flushed(self, _: object) -> None:
        self._running = None
        # commits that came while the last step was written, and a failed step's projects
        if self._pending or self._rebuild:
            self._kick()

    def _all_stage_projects(self) -> list[tuple[str, str]]:
        store = self._store
        found = []
        for username in store.children(keys.USERS):
            for indexname in store.children(keys.indexes_of(username)):
                config = store.get(keys.index(username, indexname)) or {}
                if config.get("type") == MIRROR:
                    continue
                for project in store.children(keys.projects_of(username, indexname)):
                    found.append((f"{username}/{indexname}", project))
        return found

    async def _flush(self) -> None:
        if self._rebuild:
            self._rebuild = False
            await self._writer(self._index.clear_releases)
            self._pending.update(self._all_stage_projects())
        while self._pending:
            step = sorted(self._pending)[:REBUILD_STEP]
            self._pending.difference_update(step)
            documents = []
            gone = []
            for index, project in step:
                document = read_document(self._store, index, project)
                if document is None:
                    gone.append((index, project))
                else:
                    documents.append(document)
            serial = None if self._pending else self._store.serial
            await self._writer(lambda: self._put(documents, gone, serial))

    def _put(self, documents: list[_Document], gone: list[tuple[str, str]], serial: Optional[int]) -> None:
        """In the writer thread: read the docs' text, then store the documents."""
        releases = []
        for document in documents:
            text = ""
            sha256 = document.doc_sha256
            if sha256 is not None and self._blobs.exists(sha256):
                try:
                    with local_copy(self._blobs, sha256) as path:
                        text = doc_text(path)
                except (InvalidDistribution, OSError, BlobStoreUnavailable) as error:
                    self._log.warn("docs of {project} not indexed: {error}", project=document.release.project, error=error)
            releases.append(replace(document.release, docs=text))
        self._index.put_releases(releases, gone, serial)

    def mirror_names(self, index: str, names: list[str]) -> None:
        """Mirror C{index} offers C{names} now: index them (the latest list wins if several arrive)."""
        self._mirror_lists[index] = names
        if self._mirrors_running is None:
            self._mirrors_running = ensureDeferred(self._index_mirrors())
            self._mirrors_running.addErrback(
                lambda failure: self._log.failure("indexing mirror names failed", failure)
            )
            self._mirrors_running.addBoth(self._mirrors_indexed)

    def _mirrors_indexed(self, _: object) -> None:
        self._mirrors_running = None

    async def _index_mirrors(self) -> None:
        while self._mirror_lists:
            index, names = self._mirror_lists.popitem()

            def diff() -> tuple[list[str], list[str]]:
                indexed = self._index.mirror_names(index)
                wanted = set(names)
                return sorted(wanted - indexed), sorted(indexed - wanted)

            added, removed = await self._writer(diff)
            for start in range(0, max(len(added), len(removed)), self._batch):
                chunk = slice(start, start + self._batch)
                await self._writer(lambda: self._index.change_mirror_names(index, added[chunk], removed[chunk]))
            if added or removed:
                self._log.info(
                    "search: {added} names added to and {removed} removed from mirror {index}",
                    added=len(added), removed=len(removed), index=index,
                )
