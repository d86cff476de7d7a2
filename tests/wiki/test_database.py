"""The engine gitaccess opens on the wiki's database: pooled, and never shared across fork()."""

from __future__ import annotations

import os

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from gitaccess.wiki.database import make_engine


def _sees_probe(engine: Engine) -> bool:
    """Whether the connection the pool hands out is the one that made the temporary table
    (temporary tables belong to one connection, on every backend)."""
    with engine.connect() as conn:
        try:
            conn.execute(text("SELECT x FROM forked_probe")).all()
            return True
        except DBAPIError:
            return False


def test_connections_are_reused_but_not_by_a_forked_child(empty_url: str) -> None:
    """A fetch makes a dozen short transactions: they reuse one connection. A gunicorn worker
    forked from a process that used the database opens its own instead of sharing its
    parent's socket or SQLite file handle."""
    engine = make_engine(empty_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TEMPORARY TABLE forked_probe (x INTEGER)"))
        assert _sees_probe(engine)  # pooled: the same connection again
        reader, writer = os.pipe()
        child = os.fork()
        if child == 0:  # pragma: no cover - the child reports through the pipe
            try:
                os.write(writer, b"shared" if _sees_probe(engine) else b"own")
            finally:
                os._exit(0)
        os.close(writer)
        answer = os.read(reader, 16)
        os.waitpid(child, 0)
        os.close(reader)
        assert answer == b"own"
        assert _sees_probe(engine)  # the parent's connection was left alone
    finally:
        engine.dispose()
