"""The embedded search engine: SQLite FTS5 (built into Python's sqlite3), one connection per thread."""

from __future__ import annotations

import sqlite3
import threading
from typing import Any, Iterable, Optional

from zope.interface import implementer

from devpi_twisted.search.interface import (
    HIGHLIGHT_END,
    HIGHLIGHT_START,
    Hit,
    ISearchIndex,
    QueryError,
    Release,
    Results,
)
from devpi_twisted.search.query import Query, parse_query

#: Mirror names counted before a result count says "more than".
COUNT_LIMIT = 1000
#: The weights of name, summary, keywords, description and docs in the ranking.
_WEIGHTS = "10.0, 4.0, 4.0, 1.0, 1.0"
_RELEASE_COLUMNS = {"name": "name", "summary": "summary", "keywords": "keywords", "description": "description", "docs": "docs"}
_NAME_COLUMNS = {"name": "project"}
_TOKENIZER = "unicode61 remove_diacritics 2"
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS release_docs (
    id INTEGER PRIMARY KEY, index_name TEXT NOT NULL, project TEXT NOT NULL,
    name TEXT, version TEXT, summary TEXT, keywords TEXT, description TEXT, docs TEXT,
    UNIQUE (index_name, project));
CREATE VIRTUAL TABLE IF NOT EXISTS releases USING fts5(
    name, summary, keywords, description, docs,
    content='release_docs', content_rowid='id', tokenize='{_TOKENIZER}');
CREATE TRIGGER IF NOT EXISTS release_docs_in AFTER INSERT ON release_docs BEGIN
    INSERT INTO releases (rowid, name, summary, keywords, description, docs)
    VALUES (new.id, new.name, new.summary, new.keywords, new.description, new.docs);
END;
CREATE TRIGGER IF NOT EXISTS release_docs_out AFTER DELETE ON release_docs BEGIN
    INSERT INTO releases (releases, rowid, name, summary, keywords, description, docs)
    VALUES ('delete', old.id, old.name, old.summary, old.keywords, old.description, old.docs);
END;
CREATE TABLE IF NOT EXISTS mirror_projects (
    id INTEGER PRIMARY KEY, index_name TEXT NOT NULL, project TEXT NOT NULL,
    UNIQUE (index_name, project));
CREATE INDEX IF NOT EXISTS mirror_projects_by_name ON mirror_projects (project);
CREATE VIRTUAL TABLE IF NOT EXISTS names USING fts5(
    project, content='mirror_projects', content_rowid='id', tokenize='{_TOKENIZER}');
CREATE TRIGGER IF NOT EXISTS mirror_projects_in AFTER INSERT ON mirror_projects BEGIN
    INSERT INTO names (rowid, project) VALUES (new.id, new.project);
END;
CREATE TRIGGER IF NOT EXISTS mirror_projects_out AFTER DELETE ON mirror_projects BEGIN
    INSERT INTO names (names, rowid, project) VALUES ('delete', old.id, old.project);
END;
"""


@implementer(ISearchIndex)
class SQLiteSearch:
    """Release documents and mirror names in two FTS5 tables of one database file (WAL: readers never wait)."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        with self._db() as db:
            db.executescript(_SCHEMA)

    def _db(self) -> sqlite3.Connection:
        db: Optional[sqlite3.Connection] = getattr(self._local, "db", None)
        if db is None:
            # each thread uses its own; close() may run in another
            db = sqlite3.connect(self._path, timeout=30, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            self._local.db = db
            with self._lock:
                self._all.append(db)
        return db

    def indexed_serial(self) -> int:
        row = self._db().execute("SELECT value FROM meta WHERE key = 'serial'").fetchone()
        return -1 if row is None else int(row[0])

    def put_releases(
        self, releases: Iterable[Release], gone: Iterable[tuple[str, str]], serial: Optional[int]
    ) -> None:
        with self._db() as db:
            releases = list(releases)
            gone = [*gone, *((release.index, release.project) for release in releases)]
            db.executemany("DELETE FROM release_docs WHERE index_name = ? AND project = ?", gone)
            db.executemany(
                "INSERT INTO release_docs (index_name, project, name, version, summary, keywords,"
                " description, docs) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (r.index, r.project, r.name, r.version, r.summary, r.keywords, r.description, r.docs)
                    for r in releases
                ],
            )
            if serial is not None:
                db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('serial', ?)", (str(serial),))

    def clear_releases(self) -> None:
        with self._db() as db:
            db.execute("DELETE FROM release_docs")
            db.execute("DELETE FROM meta WHERE key = 'serial'")

    def mirror_names(self, index: str) -> set[str]:
        rows = self._db().execute("SELECT project FROM mirror_projects WHERE index_name = ?", (index,))
        return {name for (name,) in rows}

    def change_mirror_names(self, index: str, added: Iterable[str], removed: Iterable[str]) -> None:
        with self._db() as db:
            db.executemany(
                "DELETE FROM mirror_projects WHERE index_name = ? AND project = ?",
                [(index, name) for name in removed],
            )
            db.executemany(
                "INSERT OR IGNORE INTO mirror_projects (index_name, project) VALUES (?, ?)",
                [(index, name) for name in added],
            )

    def search(self, query: str, offset: int, limit: int) -> Results:
        parsed = parse_query(query)
        db = self._db()
        exact = "-".join(term.text.lower() for term in parsed.terms)
        try:
            release_total = self._count(db, "releases", "release_docs", parsed, _RELEASE_COLUMNS, None)
            hits = self._releases(db, parsed, exact, offset, limit) if offset < release_total else []
            name_total, more = 0, False
            if parsed.names_only:
                name_total = self._count(db, "names", "mirror_projects", parsed, _NAME_COLUMNS, COUNT_LIMIT)
                more = name_total > COUNT_LIMIT
                name_total = min(name_total, COUNT_LIMIT)
                wanted = limit - len(hits)
                if wanted > 0:
                    start = max(0, offset - release_total)
                    hits += self._names(db, parsed, exact, start, min(wanted, name_total - start))
        except sqlite3.OperationalError as error:
            raise QueryError(f"The query cannot be searched for: {error}") from None
        return Results(hits, release_total + name_total, more)

    @staticmethod
    def _filter(parsed: Query, table: str) -> tuple[str, list[Any]]:
        if parsed.index is None:
            return "", []
        return f" AND {table}.index_name = ?", [parsed.index]

    def _count(
        self, db: sqlite3.Connection, fts: str, content: str, parsed: Query,
        columns: dict[str, str], cap: Optional[int],
    ) -> int:
        where, args = self._filter(parsed, "c")
        inner = f"SELECT 1 FROM {fts} JOIN {content} c ON c.id = {fts}.rowid WHERE {fts} MATCH ?{where}"
        if cap is not None:
            inner += f" LIMIT {cap + 1}"
        return int(db.execute(f"SELECT count(*) FROM ({inner})", [parsed.fts(columns), *args]).fetchone()[0])

    def _releases(self, db: sqlite3.Connection, parsed: Query, exact: str, offset: int, limit: int) -> list[Hit]:
        where, args = self._filter(parsed, "d")
        marks = (HIGHLIGHT_START, HIGHLIGHT_END)
        rows = db.execute(
            "SELECT d.index_name, d.project, highlight(releases, 0, ?, ?), d.version,"
            " highlight(releases, 1, ?, ?), snippet(releases, 3, ?, ?, '…', 24),"
            " snippet(releases, 4, ?, ?, '…', 24)"
            " FROM releases JOIN release_docs d ON d.id = releases.rowid"
            f" WHERE releases MATCH ?{where}"
            f" ORDER BY d.project = ? DESC, bm25(releases, {_WEIGHTS}) LIMIT ? OFFSET ?",
            [*marks, *marks, *marks, *marks, parsed.fts(_RELEASE_COLUMNS), *args, exact, limit, offset],
        )
        hits = []
        for index, project, name, version, summary, description, docs in rows:
            # the description's or the docs' passage with the matched words
            shown = next((text for text in (description, docs) if HIGHLIGHT_START in text), "")
            hits.append(Hit(index, project, name, version, summary or "", shown))
        return hits

    def _names(self, db: sqlite3.Connection, parsed: Query, exact: str, offset: int, limit: int) -> list[Hit]:
        """
        Mirror names: the one named exactly as the query first, then the
        others in the order they were indexed (FTS5 yields rowid order
        without ranking every match, so a common word costs no more than a
        rare one at a million names).
        """
        if limit <= 0:
            return []
        where, args = self._filter(parsed, "m")
        rows = db.execute(
            f"SELECT m.index_name, m.project FROM mirror_projects m WHERE m.project = ?{where}", [exact, *args]
        )
        hits = [Hit(index, project, HIGHLIGHT_START + project + HIGHLIGHT_END, None, "", "") for index, project in rows]
        first = hits[offset : offset + limit]
        rows = db.execute(
            "SELECT m.index_name, m.project, highlight(names, 0, ?, ?)"
            " FROM names JOIN mirror_projects m ON m.id = names.rowid"
            f" WHERE names MATCH ? AND m.project != ?{where} ORDER BY names.rowid LIMIT ? OFFSET ?",
            [HIGHLIGHT_START, HIGHLIGHT_END, parsed.fts(_NAME_COLUMNS), exact, *args,
             limit - len(first), max(0, offset - len(hits))],
        )
        return first + [Hit(index, project, name, None, "", "") for index, project, name in rows]

    def close(self) -> None:
        with self._lock:
            for db in self._all:
                db.close()
            self._all.clear()
