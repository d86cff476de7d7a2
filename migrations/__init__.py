"""Alembic migrations of gitaccess's own tables (installed as gitaccess.migrations)."""
