"""Importing a dump into a store and blob store: check everything, copy the files, commit by projects."""

from __future__ import annotations

import os
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping

from devpi_twisted.dump.bases import creation_order
from devpi_twisted.dump.blobs import PendingBlob, write_blob
from devpi_twisted.dump.dataindex import Dump, FileDesc, IndexDump, subkey
from devpi_twisted.dump.errors import DumpError
from devpi_twisted.dump.layout import local_path
from devpi_twisted.dump.records import UserRecord, config_from_dump, dumped_bases, user_from_dump
from devpi_twisted.dump.restore import restore_index, restore_project, restore_user
from devpi_twisted.model import keys
from devpi_twisted.model.acl import ROOT
from devpi_twisted.model.errors import ModelError
from devpi_twisted.model.indexes import MIRROR, STAGE, root_pypi_config
from devpi_twisted.model.state import StateWriter
from devpi_twisted.model.users import timestamp
from devpi_twisted.store.blobs import IBlobStore, IBlobWriter
from devpi_twisted.store.changelog import Store, Transaction

ROOT_PYPI = f"{ROOT}/pypi"
#: About how many versions and files one transaction stores; a project is never split.
BATCH_SIZE = 500
#: Threads that copy and publish files: their fsyncs overlap, which a disk does far faster.
WORKERS = 8

Say = Callable[[str], None]


@dataclass(frozen=True)
class ImportSettings:
    """What the importer may do besides filling an empty server directory."""

    #: Add to a server directory that holds data (its root and root/pypi are kept).
    merge: bool = False
    #: Index types not to import (e.g. a devpi plugin's).
    skip_types: frozenset[str] = frozenset()
    #: Create root/pypi when neither the dump nor the server has it.
    root_pypi: bool = True


@dataclass
class ImportSummary:
    """What an import stored."""

    users: int = 0
    indexes: int = 0
    projects: int = 0
    files: int = 0
    transactions: int = 0


@dataclass
class _Plan:
    users: dict[str, UserRecord] = field(default_factory=dict)
    #: (name, config without bases, bases), every base before its users
    indexes: list[tuple[str, Mapping[str, Any], list[str]]] = field(default_factory=list)
    #: the stage indexes whose projects and files are imported
    stages: list[IndexDump] = field(default_factory=list)


@dataclass(frozen=True)
class _Project:
    index: IndexDump
    project: str
    files: list[FileDesc]


class Importer:
    """Imports one dump; nothing is committed until every check passed and every file is copied."""

    def __init__(
        self,
        dump: Dump,
        store: Store,
        blobs: IBlobStore,
        settings: ImportSettings,
        root_pwhash: Callable[[], str],
        now: float,
        say: Say,
        warn: Say,
    ) -> None:
        self._dump = dump
        self._store = store
        self._blobs = blobs
        self._settings = settings
        self._root_pwhash = root_pwhash
        self._now = now
        self._say = say
        self._warn = warn

    def run(self) -> ImportSummary:
        """Import the dump; raises L{DumpError} (with nothing committed) for bad input."""
        if self._store.serial >= 0 and not self._settings.merge:
            raise DumpError("the server directory holds data: import into a new one, or merge")
        for note in self._dump.notes:
            self._warn(note)
        plan = self._plan()
        self._create_accounts(Transaction(self._store), plan)  # a dry run: only checks
        with ThreadPoolExecutor(WORKERS, thread_name_prefix="devpi-import") as pool:
            pending = self._write_blobs(plan, pool)
            try:
                return self._commit(plan, pending, pool)
            finally:
                for blob in pending.values():
                    blob.abort()

    def _where(self, *path: str) -> str:
        where = path[0]
        for key in path[1:]:
            where = subkey(where, key)
        return f"{self._dump.path}: {where}"

    def _plan(self) -> _Plan:
        state, plan = self._store, _Plan()
        existing_users = set(state.children(keys.USERS))
        existing = {
            f"{user}/{index}" for user in existing_users for index in state.children(keys.indexes_of(user))
        }
        conflicts = [f"user {name}" for name in self._dump.users if name in existing_users - {ROOT}]
        if ROOT not in existing_users and ROOT not in self._dump.users:
            self._warn("the dump has no root user: root gets an empty password")
            plan.users[ROOT] = UserRecord(self._root_pwhash(), {}, timestamp(self._now), None)
        for name, raw in self._dump.users.items():
            if name not in existing_users:
                plan.users[name] = user_from_dump(name, raw, self._warn)
        selected: dict[str, IndexDump] = {}
        for name, index in self._dump.indexes.items():
            if index.type in self._settings.skip_types or (
                name == ROOT_PYPI and not self._settings.root_pypi
            ):
                self._say(f"skipping index {name} (type {index.type})")
            elif index.type not in (STAGE, MIRROR):
                raise DumpError(
                    f"{self._where('indexes', name)}.indexconfig.type: unknown index type "
                    f"{index.type!r}; leave such indexes out with --skip-import-type {index.type}"
                )
            elif name in existing:
                if name != ROOT_PYPI:
                    conflicts.append(f"index {name}")
            elif index.username not in plan.users and index.username not in existing_users:
                raise DumpError(
                    f"{self._where('indexes', name)}: its user {index.username!r} is not in the dump"
                )
            else:
                selected[name] = index
        if conflicts:
            raise DumpError(
                "the server directory already has " + ", ".join(conflicts) + "; nothing was imported"
            )
        if self._settings.merge and ROOT in self._dump.users and ROOT in existing_users:
            self._say("keeping the server's root user (the dump's root is not imported)")
        if self._settings.root_pypi and ROOT_PYPI not in existing and ROOT_PYPI not in selected:
            plan.indexes.append((ROOT_PYPI, root_pypi_config(), []))
            existing.add(ROOT_PYPI)
        order, bases, dropped = creation_order(
            {name: dumped_bases(index.config) for name, index in selected.items()}, existing
        )
        for drop in dropped:
            self._warn(str(drop))
        for name in order:
            index = selected[name]
            plan.indexes.append((name, config_from_dump(name, index.config, self._warn), bases[name]))
            if index.type == STAGE:
                plan.stages.append(index)
            elif index.mirrored_files:
                self._warn(
                    f"index {name}: its {index.mirrored_files} mirrored files are not imported;"
                    " the mirror fetches them again when asked"
                )
        return plan

    def _create_accounts(self, txn: StateWriter, plan: _Plan) -> None:
        for name, record in plan.users.items():
            try:
                restore_user(txn, name, record, self._now)
            except ModelError as error:
                raise DumpError(f"{self._where('users', name)}: {error.message}")
        for name, config, bases in plan.indexes:
            try:
                restore_index(txn, name, config, bases)
            except ModelError as error:
                raise DumpError(f"{self._where('indexes', name)}.indexconfig: {error.message}")

    def _write_blobs(self, plan: _Plan, pool: Executor) -> dict[tuple[str, str], PendingBlob]:
        """Copy every file into the blob store, unpublished; refuse before copying if one is missing."""
        directory = self._dump.directory
        jobs = [(index.name, desc) for index in plan.stages for desc in index.files]
        missing = [desc for _, desc in jobs if not os.path.isfile(local_path(directory, desc.relpath))]
        if missing:
            more = f" (and {len(missing) - 1} more files)" if len(missing) > 1 else ""
            raise DumpError(
                f"{local_path(directory, missing[0].relpath)} is missing{more}: "
                f"{self._dump.path} lists it at {missing[0].where}"
            )
        futures = [pool.submit(write_blob, self._blobs, directory, desc, self._warn) for _, desc in jobs]
        try:
            return {
                (name, desc.relpath): future.result() for (name, desc), future in zip(jobs, futures)
            }
        except BaseException:
            for future in futures:
                future.cancel()
            for future in futures:
                if not future.cancelled() and future.exception() is None:
                    future.result().abort()
            raise

    def _batches(self, plan: _Plan) -> Iterator[list[_Project]]:
        batch: list[_Project] = []
        size = 0
        for index in plan.stages:
            files_of: dict[str, list[FileDesc]] = {project: [] for project in index.projects}
            for desc in index.files:
                files_of.setdefault(desc.project, []).append(desc)
            for project in sorted(files_of):
                batch.append(_Project(index, project, files_of[project]))
                size += len(index.projects.get(project, ())) + len(files_of[project])
                if size >= BATCH_SIZE:
                    yield batch
                    batch, size = [], 0
        if batch:
            yield batch

    def _commit(
        self, plan: _Plan, pending: dict[tuple[str, str], PendingBlob], pool: Executor
    ) -> ImportSummary:
        summary = ImportSummary(users=len(plan.users), indexes=len(plan.indexes))
        self._store.transact_now(lambda txn: self._create_accounts(txn, plan))
        summary.transactions += 1
        batches = list(self._batches(plan))
        total = sum(len(batch) for batch in batches)
        for batch in batches:
            self._store.transact_now(lambda txn: self._restore_batch(txn, batch, pending, pool))
            summary.transactions += 1
            summary.projects += len(batch)
            summary.files += sum(len(item.files) for item in batch)
            self._say(f"imported {summary.projects} of {total} projects")
        return summary

    def _restore_batch(
        self,
        txn: Transaction,
        batch: list[_Project],
        pending: dict[tuple[str, str], PendingBlob],
        pool: Executor,
    ) -> None:
        writers: list[IBlobWriter] = []
        for item in batch:
            index = item.index
            blobs = {desc.relpath: pending[index.name, desc.relpath].blob for desc in item.files}
            try:
                restore_project(txn, index, item.project, item.files, blobs, self._now)
            except ModelError as error:
                raise DumpError(
                    f"{self._where('indexes', index.name, 'projects', item.project)}: {error.message}"
                )
            writers.extend(w for desc in item.files for w in pending[index.name, desc.relpath].writers)
        txn.before_commit(lambda: list(pool.map(lambda writer: writer.publish(), writers)))
