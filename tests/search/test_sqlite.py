"""The SQLite FTS5 engine: documents in, ranked and highlighted hits out."""

import os

from twisted.trial.unittest import SynchronousTestCase

from devpi_twisted.search.interface import HIGHLIGHT_END as E, HIGHLIGHT_START as S, QueryError, Release
from devpi_twisted.search.sqlite import COUNT_LIMIT, SQLiteSearch


def release(project: str, summary: str = "", description: str = "", index: str = "alice/dev", **more: str) -> Release:
    fields = {"keywords": "", "docs": "", **more}
    return Release(index, project, project, "1.0", summary, fields["keywords"], description, fields["docs"])


class SQLiteSearchTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.path = os.path.join(self.mktemp() + ".sqlite")
        self.index = SQLiteSearch(self.path)
        self.addCleanup(self.index.close)

    def hits(self, query: str, offset: int = 0, limit: int = 10) -> list[tuple[str, str]]:
        return [(hit.index, hit.project) for hit in self.index.search(query, offset, limit).hits]

    def test_name_match_ranks_above_description_match(self) -> None:
        self.index.put_releases(
            [release("other", description="mentions requests once"), release("requests", summary="HTTP")], [], 5
        )
        self.assertEqual(self.hits("requests"), [("alice/dev", "requests"), ("alice/dev", "other")])
        self.assertEqual(self.index.indexed_serial(), 5)

    def test_exact_name_first(self) -> None:
        self.index.change_mirror_names("root/pypi", ["django-extensions", "django", "dj-django"], [])
        self.assertEqual(self.hits("django")[0], ("root/pypi", "django"))

    def test_highlights(self) -> None:
        self.index.put_releases([release("hello", summary="Says hello", docs="the hello guide")], [], 1)
        [hit] = self.index.search("hello", 0, 10).hits
        self.assertEqual((hit.name, hit.summary), (f"{S}hello{E}", f"Says {S}hello{E}"))
        self.assertEqual(hit.snippet, f"the {S}hello{E} guide")

    def test_replaced_and_dropped_documents(self) -> None:
        self.index.put_releases([release("a", summary="old words")], [], 1)
        self.index.put_releases([release("a", summary="new words")], [], 2)
        self.assertEqual(self.hits("old"), [])
        self.assertEqual(self.hits("new"), [("alice/dev", "a")])
        self.index.put_releases([], [("alice/dev", "a")], 3)
        self.assertEqual(self.hits("new"), [])

    def test_releases_then_mirror_names_paginated(self) -> None:
        self.index.put_releases([release(f"tool-{i}") for i in range(3)], [], 1)
        self.index.change_mirror_names("root/pypi", [f"tool-x{i}" for i in range(5)], [])
        results = self.index.search("tool", 2, 3)
        self.assertEqual(results.total, 8)
        self.assertEqual([hit.index for hit in results.hits], ["alice/dev", "root/pypi", "root/pypi"])
        self.assertEqual(len(self.index.search("tool", 6, 10).hits), 2)

    def test_mirror_names_changed(self) -> None:
        self.index.change_mirror_names("root/pypi", ["a", "b"], [])
        self.index.change_mirror_names("root/pypi", ["c"], ["a"])
        self.assertEqual(self.index.mirror_names("root/pypi"), {"b", "c"})

    def test_count_is_capped(self) -> None:
        self.index.change_mirror_names("root/pypi", [f"pkg-{i}" for i in range(COUNT_LIMIT + 5)], [])
        results = self.index.search("pkg", 0, 5)
        self.assertEqual((results.total, results.more, len(results.hits)), (COUNT_LIMIT, True, 5))

    def test_index_filter_and_fields(self) -> None:
        self.index.put_releases([release("x", summary="alpha", index="bob/prod"), release("y", keywords="alpha")], [], 1)
        self.assertEqual(self.hits("index:bob/prod alpha"), [("bob/prod", "x")])
        self.assertEqual(self.hits("keywords:alpha"), [("alice/dev", "y")])

    def test_survives_reopening(self) -> None:
        self.index.put_releases([release("kept")], [], 9)
        self.index.close()
        self.index = SQLiteSearch(self.path)
        self.assertEqual((self.hits("kept"), self.index.indexed_serial()), ([("alice/dev", "kept")], 9))

    def test_clear(self) -> None:
        self.index.put_releases([release("gone")], [], 9)
        self.index.clear_releases()
        self.assertEqual((self.hits("gone"), self.index.indexed_serial()), ([], -1))

    def test_bad_query(self) -> None:
        self.assertRaises(QueryError, self.index.search, "***", 0, 10)
