"""The changelog Store and its Transactions: isolation, atomicity, serials and recovery."""

from __future__ import annotations

import json
import os
from typing import Any, Callable, Optional, TypeVar

from twisted.internet import reactor
from twisted.internet.defer import Deferred, gatherResults, maybeDeferred
from twisted.internet.task import Clock
from twisted.python.threadpool import ThreadPool
from twisted.trial.unittest import TestCase

from devpi_twisted.store.changelog import Committed, Entry, ReadOnlyStore, Store, Transaction
from devpi_twisted.store.interface import Changes
from devpi_twisted.store.sqlite import SQLiteBackend
from devpi_twisted.threads import pool_runner
from tests.support import run_inline

T = TypeVar("T")


class BackendFailure(Exception):
    """Raised by L{FlakyBackend} instead of committing."""


class FlakyBackend:
    """An L{SQLiteBackend} whose next commit can be made to fail before writing."""

    def __init__(self, backend: SQLiteBackend) -> None:
        self.backend = backend
        self.fail_next_commit = False
        self.commits: list[int] = []

    def load(self) -> tuple[int, float, dict[str, str]]:
        return self.backend.load()

    def commit(self, serial: int, timestamp: float, changes: Changes) -> None:
        if self.fail_next_commit:
            self.fail_next_commit = False
            raise BackendFailure(f"commit {serial} failed")
        self.backend.commit(serial, timestamp, changes)
        self.commits.append(serial)

    def commit_many(self, entries: list[tuple[int, float, Changes]]) -> None:
        if self.fail_next_commit:
            self.fail_next_commit = False
            raise BackendFailure(f"commits {[e[0] for e in entries]} failed")
        self.backend.commit_many(entries)
        self.commits.extend(e[0] for e in entries)

    def entries(self, since: int, limit: int) -> list[tuple[int, float, str]]:
        return self.backend.entries(since, limit)

    def close(self) -> None:
        self.backend.close()


class QueueRunner:
    """A runner that holds every piece of work until the test releases it."""

    def __init__(self) -> None:
        self.pending: list[tuple[Callable[[], Any], Deferred[Any]]] = []

    def __call__(self, f: Callable[[], T]) -> Deferred[T]:
        d: Deferred[T] = Deferred()
        self.pending.append((f, d))
        return d

    def release(self, index: int = 0) -> None:
        """Run the C{index}th held piece of work and fire its Deferred."""
        f, d = self.pending.pop(index)
        maybeDeferred(f).chainDeferred(d)


def forbidden_runner(f: Callable[[], T]) -> Deferred[T]:
    raise AssertionError("transact_now must not use the runner")


def transact(store: Store, work: Callable[[Transaction], T]) -> Deferred[Committed[T]]:
    """Start C{store.transact(work)} now, as a Deferred."""
    return Deferred.fromCoroutine(store.transact(work))


class StoreTestMixin:
    """A store on a fresh SQLite file with a fake clock."""

    def make_store(
        self, run: Callable[[Callable[[], Any]], Deferred[Any]] = run_inline
    ) -> tuple[Store, FlakyBackend]:
        self.path = os.path.join(self.mktemp(), "store.sqlite")  # type: ignore[attr-defined]
        os.makedirs(os.path.dirname(self.path))
        self.clock = Clock()
        self.clock.advance(1_700_000_000)
        backend = FlakyBackend(SQLiteBackend(self.path))
        store = Store(backend, run, self.clock)
        self.addCleanup(store.close)  # type: ignore[attr-defined]
        return store, backend

    def changes_of(self, backend: FlakyBackend, serial: int) -> dict[str, Any]:
        """The decoded changelog entry of C{serial}."""
        entries = backend.entries(serial, 1)
        assert entries and entries[0][0] == serial, entries
        parsed: dict[str, Any] = json.loads(entries[0][2])
        return parsed


class TransactionTests(StoreTestMixin, TestCase):
    def setUp(self) -> None:
        self.store, self.backend = self.make_store()
        self.store.transact_now(
            lambda txn: (txn.set("users/alice", {"n": 1}), txn.set("users/bob", {"n": 2}))
        )

    def test_transaction_reads_its_own_writes_before_commit(self) -> None:
        seen: dict[str, Any] = {}

        def work(txn: Transaction) -> None:
            txn.set("users/alice", {"n": 10})
            txn.delete("users/bob")
            txn.set("users/carol", {"n": 3})
            seen["alice"] = txn.get("users/alice")
            seen["bob"] = txn.get("users/bob", "gone")
            seen["carol"] = txn.get("users/carol")
            seen["store alice"] = self.store.get("users/alice")
            seen["store carol"] = self.store.get("users/carol")

        self.successResultOf(transact(self.store, work))
        self.assertEqual(
            seen,
            {
                "alice": {"n": 10},
                "bob": "gone",
                "carol": {"n": 3},
                "store alice": {"n": 1},
                "store carol": None,
            },
        )

    def test_get_of_unwritten_key_reads_committed_value_or_default(self) -> None:
        def work(txn: Transaction) -> tuple[Any, Any]:
            return txn.get("users/alice"), txn.get("users/nobody", "default")

        committed = self.successResultOf(transact(self.store, work))
        self.assertEqual(committed.result, ({"n": 1}, "default"))

    def test_children_include_pending_sets_and_exclude_pending_deletes(self) -> None:
        def work(txn: Transaction) -> list[list[str]]:
            before = txn.children("users")
            txn.set("users/carol", {})
            txn.delete("users/alice")
            middle = txn.children("users")
            txn.set("users/alice", {})
            txn.delete("users/carol")
            return [before, middle, txn.children("users")]

        committed = self.successResultOf(transact(self.store, work))
        self.assertEqual(
            committed.result,
            [["alice", "bob"], ["bob", "carol"], ["alice", "bob"]],
        )

    def test_children_are_the_keys_with_a_value_directly_under_parent(self) -> None:
        def work(txn: Transaction) -> list[list[str]]:
            txn.set("users/alice/indexes/dev", {})
            txn.set("users/dave/indexes/dev", {})
            return [
                txn.children("users"),
                txn.children("users/alice"),
                txn.children("users/alice/indexes"),
                txn.children(""),
            ]

        committed = self.successResultOf(transact(self.store, work))
        self.assertEqual(committed.result, [["alice", "bob"], [], ["dev"], []])
        self.assertEqual(
            [self.store.children(p) for p in ("users", "users/alice", "users/alice/indexes", "")],
            committed.result,
        )

    def test_committed_deletes_remove_children(self) -> None:
        self.store.transact_now(
            lambda txn: (txn.delete("users/alice"), txn.delete("users/bob"))
        )
        self.assertEqual(self.store.children("users"), [])
        self.assertIsNone(self.store.get("users/alice"))
        self.assertEqual(self.store.children(""), [])

    def test_value_set_is_copied_when_set(self) -> None:
        value = {"list": [1]}

        def work(txn: Transaction) -> None:
            txn.set("k", value)
            value["list"].append(2)

        self.successResultOf(transact(self.store, work))
        self.assertEqual(self.store.get("k"), {"list": [1]})

    def test_get_returns_copies(self) -> None:
        value = self.store.get("users/alice")
        value["n"] = 99

        def work(txn: Transaction) -> None:
            txn.get("users/alice")["n"] = 42

        self.successResultOf(transact(self.store, work))
        self.assertEqual(self.store.get("users/alice"), {"n": 1})


class CommitTests(StoreTestMixin, TestCase):
    def setUp(self) -> None:
        self.store, self.backend = self.make_store()

    def test_new_store_is_empty_at_serial_minus_one(self) -> None:
        self.assertEqual(self.store.serial, -1)
        self.assertEqual(self.store.children(""), [])
        self.assertIsNone(self.store.get("anything"))

    def test_each_commit_is_one_serial_with_exactly_the_changed_keys(self) -> None:
        self.store.transact_now(lambda txn: (txn.set("a", 1), txn.set("b", 2)))
        self.clock.advance(5)

        def work(txn: Transaction) -> str:
            txn.set("a", {"x": [1, 2]})
            txn.delete("b")
            txn.set("c/d", "text")
            return "done"

        committed = self.successResultOf(transact(self.store, work))
        self.assertEqual(committed, Committed("done", 1))
        self.assertEqual(self.store.serial, 1)
        self.assertEqual(self.store.last_commit_timestamp, self.clock.seconds())
        self.assertEqual(self.changes_of(self.backend, 0), {"a": 1, "b": 2})
        self.assertEqual(
            self.changes_of(self.backend, 1), {"a": {"x": [1, 2]}, "b": None, "c/d": "text"}
        )
        self.assertEqual(
            [(serial, ts) for serial, ts, _ in self.backend.entries(0, 10)],
            [(0, self.clock.seconds() - 5), (1, self.clock.seconds())],
        )
        self.assertEqual(self.store.get("a"), {"x": [1, 2]})
        self.assertIsNone(self.store.get("b"))

    def test_key_written_twice_in_one_transaction_is_recorded_once_with_last_value(
        self,
    ) -> None:
        self.store.transact_now(lambda txn: (txn.set("a", 1), txn.set("a", 2)))
        self.assertEqual(self.changes_of(self.backend, 0), {"a": 2})
        self.assertEqual(self.store.get("a"), 2)

    def test_empty_transaction_creates_no_serial(self) -> None:
        self.store.transact_now(lambda txn: txn.set("a", 1))
        committed = self.successResultOf(transact(self.store, lambda txn: txn.get("a")))
        self.assertEqual(committed, Committed(1, 0))
        self.assertEqual(self.store.serial, 0)
        self.assertEqual(self.backend.commits, [0])
        self.assertEqual([e[0] for e in self.backend.entries(0, 10)], [0])

    def test_work_that_raises_commits_nothing(self) -> None:
        self.store.transact_now(lambda txn: txn.set("a", 1))

        def work(txn: Transaction) -> None:
            txn.set("a", 2)
            txn.set("b", 3)
            raise ValueError("changed my mind")

        self.failureResultOf(transact(self.store, work), ValueError)
        self.assertEqual(self.store.serial, 0)
        self.assertEqual(self.store.get("a"), 1)
        self.assertIsNone(self.store.get("b"))
        self.assertEqual(self.store.children(""), ["a"])
        self.assertEqual(self.backend.commits, [0])
        committed = self.successResultOf(transact(self.store, lambda txn: txn.set("b", 4)))
        self.assertEqual(committed.serial, 1)

    def test_failed_backend_commit_leaves_state_untouched_and_releases_lock(self) -> None:
        self.store.transact_now(lambda txn: txn.set("a", 1))
        calls: list[tuple[int, Changes]] = []
        self.store.subscribe(lambda serial, changes: calls.append((serial, changes)))
        timestamp = self.store.last_commit_timestamp
        self.clock.advance(10)
        self.backend.fail_next_commit = True

        def work(txn: Transaction) -> None:
            txn.set("a", 2)
            txn.delete("a")
            txn.set("b/c", 3)

        self.failureResultOf(transact(self.store, work), BackendFailure)
        self.assertEqual(self.store.serial, 0)
        self.assertEqual(self.store.last_commit_timestamp, timestamp)
        self.assertEqual(self.store.get("a"), 1)
        self.assertIsNone(self.store.get("b/c"))
        self.assertEqual(self.store.children(""), ["a"])
        self.assertEqual(self.store.children("b"), [])
        self.assertEqual(calls, [])
        self.assertEqual([e[0] for e in self.backend.entries(0, 10)], [0])

        committed = self.successResultOf(transact(self.store, lambda txn: txn.set("b/c", 4)))
        self.assertEqual(committed.serial, 1)
        self.assertEqual(self.store.get("b/c"), 4)
        self.assertEqual(self.changes_of(self.backend, 1), {"b/c": 4})

    def test_failed_backend_commit_in_transact_now_leaves_state_untouched(self) -> None:
        self.backend.fail_next_commit = True
        self.assertRaises(
            BackendFailure, self.store.transact_now, lambda txn: txn.set("a", 1)
        )
        self.assertEqual(self.store.serial, -1)
        self.assertIsNone(self.store.get("a"))
        self.assertEqual(self.store.transact_now(lambda txn: txn.set("a", 2)).serial, 0)

    def test_side_effects_run_around_the_commit_in_order(self) -> None:
        seen: list[tuple[str, int]] = []

        def work(txn: Transaction) -> None:
            txn.set("a", 1)
            txn.before_commit(lambda: seen.append(("before", len(self.backend.entries(0, 9)))))
            txn.after_commit(lambda: seen.append(("after", len(self.backend.entries(0, 9)))))

        self.successResultOf(transact(self.store, work))
        self.assertEqual(seen, [("before", 0), ("after", 1)])

    def test_failing_before_commit_effect_commits_nothing(self) -> None:
        def work(txn: Transaction) -> None:
            txn.set("a", 1)
            txn.before_commit(lambda: 1 / 0)

        self.failureResultOf(transact(self.store, work), ZeroDivisionError)
        self.assertEqual((self.store.serial, self.store.get("a")), (-1, None))
        self.assertEqual(self.backend.entries(0, 9), [])

    def test_failing_after_commit_effect_is_logged_and_the_commit_stands(self) -> None:
        def work(txn: Transaction) -> None:
            txn.set("a", 1)
            txn.after_commit(lambda: 1 / 0)

        committed = self.successResultOf(transact(self.store, work))
        self.assertEqual((committed.serial, self.store.get("a")), (0, 1))
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)

    def test_listeners_are_called_after_commit_with_serial_and_changes(self) -> None:
        calls: list[tuple[int, Changes, int, Any]] = []

        def listener(serial: int, changes: Changes) -> None:
            calls.append((serial, dict(changes), self.store.serial, self.store.get("a")))

        unsubscribe = self.store.subscribe(listener)
        self.successResultOf(transact(self.store, lambda txn: txn.set("a", [1])))
        self.successResultOf(transact(self.store, lambda txn: txn.get("a")))
        self.successResultOf(transact(self.store, lambda txn: txn.delete("a")))
        self.assertEqual(
            calls, [(0, {"a": "[1]"}, 0, [1]), (1, {"a": None}, 1, None)]
        )

        unsubscribe()
        self.successResultOf(transact(self.store, lambda txn: txn.set("a", 2)))
        self.assertEqual(len(calls), 2)

    def test_failing_listener_does_not_fail_the_commit_or_stop_others(self) -> None:
        calls: list[int] = []

        def broken(serial: int, changes: Changes) -> None:
            raise RuntimeError("listener bug")

        self.store.subscribe(broken)
        self.store.subscribe(lambda serial, changes: calls.append(serial))
        committed = self.successResultOf(transact(self.store, lambda txn: txn.set("a", 1)))
        self.assertEqual((committed.serial, calls), (0, [0]))
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_listeners_are_not_called_for_failed_work(self) -> None:
        calls: list[int] = []
        self.store.subscribe(lambda serial, changes: calls.append(serial))

        def work(txn: Transaction) -> None:
            txn.set("a", 1)
            raise ValueError()

        self.failureResultOf(transact(self.store, work), ValueError)
        self.assertEqual(calls, [])

    def test_transact_now_commits_in_the_calling_thread(self) -> None:
        store, backend = self.make_store(forbidden_runner)
        committed = store.transact_now(lambda txn: (txn.set("a", 1), "result")[1])
        self.assertEqual(committed, Committed("result", 0))
        self.assertEqual(store.get("a"), 1)
        self.assertEqual(self.changes_of(backend, 0), {"a": 1})
        self.assertEqual(store.transact_now(lambda txn: None), Committed(None, 0))

    def test_reopened_store_restores_serial_values_and_children(self) -> None:
        self.store.transact_now(
            lambda txn: (
                txn.set("users/alice", {"email": "a@example.com"}),
                txn.set("users/bob", {}),
                txn.set("users/alice/indexes/dev", {"bases": ["root/pypi"]}),
            )
        )
        self.clock.advance(3)
        self.successResultOf(
            transact(self.store, lambda txn: (txn.delete("users/bob"), txn.set("x", None)))
        )
        parents = ["", "users", "users/alice", "users/alice/indexes"]
        children = {parent: self.store.children(parent) for parent in parents}
        self.store.close()

        reopened = Store(SQLiteBackend(self.path), run_inline, Clock())
        self.addCleanup(reopened.close)
        self.assertEqual(reopened.serial, 1)
        self.assertEqual(reopened.last_commit_timestamp, self.clock.seconds())
        self.assertEqual(reopened.get("users/alice"), {"email": "a@example.com"})
        self.assertIsNone(reopened.get("users/bob"))
        self.assertEqual(reopened.get("users/alice/indexes/dev"), {"bases": ["root/pypi"]})
        self.assertEqual({parent: reopened.children(parent) for parent in parents}, children)
        self.assertEqual(reopened.children("users"), ["alice"])
        self.assertEqual(reopened.children("users/alice/indexes"), ["dev"])
        self.assertEqual(reopened.children(""), ["x"])
        committed = self.successResultOf(transact(reopened, lambda txn: txn.set("y", 1)))
        self.assertEqual(committed.serial, 2)


class ConcurrencyTests(StoreTestMixin, TestCase):
    def test_transactions_wait_for_the_commit_before_them(self) -> None:
        """
        With commits held by the runner, only one transaction is ever
        committing; the next one's work runs only after that commit landed.
        """
        runner = QueueRunner()
        store, backend = self.make_store(runner)
        seen: list[tuple[str, Optional[int]]] = []

        def work_for(name: str) -> Callable[[Transaction], int]:
            def work(txn: Transaction) -> int:
                count: int = txn.get("count", 0)
                seen.append((name, store.get("count")))
                txn.set("count", count + 1)
                txn.set(f"by/{name}", count)
                return count

            return work

        ds = [transact(store, work_for(name)) for name in "abcd"]
        self.assertEqual(seen, [("a", None)])
        self.assertEqual(len(runner.pending), 1)
        for expected_serial in range(4):
            self.assertEqual(len(runner.pending), 1)
            self.assertEqual(store.serial, expected_serial - 1)
            runner.release()
            self.assertEqual(store.serial, expected_serial)
        self.assertEqual(runner.pending, [])
        self.assertEqual(
            [self.successResultOf(d) for d in ds],
            [Committed(0, 0), Committed(1, 1), Committed(2, 2), Committed(3, 3)],
        )
        self.assertEqual(seen, [("a", None), ("b", 1), ("c", 2), ("d", 3)])
        self.assertEqual(store.get("count"), 4)
        self.assertEqual(store.children("by"), ["a", "b", "c", "d"])

    def test_failure_of_a_held_commit_lets_the_next_transaction_proceed(self) -> None:
        runner = QueueRunner()
        store, backend = self.make_store(runner)
        first = transact(store, lambda txn: txn.set("a", 1))
        second = transact(store, lambda txn: txn.set("a", txn.get("a", 0) + 10))
        backend.fail_next_commit = True
        runner.release()
        self.failureResultOf(first, BackendFailure)
        self.assertEqual(len(runner.pending), 1)
        runner.release()
        self.assertEqual(self.successResultOf(second), Committed(None, 0))
        self.assertEqual(store.get("a"), 10)

    def test_concurrent_transactions_in_threads_get_consecutive_serials(
        self,
    ) -> Deferred[None]:
        """
        Many transactions started at once from the reactor thread, committing
        in a real thread pool, behave like the same transactions one by one.
        """
        pool = ThreadPool(minthreads=4, maxthreads=4, name="test-store-writer")
        store, backend = self.make_store(pool_runner(reactor, pool))
        pool.start()
        # Cleanups run last-in first-out: the threads stop before the store closes.
        self.addCleanup(pool.stop)
        store.transact_now(lambda txn: txn.set("log", []))

        def work_for(i: int) -> Callable[[Transaction], int]:
            def work(txn: Transaction) -> int:
                log: list[int] = txn.get("log")
                txn.set("log", log + [i])
                txn.set(f"items/{i}", len(log))
                return len(log)

            return work

        count = 40
        ds = [transact(store, work_for(i)) for i in range(count)]

        def check(results: list[Committed[int]]) -> None:
            self.assertEqual([c.serial for c in results], list(range(1, count + 1)))
            self.assertEqual([c.result for c in results], list(range(count)))
            self.assertEqual(store.serial, count)
            self.assertEqual(store.get("log"), list(range(count)))
            self.assertEqual(store.children("items"), sorted(str(i) for i in range(count)))
            entries = backend.entries(0, count + 10)
            self.assertEqual([e[0] for e in entries], list(range(count + 1)))
            for serial, _, text in entries[1:]:
                i = serial - 1
                self.assertEqual(
                    json.loads(text), {"log": list(range(i + 1)), f"items/{i}": i}
                )
            store.close()
            reopened = SQLiteBackend(self.path)
            self.addCleanup(reopened.close)
            self.assertEqual(reopened.load()[0], count)

        return gatherResults(ds).addCallback(check)


class ReplicatedTests(StoreTestMixin, TestCase):
    """A replica's store: commits arrive with the primary's serials and timestamps."""

    def setUp(self) -> None:
        self.store, self.backend = self.make_store()

    def apply(self, entries: list[Entry], after: Callable[[], Any] = lambda: None) -> Any:
        return self.successResultOf(Deferred.fromCoroutine(self.store.apply(entries, after)))

    def test_entries_keep_their_serials_and_timestamps(self) -> None:
        seen: list[int] = []
        self.store.subscribe(lambda serial, changes: seen.append(serial))
        result = self.apply(
            [Entry(0, 10.5, {"a/x": '{"n":1}'}), Entry(1, 11.25, {"a/x": None, "a/y": "2"})],
            lambda: "after",
        )
        self.assertEqual(result, "after")
        self.assertEqual((self.store.serial, self.store.last_commit_timestamp), (1, 11.25))
        self.assertEqual((self.store.get("a/x"), self.store.get("a/y")), (None, 2))
        self.assertEqual(seen, [0, 1])
        self.assertEqual(
            [(s, t) for s, t, _ in self.backend.entries(0, 10)], [(0, 10.5), (1, 11.25)]
        )

    def test_gap_or_repeat_is_refused(self) -> None:
        self.apply([Entry(0, 1.0, {"k": "1"})])
        for first in (0, 2):
            with self.subTest(first=first):
                d = Deferred.fromCoroutine(self.store.apply([Entry(first, 2.0, {"k": "2"})]))
                self.failureResultOf(d, ValueError)
        self.assertEqual((self.store.serial, self.store.get("k")), (0, 1))

    def test_failed_batch_applies_nothing(self) -> None:
        self.backend.fail_next_commit = True
        d = Deferred.fromCoroutine(
            self.store.apply([Entry(0, 1.0, {"k": "1"}), Entry(1, 2.0, {"k": "2"})])
        )
        self.failureResultOf(d, BackendFailure)
        self.assertEqual((self.store.serial, self.store.get("k")), (-1, None))
        self.assertEqual(self.backend.entries(0, 10), [])

    def test_read_only_store_refuses_transactions(self) -> None:
        self.store.read_only = True
        self.failureResultOf(transact(self.store, lambda txn: txn.set("k", 1)), ReadOnlyStore)
        self.apply([Entry(0, 1.0, {"k": "1"})])
        self.assertEqual(self.store.get("k"), 1)

    def test_reached_fires_at_the_serial(self) -> None:
        reached = self.store.reached(1)
        self.assertNoResult(reached)
        self.apply([Entry(0, 1.0, {"k": "1"})])
        self.assertNoResult(reached)
        self.apply([Entry(1, 2.0, {"k": "2"})])
        self.successResultOf(reached)
        self.successResultOf(self.store.reached(0))

    def test_reached_within(self) -> None:
        late = Deferred.fromCoroutine(self.store.reached_within(0, 2.0))
        self.clock.advance(2.5)
        self.assertIs(self.successResultOf(late), False)
        self.assertEqual(self.store._waiting, {})
        soon = Deferred.fromCoroutine(self.store.reached_within(0, 2.0))
        self.apply([Entry(0, 1.0, {"k": "1"})])
        self.assertIs(self.successResultOf(soon), True)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_cancelled_wait_is_forgotten(self) -> None:
        reached = self.store.reached(0)
        reached.cancel()
        self.failureResultOf(reached)
        self.apply([Entry(0, 1.0, {"k": "1"})])
        self.assertEqual(self.store._waiting, {})
