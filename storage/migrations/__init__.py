"""Alembic migration environment; run through `tinbao db upgrade` (see storage/migrate.py)."""
