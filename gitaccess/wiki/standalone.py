"""A standalone wiki database: MediaWiki's tables without MediaWiki.

``gitaccess init`` creates every table of MediaWiki 1.39's schema (so that a
MediaWiki pointed at the database later finds what it expects) and seeds the
rows MediaWiki's installer writes that gitaccess relies on.
"""

from __future__ import annotations

from sqlalchemy import insert, select, text

from gitaccess.errors import DatabaseError
from gitaccess.wiki import migrate
from gitaccess.wiki.database import WikiDatabase
from gitaccess.wiki.schema import abstract_schema

#: Content models of MediaWiki core plus Scribunto's, in the order MediaWiki numbers them on first use.
CONTENT_MODELS = ("wikitext", "javascript", "css", "json", "text", "Scribunto")


def create(db: WikiDatabase) -> None:
    """Create an empty wiki: MediaWiki's tables, their seed rows, and gitaccess's tables.

    Raises DatabaseError when the database already holds MediaWiki tables.
    """
    if db.sqlite_path is not None:
        db.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    existing = db.table_names & {spec["name"] for spec in abstract_schema()}
    if existing:
        raise DatabaseError(
            f"the database already holds MediaWiki tables ({', '.join(sorted(existing)[:5])}, ...): "
            "use `gitaccess db upgrade` to add gitaccess's tables to an existing wiki"
        )
    with db.engine.begin() as conn:
        if db.dialect == "postgresql":
            conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{db.pg_schema}"'))
        mediawiki = [t for name, t in db.metadata.tables.items() if not name[len(db.prefix):].startswith("git_")]
        db.metadata.create_all(conn, tables=mediawiki)
        t = db.tables
        conn.execute(insert(t.slot_roles).values(role_name="main"))
        conn.execute(insert(t.content_models), [{"model_name": m} for m in CONTENT_MODELS])
        conn.execute(
            insert(t.site_stats).values(
                ss_row_id=1, ss_total_edits=0, ss_good_articles=0, ss_total_pages=0, ss_users=0,
                ss_active_users=0, ss_images=0,
            )
        )
    db.forget_schema()
    migrate.upgrade(db)


def is_empty(db: WikiDatabase) -> bool:
    """True when the wiki has no revisions yet (the only state a dump may be imported into)."""
    with db.read() as conn:
        return conn.execute(select(db.tables.revision.c.rev_id).limit(1)).first() is None
