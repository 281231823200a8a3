"""The order an import creates indexes in, and the bases it cannot keep."""

from __future__ import annotations

from twisted.trial.unittest import TestCase

from devpi_twisted.dump.bases import DroppedBase, creation_order


class CreationOrderTests(TestCase):
    def test_bases_come_first_whatever_the_dump_order(self) -> None:
        order, kept, dropped = creation_order(
            {"a/prod": ["a/dev"], "a/dev": ["a/base", "root/pypi"], "a/base": []},
            existing=["root/pypi"],
        )
        self.assertEqual(order, ["a/base", "a/dev", "a/prod"])
        self.assertEqual(kept["a/dev"], ["a/base", "root/pypi"])
        self.assertEqual(dropped, [])

    def test_a_base_that_exists_nowhere_is_dropped(self) -> None:
        order, kept, dropped = creation_order({"a/dev": ["gone/old", "a/x"], "a/x": []}, [])
        self.assertEqual(order, ["a/x", "a/dev"])
        self.assertEqual(kept["a/dev"], ["a/x"])
        self.assertEqual(
            dropped, [DroppedBase("a/dev", "gone/old", "no such index in the dump or the server")]
        )

    def test_the_base_closing_a_cycle_is_dropped(self) -> None:
        order, kept, dropped = creation_order(
            {"a/dev": ["a/prod"], "a/prod": ["a/qa"], "a/qa": ["a/dev"]}, []
        )
        self.assertEqual(order, ["a/qa", "a/prod", "a/dev"])
        self.assertEqual(kept, {"a/dev": ["a/prod"], "a/prod": ["a/qa"], "a/qa": []})
        self.assertEqual(
            [str(d) for d in dropped],
            ["a/qa: dropped base a/dev: it would form a cycle a/dev -> a/prod -> a/qa -> a/dev"],
        )

    def test_an_index_is_not_its_own_base(self) -> None:
        order, kept, dropped = creation_order({"a/dev": ["a/dev"]}, [])
        self.assertEqual((order, kept), (["a/dev"], {"a/dev": []}))
        self.assertEqual(dropped[0].base, "a/dev")

    def test_a_diamond_is_no_cycle(self) -> None:
        order, _, dropped = creation_order(
            {"a/top": ["a/left", "a/right"], "a/left": ["a/base"], "a/right": ["a/base"], "a/base": []},
            [],
        )
        self.assertEqual(dropped, [])
        self.assertEqual(order, ["a/base", "a/left", "a/right", "a/top"])
