"""Persistence: SQLModel tables, the engine, queries and Alembic migrations.

This package is the only place in tinbao that writes SQL.
"""
