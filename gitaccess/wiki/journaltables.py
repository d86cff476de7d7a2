"""The journal's own tables: ``git_hash`` and what hangs off it.

``git_hash`` holds the journaled commits in order; ``git_edit_hash`` and
``git_status_modify_hash`` link them to the revisions and log entries they
stand for; ``git_alias`` holds the aliases they published; ``git_object``
the side-branch objects of pushes; ``git_site`` the journal's high-water
marks (whose row is the journal lock) and the layouts it recorded.
docs/history.md describes them. gitaccess.journal.history decides what goes
in them; these are its statements, on the caller's connection. Only the
holder of the journal lock writes. Database errors pass to the caller as
SQLAlchemy raises them.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Iterable

from sqlalchemy import Connection, RowMapping, Table, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from gitaccess.wiki.database import WikiDatabase

if TYPE_CHECKING:
    from dulwich.objects import Commit

#: The ``git_site`` key of the journal's high-water marks; its row is the journal lock.
JOURNAL_KEY = "journal"
#: An alias as ``git_alias`` holds it: (path, namespace, dbkey).
AliasRow = tuple[str, int, str]


def add_journal_row(db: WikiDatabase, marks: str) -> None:
    """Make the row the journal lock is taken on, holding ``marks``, in a transaction of its own;
    made once, whoever comes first (another server making it meanwhile is no error)."""
    gs = db.tables.git_site
    try:
        with db.write() as conn:
            if conn.execute(select(gs.c.gs_key).where(gs.c.gs_key == JOURNAL_KEY)).first() is None:
                conn.execute(insert(gs).values(gs_key=JOURNAL_KEY, gs_value=marks))
    except IntegrityError:
        pass  # another server made it meanwhile


def _layout_key(layout_id: int) -> str:
    return f"layout:{layout_id}"


class JournalTables:
    """The journal's statements on one connection: its line of commits, marks, layouts and aliases."""

    def __init__(self, db: WikiDatabase, conn: Connection) -> None:
        self.db = db
        self.conn = conn
        self.t = db.tables

    # --- the line of commits
    def head(self) -> str | None:
        """The SHA-1 of the newest journaled commit; None while the journal is empty."""
        gh = self.t.git_hash
        sha: str | None = self.conn.execute(select(gh.c.gh_sha1).order_by(gh.c.gh_seq.desc()).limit(1)).scalar()
        return sha

    def head_layout(self) -> int | None:
        """The layout id the newest journaled commit was made with; None while the journal is empty."""
        gh = self.t.git_hash
        layout_id: int | None = self.conn.execute(
            select(gh.c.gh_layout).order_by(gh.c.gh_seq.desc()).limit(1)).scalar()
        return layout_id

    def last_position(self) -> int:
        """The position of the newest journaled commit; 0 while the journal is empty."""
        gh = self.t.git_hash
        return self.conn.execute(select(func.max(gh.c.gh_seq))).scalar() or 0

    def position_of(self, sha: str) -> int | None:
        """The position of a journaled commit; None when the journal does not hold it."""
        gh = self.t.git_hash
        position: int | None = self.conn.execute(select(gh.c.gh_seq).where(gh.c.gh_sha1 == sha)).scalar()
        return position

    def rows_after(self, position: int) -> list[RowMapping]:
        """The ``git_hash`` rows of the commits after ``position`` (0: all), in order, keyed by column name."""
        gh = self.t.git_hash
        return [r._mapping for r in self.conn.execute(select(gh).where(gh.c.gh_seq > position).order_by(gh.c.gh_seq))]

    def revisions_of(self, shas: list[str]) -> list[tuple[str, int]]:
        """(commit SHA-1, revision id) of each revision these journaled commits stand for."""
        geh = self.t.git_edit_hash
        return [(sha, rev_id) for sha, rev_id in self.conn.execute(
            select(geh.c.geh_sha1, geh.c.geh_rev_id).where(geh.c.geh_sha1.in_(shas)))]

    def log_entries_of(self, shas: list[str]) -> list[tuple[str, int]]:
        """(commit SHA-1, log id) of each log entry these journaled commits stand for."""
        gsmh = self.t.git_status_modify_hash
        return [(sha, log_id) for sha, log_id in self.conn.execute(
            select(gsmh.c.gsmh_sha1, gsmh.c.gsmh_log_id).where(gsmh.c.gsmh_sha1.in_(shas)))]

    def truncate(self, position: int, shas: list[str]) -> None:
        """Forget the commits from ``position`` on (``shas``: theirs) with their links and aliases,
        for a redaction to journal them again."""
        t = self.t
        self.conn.execute(t.git_edit_hash.delete().where(t.git_edit_hash.c.geh_sha1.in_(shas)))
        self.conn.execute(t.git_status_modify_hash.delete().where(t.git_status_modify_hash.c.gsmh_sha1.in_(shas)))
        self.conn.execute(t.git_alias.delete().where(t.git_alias.c.ga_seq >= position))
        self.conn.execute(t.git_hash.delete().where(t.git_hash.c.gh_seq >= position))

    # --- the marks and layouts (git_site)
    def marks(self, *, lock: bool = False) -> str | None:
        """The journal's high-water marks as stored (None before :func:`add_journal_row`);
        ``lock`` takes the journal lock until the transaction ends."""
        gs = self.t.git_site
        query = select(gs.c.gs_value).where(gs.c.gs_key == JOURNAL_KEY)
        if lock and self.db.dialect != "sqlite":
            query = query.with_for_update()
        marks: str | None = self.conn.execute(query).scalar()
        return marks

    def save_marks(self, marks: str) -> None:
        """Store the journal's new high-water marks."""
        gs = self.t.git_site
        self.conn.execute(update(gs).where(gs.c.gs_key == JOURNAL_KEY).values(gs_value=marks))

    def layout_settings(self, layout_id: int) -> Any | None:
        """The settings of the layout recorded under an id (decoded JSON); None if none is."""
        gs = self.t.git_site
        raw = self.conn.execute(select(gs.c.gs_value).where(gs.c.gs_key == _layout_key(layout_id))).scalar()
        return json.loads(raw) if raw is not None else None

    def add_layout(self, layout_id: int, settings: Any) -> None:
        """Record a layout's settings under a new id."""
        self.conn.execute(insert(self.t.git_site).values(gs_key=_layout_key(layout_id), gs_value=json.dumps(settings)))

    def replace_layout(self, layout_id: int, settings: Any) -> None:
        """Record other settings under a layout id already recorded."""
        gs = self.t.git_site
        self.conn.execute(update(gs).where(gs.c.gs_key == _layout_key(layout_id))
                          .values(gs_value=json.dumps(settings)))

    # --- aliases
    def active_aliases(self) -> list[AliasRow]:
        """The aliases published and not dropped since."""
        ga = self.t.git_alias
        return [(path, namespace, dbkey) for path, namespace, dbkey in self.conn.execute(
            select(ga.c.ga_path, ga.c.ga_namespace, ga.c.ga_title).where(ga.c.ga_until.is_(None)))]

    def aliases_at(self, position: int) -> list[AliasRow]:
        """The aliases active at the commit at ``position``, by path (the registry's order)."""
        ga = self.t.git_alias
        return [(path, namespace, dbkey) for path, namespace, dbkey in self.conn.execute(
            select(ga.c.ga_path, ga.c.ga_namespace, ga.c.ga_title)
            .where(ga.c.ga_seq <= position, or_(ga.c.ga_until.is_(None), ga.c.ga_until > position))
            .order_by(ga.c.ga_path))]

    def aliases_added(self, first: int, last: int) -> dict[int, list[AliasRow]]:
        """The aliases each commit from position ``first`` to ``last`` published, by position."""
        ga = self.t.git_alias
        added: dict[int, list[AliasRow]] = {}
        for position, path, namespace, dbkey in self.conn.execute(
                select(ga.c.ga_seq, ga.c.ga_path, ga.c.ga_namespace, ga.c.ga_title)
                .where(ga.c.ga_seq >= first, ga.c.ga_seq <= last)):
            added.setdefault(position, []).append((path, namespace, dbkey))
        return added

    def drop_alias(self, path: str, position: int) -> None:
        """End an active alias at the commit at ``position``."""
        ga = self.t.git_alias
        self.conn.execute(update(ga).where(ga.c.ga_path == path, ga.c.ga_until.is_(None)).values(ga_until=position))

    def add_alias(self, alias: AliasRow, position: int) -> None:
        """Publish an alias from the commit at ``position`` on."""
        path, namespace, dbkey = alias
        self.conn.execute(insert(self.t.git_alias).values(ga_path=path, ga_namespace=namespace, ga_title=dbkey,
                                                          ga_seq=position))

    # --- pushed objects
    def add_pushed_object(self, sha: str, type_num: int, data: bytes, push: str) -> None:
        """Keep an object a pushed commit (``push``) brought on its side branch."""
        self.conn.execute(insert(self.t.git_object).values(go_sha1=sha, go_type=type_num, go_data=data, go_push=push))

    def pushed_objects(self, push: str) -> list[tuple[str, int, bytes]]:
        """(SHA-1, type number, raw data) of each object the pushed commit ``push`` brought."""
        go = self.t.git_object
        return [(sha, type_num, bytes(data)) for sha, type_num, data in self.conn.execute(
            select(go.c.go_sha1, go.c.go_type, go.c.go_data).where(go.c.go_push == push))]


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

    def add(self, commit: Commit, kind: str, *, revisions: Iterable[int], logs: Iterable[int],
            aliases: Iterable[AliasRow], marks: tuple[int, int], layout_id: int, raw: bytes | None = None) -> int:
        """Journal one commit standing for ``revisions`` and ``logs``, publishing ``aliases``,
        made with the (revision, log) ``marks`` and layout given; ``raw``: its bytes, for a
        commit the wiki cannot make again. Returns its position."""
        t = self.db.tables
        seq, self.next_seq = self.next_seq, self.next_seq + 1
        name, _, email = commit.author.decode("utf-8").rpartition(" <")
        sha = commit.id.decode("ascii")
        self._row(t.git_hash, gh_seq=seq, gh_sha1=sha, gh_tree=commit.tree.decode("ascii"),
                  gh_parents=" ".join(p.decode("ascii") for p in commit.parents),
                  gh_author_name=name, gh_author_email=email[:-1], gh_author_time=commit.author_time,
                  gh_author_tz=commit.author_timezone // 60, gh_committer_name=name, gh_committer_email=email[:-1],
                  gh_committer_time=commit.commit_time, gh_committer_tz=commit.commit_timezone // 60,
                  gh_kind=kind, gh_message=commit.message.decode("utf-8"), gh_raw=raw,
                  gh_rev_mark=marks[0], gh_log_mark=marks[1], gh_layout=layout_id)
        for rev_id in revisions:
            self._row(t.git_edit_hash, geh_sha1=sha, geh_rev_id=rev_id)
        for log_id in logs:
            self._row(t.git_status_modify_hash, gsmh_sha1=sha, gsmh_log_id=log_id)
        for path, namespace, dbkey in aliases:
            self._row(t.git_alias, ga_path=path, ga_namespace=namespace, ga_title=dbkey, ga_seq=seq)
        return seq

    def _row(self, table: Table, **values: Any) -> None:
        self.rows.setdefault(table, []).append(values)

    def flush(self) -> None:
        """Write the rows added so far; a database error (say, a duplicate SHA-1) propagates."""
        for table, rows in self.rows.items():
            if rows:
                self.conn.execute(self.db.insert_into(table), rows)
        self.rows = {}
