"""The rows a dump import writes beside those WikiWriter writes.

gitaccess.dumps.importer decides what a dump's records become; these are
the statements that store them: page rows made before their revisions and
completed after them, extra slots, file versions, log items as the dump has
them, ids chosen by the import, and the site statistics recounted at the
end. Everything runs on the caller's connection, inside its one write
transaction; database errors pass to the caller as SQLAlchemy raises them
(the transaction then rolls back).
"""

from __future__ import annotations

import random
from typing import Any

from sqlalchemy import Column, Connection, ScalarSelect, Table, func, insert, select, text, update

from gitaccess.wiki.database import WikiDatabase


class RowIds:
    """Ids for one table's rows: the dump's own where free, else the next above every id in use.

    Rows get explicit ids even when the dump has none, because a dump's ids
    come in any order and the database's own counter would hand out one the
    dump uses later; PostgreSQL's sequences are set past them afterwards.
    """

    def __init__(self, conn: Connection, column: Column[int], *also_used: Column[int]) -> None:
        self.conn = conn
        self.column = column
        self.columns = (column, *also_used)
        self.high = max(int(conn.execute(select(func.max(c))).scalar() or 0) for c in self.columns)

    def take(self, wanted: int | None) -> int:
        if wanted is not None and wanted > 0 and (wanted > self.high or not self._used(wanted)):
            self.high = max(self.high, wanted)
            return wanted
        self.high += 1
        return self.high

    def note(self, used: int) -> None:
        """An id the database assigned itself."""
        self.high = max(self.high, used)

    def _used(self, value: int) -> bool:
        return any(self.conn.execute(select(c).where(c == value).limit(1)).first() for c in self.columns)

    def sync_sequence(self) -> None:
        """Make PostgreSQL's sequence hand out ids above every one taken (MySQL
        and SQLite move their counters past explicit ids themselves)."""
        if self.conn.dialect.name != "postgresql" or self.high == 0:
            return
        self.conn.execute(
            text("SELECT setval(pg_get_serial_sequence(:table, :column), :value)"),
            {"table": f'"{self.column.table.name}"', "column": self.column.name, "value": self.high},
        )


class DumpRows:
    """The import's own statements on one connection, and the ids it hands out."""

    def __init__(self, db: WikiDatabase, conn: Connection) -> None:
        self.conn = conn
        self.t = t = db.tables
        self.page_ids = RowIds(conn, t.page.c.page_id)
        self.rev_ids = RowIds(conn, t.revision.c.rev_id, t.archive.c.ar_rev_id)
        self.log_ids = RowIds(conn, t.logging.c.log_id)

    def add_page(self, page_id: int, namespace: int, dbkey: str, timestamp: str) -> None:
        """A page row before its first revision; :meth:`finish_page` completes it."""
        self.conn.execute(
            insert(self.t.page).values(
                page_id=page_id, page_namespace=namespace, page_title=dbkey,
                page_is_redirect=0, page_is_new=1, page_random=random.random(), page_touched=timestamp,
                page_links_updated=None, page_latest=0, page_len=0, page_content_model="wikitext",
                page_lang=None,
            )
        )

    def finish_page(self, page_id: int, *, latest: int, length: int, touched: str, is_redirect: bool,
                    model: str, is_new: bool) -> None:
        """Point a page at its newest revision, with that revision's length and model."""
        p = self.t.page
        self.conn.execute(
            update(p).where(p.c.page_id == page_id).values(
                page_latest=latest, page_len=length, page_touched=touched, page_is_redirect=int(is_redirect),
                page_content_model=model, page_is_new=int(is_new),
            )
        )

    def add_slot(self, rev_id: int, role_id: int, content_id: int, origin: int) -> None:
        """A revision's slot other than main (WikiWriter.insert_revision stores main)."""
        self.conn.execute(
            insert(self.t.slots).values(
                slot_revision_id=rev_id, slot_role_id=role_id, slot_content_id=content_id, slot_origin=origin,
            )
        )

    def fix_parents(self, page_id: int) -> None:
        """rev_parent_id by (timestamp, id) order, for a page whose revisions came out of order."""
        r = self.t.revision
        rows = self.conn.execute(
            select(r.c.rev_id, r.c.rev_parent_id)
            .where(r.c.rev_page == page_id)
            .order_by(r.c.rev_timestamp, r.c.rev_id)
        ).all()
        parents = [0] + [row.rev_id for row in rows[:-1]]
        for row, parent in zip(rows, parents):
            if row.rev_parent_id != parent:
                self.conn.execute(update(r).where(r.c.rev_id == row.rev_id).values(rev_parent_id=parent))

    def add_file(self, columns: dict[str, Any], *, archive_name: str | None, deleted: int) -> None:
        """A file version from the columns image and oldimage share (without their prefix): the
        current version (no ``archive_name``) in image, an older one in oldimage with ``deleted``."""
        if archive_name is None:
            self.conn.execute(insert(self.t.image).values({"img_" + k: v for k, v in columns.items()}))
            return
        self.conn.execute(
            insert(self.t.oldimage).values(
                {"oi_" + k: v for k, v in columns.items()} | {"oi_archive_name": archive_name, "oi_deleted": deleted}
            )
        )

    def log_exists(self, log_type: str, action: str, timestamp: str, namespace: int, dbkey: str,
                   params: str | None) -> bool:
        """Whether such a log entry is there already; ``params`` None matches any parameters."""
        lg = self.t.logging
        same = [
            lg.c.log_type == log_type, lg.c.log_action == action, lg.c.log_timestamp == timestamp,
            lg.c.log_namespace == namespace, lg.c.log_title == dbkey,
        ]
        if params is not None:
            same.append(lg.c.log_params == params)
        return self.conn.execute(select(lg.c.log_id).where(*same).limit(1)).first() is not None

    def add_log(self, log_id: int, *, log_type: str, action: str, timestamp: str, actor: int, namespace: int,
                dbkey: str, comment: int, params: str, deleted: int) -> None:
        """A logging row as given (no page, no recentchanges row)."""
        self.conn.execute(
            insert(self.t.logging).values(
                log_id=log_id, log_type=log_type, log_action=action, log_timestamp=timestamp, log_actor=actor,
                log_namespace=namespace, log_title=dbkey, log_page=None, log_comment_id=comment,
                log_params=params, log_deleted=deleted,
            )
        )

    def recount_site_stats(self, good_articles: int) -> None:
        """site_stats as MediaWiki's initSiteStats.php computes it, with the articles counted by the caller."""
        t = self.t

        def count(table: Table) -> ScalarSelect[int]:
            return select(func.count()).select_from(table).scalar_subquery()

        self.conn.execute(
            update(t.site_stats).values(
                ss_total_pages=count(t.page), ss_total_edits=count(t.revision) + count(t.archive),
                ss_good_articles=good_articles, ss_images=count(t.image),
            )
        )
