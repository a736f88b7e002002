"""Migration scripts, one history for SQLite and PostgreSQL."""
