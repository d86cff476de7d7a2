"""Which wiki activity each journaled commit stands for: its revisions and log entries.

The journal writes these rows (``git_edit_hash``, ``git_status_modify_hash``);
the web pages read them to learn what the wiki now hides of a published commit.
"""

from __future__ import annotations

from sqlalchemy import Connection, select

from gitaccess.wiki.database import WikiDatabase


def activity_of(db: WikiDatabase, conn: Connection, shas: list[str]) -> dict[str, tuple[list[int], list[int]]]:
    """{commit: (revision ids, log ids)} for journaled commits (empty lists for others)."""
    t = db.tables
    geh, gsmh = t.git_edit_hash, t.git_status_modify_hash
    found: dict[str, tuple[list[int], list[int]]] = {sha: ([], []) for sha in shas}
    if not shas:
        return found
    for sha, rev_id in conn.execute(select(geh.c.geh_sha1, geh.c.geh_rev_id).where(geh.c.geh_sha1.in_(shas))):
        found[sha][0].append(rev_id)
    for sha, log_id in conn.execute(select(gsmh.c.gsmh_sha1, gsmh.c.gsmh_log_id).where(gsmh.c.gsmh_sha1.in_(shas))):
        found[sha][1].append(log_id)
    return found
