"""The search index: an interface, the SQLite FTS5 engine, and the indexer that follows commits."""
