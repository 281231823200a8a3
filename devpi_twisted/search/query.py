"""Search queries: words, "phrases", prefix*, field: and index: filters, compiled to FTS5 syntax."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional

from devpi_twisted.search.interface import QueryError

#: The fields a term may be limited to, as the help page names them.
FIELDS = ("name", "summary", "keywords", "description", "docs")
_TERM = re.compile(r'(?:(?P<field>[a-z]+):)?(?:"(?P<phrase>[^"]*)"?|(?P<word>\S+))')
_WORDISH = re.compile(r"\w")
MAX_TERMS = 16


@dataclass(frozen=True)
class Term:
    text: str
    field: Optional[str] = None
    prefix: bool = False

    def fts(self, columns: dict[str, str]) -> str:
        """This term in FTS5 syntax, its field named as C{columns} names it."""
        quoted = '"' + self.text.replace('"', '""') + '"' + ("*" if self.prefix else "")
        return f"{columns[self.field]} : {quoted}" if self.field else quoted


@dataclass(frozen=True)
class Query:
    terms: list[Term] = field(default_factory=list)
    index: Optional[str] = None

    @property
    def names_only(self) -> bool:
        """Whether the query can match a mirror's project name (no field but C{name})."""
        return all(term.field in (None, "name") for term in self.terms)

    def fts(self, columns: dict[str, str]) -> str:
        return " AND ".join(term.fts(columns) for term in self.terms)


def parse_query(text: str) -> Query:
    """The query a user typed; raises L{QueryError} when it has nothing to search for."""
    terms: list[Term] = []
    index = None
    for match in _TERM.finditer(text):
        name, phrase, word = match.group("field", "phrase", "word")
        if name == "index":
            index = (phrase if phrase is not None else word or "").strip("/")
            continue
        if name is not None and name not in FIELDS:
            # not a field: the colon is part of the word
            word = match.group(0)
            name = None
        value = phrase if phrase is not None else word or ""
        prefix = phrase is None and value.endswith("*")
        value = value.rstrip("*") if prefix else value
        if _WORDISH.search(value):
            terms.append(Term(value, name, prefix))
    if not terms:
        raise QueryError("The query has no words to search for.")
    if len(terms) > MAX_TERMS:
        raise QueryError(f"The query has more than {MAX_TERMS} terms.")
    return Query(terms, index or None)
