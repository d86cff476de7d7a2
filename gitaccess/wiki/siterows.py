"""Rows that describe the site rather than its pages: gitaccess's stored settings
(``git_site``), the aliases published so far (``git_alias``) and the wiki's
interwiki prefixes (``interwiki``).

Each reader answers "none" when its table is not there (a MediaWiki database
before ``gitaccess db upgrade``, a wiki without an interwiki table), so a
caller need not look first. Database errors pass to the caller as SQLAlchemy
raises them.
"""

from __future__ import annotations

from sqlalchemy import Connection, insert, select

from gitaccess.wiki.database import WikiDatabase


def site_setting(db: WikiDatabase, key: str) -> str | None:
    """The value stored under ``key`` in ``git_site``, or None."""
    if "git_site" not in db.table_names:
        return None
    gs = db.tables.git_site
    with db.read() as conn:
        value: str | None = conn.execute(select(gs.c.gs_value).where(gs.c.gs_key == key)).scalar()
    return value


def add_site_setting(db: WikiDatabase, conn: Connection, key: str, value: str) -> None:
    """Store a new setting in ``git_site``, in the caller's write transaction (the key must be new)."""
    conn.execute(insert(db.tables.git_site).values(gs_key=key, gs_value=value))


def published_aliases(db: WikiDatabase) -> list[tuple[str, int, str]]:
    """(path, namespace, dbkey) of every alias published and not dropped since."""
    if "git_alias" not in db.table_names:
        return []
    ga = db.tables.git_alias
    with db.read() as conn:
        rows = conn.execute(select(ga.c.ga_path, ga.c.ga_namespace, ga.c.ga_title).where(ga.c.ga_until.is_(None)))
        return [(path, namespace, dbkey) for path, namespace, dbkey in rows]


def interwiki_prefixes(db: WikiDatabase) -> list[tuple[str, bool]]:
    """(prefix, whether it is local: iw_local) of every interwiki prefix."""
    if "interwiki" not in db.table_names:
        return []
    iw = db.tables.interwiki
    with db.read() as conn:
        return [(prefix, bool(local)) for prefix, local in conn.execute(select(iw.c.iw_prefix, iw.c.iw_local))]
