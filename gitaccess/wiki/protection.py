"""Page protection as the wiki stores it (``page_restrictions``).

Which protections still hold, and what they demand of an account, is
decided by gitaccess.auth.permissions; this module only reads the rows.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Select, bindparam, select

from gitaccess.wiki.database import WikiDatabase
from gitaccess.wiki.schema import Tables


def page_restrictions(db: WikiDatabase, conn: Connection, page_id: int) -> list[tuple[str, str, str | None]]:
    """(action, level, expiry) of every protection row of the page, expired ones included;
    the expiry is a 14-digit timestamp, ``infinity``, or None."""
    rows = conn.execute(db.prepared(_restrictions), {"page": page_id})
    return [(kind, level, expiry) for kind, level, expiry in rows]


def _restrictions(t: Tables) -> Select[Any]:
    pr = t.page_restrictions.c
    return select(pr.pr_type, pr.pr_level, pr.pr_expiry).where(pr.pr_page == bindparam("page"))
