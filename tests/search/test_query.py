"""What users type, compiled to FTS5 queries."""

from twisted.trial.unittest import SynchronousTestCase

from devpi_twisted.search.interface import QueryError
from devpi_twisted.search.query import Term, parse_query

COLUMNS = {"name": "name", "summary": "summary", "keywords": "keywords", "description": "description", "docs": "docs"}


class ParseQueryTests(SynchronousTestCase):
    def test_words_phrases_prefixes_fields(self) -> None:
        query = parse_query('flask "web framework" djang* name:devpi')
        self.assertEqual(
            query.terms,
            [Term("flask"), Term("web framework"), Term("djang", prefix=True), Term("devpi", "name")],
        )
        self.assertEqual(query.fts(COLUMNS), '"flask" AND "web framework" AND "djang"* AND name : "devpi"')

    def test_index_filter(self) -> None:
        query = parse_query("index:root/pypi/ numpy")
        self.assertEqual((query.index, query.terms), ("root/pypi", [Term("numpy")]))

    def test_fts_syntax_is_quoted_away(self) -> None:
        # every term is a quoted string (quotes doubled): operators are only words
        query = parse_query('a"b OR NEAR(x) -c')
        self.assertEqual(query.fts(COLUMNS), '"a""b" AND "OR" AND "NEAR(x)" AND "-c"')

    def test_unknown_field_is_part_of_the_word(self) -> None:
        self.assertEqual(parse_query("foo:bar").terms, [Term("foo:bar")])

    def test_names_only(self) -> None:
        self.assertTrue(parse_query("name:x y").names_only)
        self.assertFalse(parse_query("summary:x").names_only)

    def test_nothing_to_search_for(self) -> None:
        for text in ("", "  ", '""', "- * :", "index:root/pypi"):
            self.assertRaises(QueryError, parse_query, text)

    def test_too_many_terms(self) -> None:
        self.assertRaises(QueryError, parse_query, " ".join(f"w{i}" for i in range(17)))
