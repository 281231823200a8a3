"""What a search engine offers: documents in, ranked and highlighted hits out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional

from zope.interface import Interface

#: Around the matched words in a hit's texts (control characters no text is shown with).
HIGHLIGHT_START = "\x02"
HIGHLIGHT_END = "\x03"


@dataclass(frozen=True)
class Release:
    """What is searched of a project on a stage index: its newest version's texts and docs."""

    index: str
    project: str
    name: str
    version: str
    summary: str
    keywords: str
    description: str
    docs: str


@dataclass(frozen=True)
class Hit:
    """One result; C{name}, C{summary} and C{snippet} carry highlight markers."""

    index: str
    project: str
    name: str
    version: Optional[str]
    summary: str
    snippet: str


@dataclass(frozen=True)
class Results:
    hits: list[Hit]
    #: How many results there are (at least, when C{more}).
    total: int
    more: bool


class QueryError(ValueError):
    """A query that cannot be searched for; the message says why."""


class ISearchIndex(Interface):
    """A full-text index; every method blocks (callers run them in a thread)."""

    def indexed_serial() -> int:
        """The store serial the release documents were last brought up to (-1: never)."""

    def put_releases(
        releases: Iterable[Release], gone: Iterable[tuple[str, str]], serial: Optional[int]
    ) -> None:
        """Add or replace C{releases}, drop the (index, project) pairs in C{gone}, note C{serial} (unless None)."""

    def clear_releases() -> None:
        """Forget every release document and the serial."""

    def mirror_names(index: str) -> set[str]:
        """The project names of mirror C{index} that are indexed."""

    def change_mirror_names(index: str, added: Iterable[str], removed: Iterable[str]) -> None:
        """Index the names C{added} to mirror C{index}, forget those C{removed}."""

    def search(query: str, offset: int, limit: int) -> Results:
        """Hits C{offset} to C{offset + limit} for C{query}, best first; raises L{QueryError}."""

    def close() -> None:
        """Release the index's files."""
