"""Search across contacts, interviews and letters (PostgreSQL full-text search, SQLite FTS5)."""
