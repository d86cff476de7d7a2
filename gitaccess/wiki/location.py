"""Where a database URL points, told from the URL alone (no connection is made)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import make_url


def database_exists(url: str) -> bool:
    """False for an embedded SQLite database whose file is not there yet (connecting would
    create it); True for every other URL. A malformed URL raises SQLAlchemy's ArgumentError."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return bool(parsed.database) and Path(parsed.database).exists()
    return True
