"""Writing the journal's rows: ``git_hash`` and the tables that link it to the wiki.

docs/history.md describes the tables. Only the holder of the journal lock
writes them (:class:`gitaccess.journal.history.History`).
"""

from __future__ import annotations

from typing import Any

from dulwich.objects import Commit
from sqlalchemy import Connection, Table

from gitaccess.journal.state import Marks, Unit
from gitaccess.tree.aliases import Alias
from gitaccess.wiki.database import WikiDatabase


class JournalRows:
    """Commits on their way into the journal (``git_hash`` and the tables that link it to the
    wiki's revisions, log entries and aliases), written a batch at a time.

    The writer holds the journal lock, so it numbers the commits itself
    (after ``last_position``, the journal's head position) and a batch costs
    a few multi-row inserts, not a few statements per commit. Nothing may
    read the journal's tables between :meth:`add` and :meth:`flush`.
    """

    def __init__(self, db: WikiDatabase, conn: Connection, last_position: int) -> None:
        self.db = db
        self.conn = conn
        self.next_seq = last_position + 1
        self.rows: dict[Table, list[dict[str, Any]]] = {}

    def add(self, commit: Commit, unit: Unit, aliases: list[Alias], marks: Marks, layout_id: int, *,
            kind: str | None = None, raw: bytes | None = None) -> int:
        """Journal one commit (``raw``: its bytes, for a commit the wiki cannot make again); its seq."""
        t = self.db.tables
        seq, self.next_seq = self.next_seq, self.next_seq + 1
        name, _, email = commit.author.decode("utf-8").rpartition(" <")
        sha = commit.id.decode("ascii")
        self._row(t.git_hash, gh_seq=seq, gh_sha1=sha, gh_tree=commit.tree.decode("ascii"),
                  gh_parents=" ".join(p.decode("ascii") for p in commit.parents),
                  gh_author_name=name, gh_author_email=email[:-1], gh_author_time=commit.author_time,
                  gh_author_tz=commit.author_timezone // 60, gh_committer_name=name, gh_committer_email=email[:-1],
                  gh_committer_time=commit.commit_time, gh_committer_tz=commit.commit_timezone // 60,
                  gh_kind=kind or ("log" if unit.logs else "revision" if unit.revisions else "layout"),
                  gh_message=commit.message.decode("utf-8"), gh_raw=raw,
                  gh_rev_mark=marks.rev, gh_log_mark=marks.log, gh_layout=layout_id)
        for r in unit.revisions:
            self._row(t.git_edit_hash, geh_sha1=sha, geh_rev_id=r.rev_id)
        for e in unit.logs:
            self._row(t.git_status_modify_hash, gsmh_sha1=sha, gsmh_log_id=e.log_id)
        for a in aliases:
            self._row(t.git_alias, ga_path=a.path, ga_namespace=a.title.namespace, ga_title=a.title.dbkey, ga_seq=seq)
        return seq

    def _row(self, table: Table, **values: Any) -> None:
        self.rows.setdefault(table, []).append(values)

    def flush(self) -> None:
        """Write the rows added so far; a database error (say, a duplicate SHA-1) propagates."""
        for table, rows in self.rows.items():
            if rows:
                self.conn.execute(self.db.insert_into(table), rows)
        self.rows = {}

