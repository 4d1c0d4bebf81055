"""Alembic migrations for SQLite and PostgreSQL, runnable from the CLI and on start."""
