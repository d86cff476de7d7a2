"""The history journal: wiki activity turned into commits whose SHA-1s never change.

docs/history.md describes the design. :class:`History` reads new activity
after the journal's high-water marks, groups it into units, applies them to
the wiki's state with a :class:`~gitaccess.journal.builder.Builder` and
appends their commits to ``git_hash`` inside one transaction holding the
journal lock (:meth:`History.catch_up`); journals a push's commits the same
way (:meth:`History.journal_push`); and applies the journaled units again to
rebuild the object cache (:meth:`History.replay`), check the journal
(:meth:`History.verify`) or rewrite it without what the wiki now hides
(:meth:`History.redact`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Sequence, TypeVar

from dulwich.objects import Commit, ShaFile

from gitaccess.errors import GitAccessError
from gitaccess.journal.builder import Builder, EarlierTitles
from gitaccess.journal.commits import Identity, make_commit, message, wiki_identity
from gitaccess.journal.state import Marks, NewCommit, Unit, WikiState, group
from gitaccess.objects.trees import TreeObject
from gitaccess.site import Site
from gitaccess.titles.codec import Title
from gitaccess.tree.aliases import Alias
from gitaccess.tree.layout import Layout
from gitaccess.wiki import events
from gitaccess.wiki.events import DELETED_COMMENT, DELETED_TEXT, DELETED_USER
from gitaccess.wiki.journaltables import AliasRow, JournalRows, JournalTables, add_journal_row
from gitaccess.wiki.reader import TextRows

if TYPE_CHECKING:
    from sqlalchemy import Connection

log = logging.getLogger(__name__)


class HistoryError(GitAccessError):
    """The journal and the wiki disagree, or the wiki lacks something history needs."""


class StaleCache(HistoryError):
    """The journal moved past the head the caller builds on (the cache's, or a push's parent):
    replay the journal first (a push is refused: its pusher fetches first)."""


class PushedTreeDiffers(HistoryError):
    """The wiki's rows, after a pushed commit's changes, make a tree other than the commit's.

    ``tree`` is the tree the wiki would show, ``objects`` the new objects it
    is made of (to tell the pusher where the two differ).
    """

    def __init__(self, commit: Commit, tree: bytes, objects: list[ShaFile | TreeObject]) -> None:
        super().__init__(f"commit {commit.id.decode()} would be shown with tree {tree.decode()}")
        self.commit = commit
        self.tree = tree
        self.objects = objects


@dataclass(frozen=True)
class PushedCommit:
    """A pushed commit for :meth:`History.journal_push`, with how to make its changes in the wiki."""

    commit: Commit
    #: The alias registry the commit's tree has (its Aliases.xml).
    aliases: list[Alias]
    #: Whether the journal's active aliases become ``aliases`` (else they stay as they are).
    sets_aliases: bool
    #: Makes the commit's changes in the wiki, in the push's transaction; returns the ids of the
    #: revisions and log entries it made.
    write: Callable[[], tuple[list[int], list[int]]]


#: Journaled commits whose activity is read from the database together while replaying.
REPLAY_CHUNK = 500
#: Told (done, total) as long work goes on: commits replayed, units of wiki activity journaled.
CountProgress = Callable[[int, int], None]
T = TypeVar("T")
#: How long an id missing below the high-water marks is looked for (a long MediaWiki transaction).
GAP_SECONDS = 3600
#: A jump of ids larger than this (an import with explicit ids) is not tracked id by id.
MAX_GAPS = 10000


class History:
    """The journal of one site: catching up with the wiki, replaying, verifying."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.db = site.db
        self._layouts = site.recorded_layouts
        self.texts = TextRows(site.db)

    def _builder(self, conn: Connection, state: WikiState, marks: Marks, layout: Layout,
                 earlier: EarlierTitles | None = None) -> Builder:
        """A builder of this site's commits reading the wiki through ``conn``."""
        return Builder(self.site, self.texts, conn, state, marks, layout, earlier)

    # --- layouts
    def layout(self, conn: Connection, layout_id: int) -> Layout:
        """The layout recorded under an id (git_site "layout:<id>"); :class:`HistoryError` when
        the journal names a layout that was never recorded."""
        if layout_id not in self._layouts:
            settings = JournalTables(self.db, conn).layout_settings(layout_id)
            if settings is None:
                raise HistoryError(f"the journal names layout {layout_id}, which git_site does not hold")
            self._layouts[layout_id] = self.site.layout_from(settings)
        return self._layouts[layout_id]

    def _current_layout_id(self, conn: Connection, head_layout: int | None) -> int:
        """The id of the configuration's layout: the head's if unchanged, else a newly recorded one.

        Before the first commit there is nothing to keep: layout 1 is (re)written.
        """
        settings = self.site.layout_settings()
        tables = JournalTables(self.db, conn)
        layout_id = head_layout or 1
        recorded = tables.layout_settings(layout_id)
        if recorded is not None and recorded == settings:
            return layout_id
        if head_layout is not None:
            layout_id += 1
            recorded = None
        if recorded is None:
            tables.add_layout(layout_id, settings)
        else:
            tables.replace_layout(layout_id, settings)
        self._layouts.pop(layout_id, None)
        return layout_id

    # --- reading the journal
    def head(self, conn: Connection) -> bytes | None:
        """The journal's newest commit; None while it is empty."""
        sha = JournalTables(self.db, conn).head()
        return sha.encode("ascii") if sha else None

    def last_position(self, conn: Connection) -> int:
        """The journal position of its head (0 when empty): about how many commits it holds."""
        return JournalTables(self.db, conn).last_position()

    def marks(self, conn: Connection, *, lock: bool = False) -> Marks:
        """The journal's high-water marks; ``lock`` takes the journal lock until the transaction ends."""
        raw = JournalTables(self.db, conn).marks(lock=lock)
        return Marks.from_json(raw) if raw is not None else Marks()

    def ensure_journal_row(self) -> None:
        """The row the journal lock is taken on; made once, whoever comes first."""
        add_journal_row(self.db, Marks().to_json())

    def behind(self, marks: Marks) -> bool:
        """Is there wiki activity the journal has not read? Cheap: index lookups only."""
        if self.ahead(marks):
            return True
        if not (marks.rev_gaps or marks.log_gaps):
            return False
        with self.db.read() as conn:
            return bool(events.present(self.db, conn, "rev", marks.rev_gaps)
                        or events.present(self.db, conn, "log", marks.log_gaps))

    def ahead(self, marks: Marks) -> int:
        """About how much wiki activity the journal has not read: ids past its marks."""
        with self.db.read() as conn:
            rev, log_id = events.high_water_marks(self.db, conn)
        return max(rev - marks.rev, 0) + max(log_id - marks.log, 0)

    # --- catching up
    def catch_up(self, state: WikiState, head: bytes | None, progress: CountProgress | None = None) -> Iterator[NewCommit]:
        """Journal every unit of new wiki activity as a commit, in one transaction.

        ``state`` and ``head`` are the cache's, which must be the journal's
        head (else :class:`StaleCache`); the state is updated in place. The
        commits come one by one (the cache stores them as they come, so a
        long history is never all in memory); the transaction commits once
        the last has been taken, so the caller must store them only after that.

        Raises :class:`StaleCache` when another server journaled meanwhile
        (replay, then try again) and :class:`HistoryError` when the wiki lacks
        what a commit needs; nothing is journaled then.
        """
        self.ensure_journal_row()
        with self.db.write() as conn:
            marks = self.marks(conn, lock=True)
            if self.head(conn) != head:
                raise StaleCache("the journal has commits the cache lacks")
            rev_mark, log_mark = events.high_water_marks(self.db, conn)
            # What this batch's commits decide by: revisions up to the batch's end
            # (an undeletion restores revisions read in the same batch), moves after
            # the batch's start (a title before a move the batch has not applied yet).
            context = Marks(max(marks.rev, rev_mark), marks.log)
            head_layout = self._head_layout(conn)
            layout_id = self._current_layout_id(conn, head_layout)
            builder = self._builder(conn, state, context, self.layout(conn, layout_id))
            tables = JournalTables(self.db, conn)
            journal = JournalRows(self.db, conn, tables.last_position())
            if head is not None and layout_id != head_layout:
                builder.relayout(self.layout(conn, head_layout) if head_layout else None)
                tree, aliases = builder.tree()
                commit = self.layout_commit(layout_id, tree.encode("ascii"), head)
                _journal(journal, commit, Unit(), aliases, context, layout_id)
                yield builder.commit(commit)
                head = commit.id
            found = [*events.revisions_after(self.db, conn, marks.rev, rev_mark),
                     *events.logs_after(self.db, conn, marks.log, log_mark)]
            late_revs = events.present(self.db, conn, "rev", marks.rev_gaps)
            late_logs = events.present(self.db, conn, "log", marks.log_gaps)
            found += events.revisions_with_ids(self.db, conn, late_revs)
            found += events.logs_with_ids(self.db, conn, late_logs)
            new_marks = Marks(
                max(marks.rev, rev_mark), max(marks.log, log_mark),
                _gaps(marks.rev_gaps, late_revs, self._missing(conn, "rev", marks.rev, rev_mark)),
                _gaps(marks.log_gaps, late_logs, self._missing(conn, "log", marks.log, log_mark)),
            )
            units = list(group(found, events.recentchanges_order(self.db, conn, found)))
            for number, unit in enumerate(_counted(units, progress)):
                if number % REPLAY_CHUNK == 0:
                    journal.flush()
                    self._read_ahead(conn, units[number:number + REPLAY_CHUNK])
                previous = state.tree
                is_revision = builder.apply(unit)
                tree, aliases = builder.tree()
                if not is_revision and tree == previous:
                    builder.objects, builder.bases = [], {}
                    continue
                commit = self.commit_for(unit, tree.encode("ascii"), [head] if head else [])
                _journal(journal, commit, unit, aliases, context, layout_id)
                yield builder.commit(commit)
                head = commit.id
            journal.flush()
            tables.save_marks(new_marks.to_json())

    def _missing(self, conn: Connection, kind: str, after: int, upto: int) -> list[int]:
        """Ids in (after, upto] that no row has (yet)."""
        if upto - after > MAX_GAPS or upto <= after:
            return []
        return sorted(set(range(after + 1, upto + 1)) - set(events.ids_between(self.db, conn, kind, after, upto)))

    def commit_for(self, unit: Unit, tree: bytes, parents: list[bytes]) -> Commit:
        """The commit of a unit: its user and time, summary and trailers (docs/history.md, What makes a
        commit)."""
        lead = unit.lead
        config = self.site.config
        author = wiki_identity(None if lead.deleted & DELETED_USER else lead.user_name, config.server_name,
                               lead.timestamp)
        trailers = [("Revision", str(r.rev_id)) for r in unit.revisions] + [("Log", str(e.log_id)) for e in unit.logs]
        if not unit.logs and any(r.minor for r in unit.revisions):
            trailers.append(("Minor", "yes"))
        if config.server:
            base = f"{config.server.rstrip('/')}{config.script_path}/index.php"
            trailers.append(("Link", f"{base}?title=Special:Redirect/logid/{unit.logs[0].log_id}" if unit.logs
                             else f"{base}?diff={unit.revisions[0].rev_id}"))
        summary = None if lead.deleted & DELETED_COMMENT else lead.comment
        return make_commit(tree, parents, author, author, message(summary, trailers))

    def _head_layout(self, conn: Connection) -> int | None:
        return JournalTables(self.db, conn).head_layout()

    def layout_commit(self, layout_id: int, tree: bytes, head: bytes) -> Commit:
        """The commit of a configuration change that moved files, by the gitaccess identity (not a
        wiki user: no one edited)."""
        identity = Identity("gitaccess", f"gitaccess@{self.site.config.server_name}", int(time.time()))
        text = message("Apply the configuration's new repository layout", [("Layout", str(layout_id))])
        return make_commit(tree, [head], identity, identity, text)

    # --- pushes
    def journal_push(self, conn: Connection, head: bytes | None, state: WikiState,
                     commits: Sequence[PushedCommit], side: list[Commit], objects: Any) -> list[NewCommit]:
        """Journal a push: each commit's changes made in the wiki, then the commit appended byte
        for byte once the wiki's rows rebuild its tree.

        ``conn`` is the push's write transaction (the caller made sure the
        journal row exists, :meth:`ensure_journal_row`); this takes the journal
        lock. ``head`` is the served head the commits build on, ``state`` the
        wiki state there, changed in place to the state after them. ``side``
        are the merged side branches' commits (in ``objects``), kept with the
        last commit because the wiki cannot make them again. Returns the
        commits with the objects they introduced, for the cache.

        Raises :class:`StaleCache` when the journal or the wiki moved on from
        ``head``, :class:`PushedTreeDiffers` when the wiki would show a commit's
        tree differently; what a commit's ``write`` raises propagates. The
        caller rolls the transaction back on any of them.
        """
        marks = self.marks(conn, lock=True)
        if self.head(conn) != head:
            raise StaleCache("the journal moved on from the pushed commits' parent")
        rev_mark, log_mark = events.high_water_marks(self.db, conn)
        if rev_mark > marks.rev or log_mark > marks.log:
            raise StaleCache("the wiki has activity the journal has not read")
        layout_id = self._current_layout_id(conn, self._head_layout(conn))
        layout = self.layout(conn, layout_id)
        made_revs: list[int] = []
        created_revs: set[int] = set()
        created_logs: set[int] = set()
        made: list[NewCommit] = []
        for number, pushed in enumerate(commits, 1):
            first_log = marks.log if number == 1 else max(created_logs, default=marks.log)
            rev_ids, log_ids = pushed.write()
            made_revs += rev_ids
            # Only this push's own rows: another writer's, committed meanwhile, are not this commit's.
            unit = Unit(revisions=events.revisions_with_ids(self.db, conn, rev_ids),
                        logs=events.logs_with_ids(self.db, conn, log_ids))
            created_revs.update(r.rev_id for r in unit.revisions)
            created_logs.update(e.log_id for e in unit.logs)
            context = Marks(max(made_revs, default=marks.rev), first_log)
            builder = self._builder(conn, state, context, layout)
            builder.apply(unit)
            state.aliases = list(pushed.aliases)
            tree, new_aliases = builder.tree()
            if tree.encode("ascii") != pushed.commit.tree or new_aliases:
                raise PushedTreeDiffers(pushed.commit, tree.encode("ascii"), builder.objects)
            builder.objects += self._append_pushed(conn, pushed.commit, unit, context, layout_id,
                                                   list(pushed.aliases) if pushed.sets_aliases else None,
                                                   side if number == len(commits) else [], objects)
            made.append(builder.commit(pushed.commit))
        new_marks = Marks(*events.high_water_marks(self.db, conn), marks.rev_gaps, marks.log_gaps)
        self._save_marks(conn, new_marks, created=(created_revs, created_logs), previous=marks)
        return made

    def _append_pushed(self, conn: Connection, commit: Commit, unit: Unit, marks: Marks, layout_id: int,
                       registry: list[Alias] | None, side: list[Commit], objects: Any) -> list[ShaFile]:
        """Journal a pushed commit byte for byte, with the aliases its Aliases.xml set (None: the
        journal's, unchanged) and the side-branch objects the wiki cannot make again; returns
        those objects."""
        tables = JournalTables(self.db, conn)
        journal = JournalRows(self.db, conn, tables.last_position())
        seq = _journal(journal, commit, unit, [], marks, layout_id, kind="push", raw=commit.as_raw_string())
        journal.flush()
        if registry is not None:
            self._set_aliases(tables, seq, registry)
        stored: dict[bytes, ShaFile] = {}
        for obj in _side_objects(side, objects):
            if obj.id not in stored:
                stored[obj.id] = obj
                tables.add_pushed_object(obj.id.decode("ascii"), obj.type_num, obj.as_raw_string(),
                                         commit.id.decode("ascii"))
        return list(stored.values())

    def _set_aliases(self, tables: JournalTables, seq: int, registry: list[Alias]) -> None:
        """Make the journal's active aliases the registry's, from commit ``seq`` on."""
        active = {_alias(row) for row in tables.active_aliases()}
        wanted = set(registry)
        for alias in active - wanted:
            tables.drop_alias(alias.path, seq)
        for alias in wanted - active:
            tables.add_alias(_alias_row(alias), seq)

    def _save_marks(self, conn: Connection, marks: Marks, *, created: tuple[set[int], set[int]],
                    previous: Marks) -> None:
        """Move the marks past a push's own revisions and log entries; ids in between that
        are not the push's (another writer's transaction) stay gaps to look for."""
        revs, logs = created
        now = time.time()
        rev_gaps = marks.rev_gaps | {i: now for i in range(previous.rev + 1, marks.rev + 1) if i not in revs}
        log_gaps = marks.log_gaps | {i: now for i in range(previous.log + 1, marks.log + 1) if i not in logs}
        JournalTables(self.db, conn).save_marks(Marks(marks.rev, marks.log, rev_gaps, log_gaps).to_json())

    # --- replaying
    def place(self, state: WikiState) -> None:
        """Place every page of a state read back from storage, as the next commit made from it
        would (with the journal head's layout): that commit then costs what it changes."""
        with self.db.read() as conn:
            layout_id = self._head_layout(conn)
            if layout_id is not None:
                self._builder(conn, state, Marks(0, 0), self.layout(conn, layout_id)).tree()

    def replay(self, state: WikiState, after: bytes | None, progress: CountProgress | None = None) -> Iterator[NewCommit]:
        """Rebuild the journal's commits after ``after`` (None: from the start), checking each SHA-1.

        Raises :class:`StaleCache` when ``after`` is no longer in the journal
        (redacted: replay from the start), :class:`RebuildMismatch` naming the
        first commit that cannot be rebuilt identically.
        """
        with self.db.read() as conn:
            tables = JournalTables(self.db, conn)
            start: int | None = 0
            if after is not None:
                start = tables.position_of(after.decode("ascii"))
                if start is None:
                    raise StaleCache(f"the cache's head {after.decode()} is no longer in the journal (redacted)")
            rows = tables.rows_after(start)
            units: dict[str, Unit] = {}
            aliases: dict[int, list[Alias]] = {}
            earlier = EarlierTitles(self.db, conn)
            for number, row in enumerate(_counted(rows, progress)):
                if number % REPLAY_CHUNK == 0:
                    chunk = rows[number:number + REPLAY_CHUNK]
                    units = self._units_of(conn, [r["gh_sha1"] for r in chunk])
                    aliases = self._aliases_added(conn, chunk[0]["gh_seq"], chunk[-1]["gh_seq"])
                    self._read_ahead(conn, units.values())
                yield self._replay_one(conn, state, row, units[row["gh_sha1"]], aliases.get(row["gh_seq"], []),
                                       earlier)

    def _read_ahead(self, conn: Connection, units: Iterable[Unit]) -> None:
        """Read the texts of these units' revisions in a few queries (see TextRows)."""
        self.texts.read_ahead(conn, (r.content_address for unit in units for r in unit.revisions
                                     if not r.null and not r.deleted & DELETED_TEXT))

    def _aliases_added(self, conn: Connection, first: int, last: int) -> dict[int, list[Alias]]:
        """The aliases each journaled commit from ``first`` to ``last`` added, by position."""
        return {seq: [_alias(row) for row in rows]
                for seq, rows in JournalTables(self.db, conn).aliases_added(first, last).items()}

    def _unit_of(self, conn: Connection, sha: str) -> Unit:
        """The wiki activity a journaled commit stands for, read again from the database."""
        return self._units_of(conn, [sha])[sha]

    def _units_of(self, conn: Connection, shas: list[str]) -> dict[str, Unit]:
        """:meth:`_unit_of` for many commits at once: a few queries, not a few per commit."""
        tables = JournalTables(self.db, conn)
        rev_ids: dict[str, list[int]] = {sha: [] for sha in shas}
        log_ids: dict[str, list[int]] = {sha: [] for sha in shas}
        for sha, rev_id in tables.revisions_of(shas):
            rev_ids[sha].append(rev_id)
        for sha, log_id in tables.log_entries_of(shas):
            log_ids[sha].append(log_id)
        revisions = {e.rev_id: e for e in events.revisions_with_ids(self.db, conn, (i for v in rev_ids.values()
                                                                                     for i in v))}
        logs = {e.log_id: e for e in events.logs_with_ids(self.db, conn, (i for v in log_ids.values() for i in v))}
        return {sha: Unit(revisions=[revisions[i] for i in sorted(rev_ids[sha]) if i in revisions],
                          logs=[logs[i] for i in sorted(log_ids[sha]) if i in logs]) for sha in shas}

    def _rebuild(self, conn: Connection, state: WikiState, row: Any, parents: list[bytes], *,
                 redacting: bool = False, unit: Unit | None = None,
                 earlier: EarlierTitles | None = None) -> tuple[NewCommit, list[Alias], Unit]:
        """A journaled commit made again from the database, on the given parents.

        It keeps the journaled identity and message unless ``redacting`` and
        the wiki now hides its user or summary.
        """
        unit = unit or self._unit_of(conn, row["gh_sha1"])
        builder = self._builder(conn, state, Marks(row["gh_rev_mark"] or 0, row["gh_log_mark"] or 0),
                          self.layout(conn, row["gh_layout"]), earlier)
        if row["gh_kind"] == "layout":
            builder.relayout(self.layout(conn, row["gh_layout"] - 1))
        if row["gh_raw"] is not None:
            return self._rebuild_pushed(conn, state, row, unit, builder)
        builder.apply(unit)
        tree, aliases = builder.tree()
        if redacting and (unit.revisions or unit.logs) and unit.lead.deleted & (DELETED_USER | DELETED_COMMENT):
            fresh = self.commit_for(unit, tree.encode("ascii"), parents)
            return builder.commit(fresh), aliases, unit
        author = Identity(row["gh_author_name"], row["gh_author_email"], row["gh_author_time"],
                          row["gh_author_tz"] * 60)
        committer = Identity(row["gh_committer_name"], row["gh_committer_email"], row["gh_committer_time"],
                             row["gh_committer_tz"] * 60)
        commit = make_commit(tree.encode("ascii"), parents, author, committer, row["gh_message"].encode("utf-8"))
        return builder.commit(commit), aliases, unit

    def _rebuild_pushed(self, conn: Connection, state: WikiState, row: Any, unit: Unit,
                        builder: Builder) -> tuple[NewCommit, list[Alias], Unit]:
        """A pushed commit: its bytes from the journal, its tree made again from the wiki."""
        tables = JournalTables(self.db, conn)
        seq = row["gh_seq"]
        builder.apply(unit)
        # The registry's order: an unchanged registry keeps the view.
        state.aliases = [_alias(alias) for alias in tables.aliases_at(seq)]
        tree, new_aliases = builder.tree()
        commit = Commit.from_string(bytes(row["gh_raw"]))
        if commit.tree != tree.encode("ascii") or new_aliases:
            raise RebuildMismatch(seq, f"pushed commit {row['gh_sha1']} (journal position {seq}) no longer "
                                       f"rebuilds: its tree would be {tree}: {_why_different(unit)}")
        for raw_sha, kind, data in tables.pushed_objects(row["gh_sha1"]):
            builder.objects.append(ShaFile.from_raw_string(kind, data, raw_sha.encode("ascii")))
        return builder.commit(commit), [], unit

    def _replay_one(self, conn: Connection, state: WikiState, row: Any, unit: Unit, expected: list[Alias],
                    earlier: EarlierTitles) -> NewCommit:
        """One journaled commit made again; ``expected``: the aliases the journal says it added."""
        parents = [p.encode("ascii") for p in row["gh_parents"].split()]
        made, aliases, unit = self._rebuild(conn, state, row, parents, unit=unit, earlier=earlier)
        if row["gh_raw"] is not None:
            return made  # checked by _rebuild_pushed
        if made.commit.id.decode("ascii") != row["gh_sha1"] or sorted(aliases) != sorted(expected):
            raise RebuildMismatch(
                row["gh_seq"],
                f"commit {row['gh_sha1']} (journal position {row['gh_seq']}) rebuilds as "
                f"{made.commit.id.decode()} with tree {made.commit.tree.decode()} instead of {row['gh_tree']}: "
                f"{_why_different(unit)}",
            )
        return made

    def verify(self, progress: CountProgress | None = None) -> int:
        """Rebuild every journaled commit from the database; returns how many.

        Raises :class:`RebuildMismatch` (a :class:`HistoryError`) naming the
        first commit that no longer rebuilds identically: the admin's cue to
        run ``gitaccess redact``.
        """
        return sum(1 for _ in self.replay(WikiState(), None, progress))

    def redact(self) -> int:
        """Rewrite history from the first commit that no longer rebuilds, without what the wiki now hides.

        The one rewrite of published history (docs/history.md, Reproducibility), always an
        admin's explicit act: the branch moves non-fast-forward. Returns how
        many commits were rewritten (0: nothing to do). Raises
        :class:`HistoryError` when the wiki lacks what a kept commit needs.
        """
        try:
            self.verify()
            return 0
        except RebuildMismatch as mismatch:
            first = mismatch.position
        self.ensure_journal_row()
        with self.db.write() as conn:
            self.marks(conn, lock=True)
            tables = JournalTables(self.db, conn)
            rows = tables.rows_after(0)
            state = WikiState()
            head: bytes | None = None
            kept = [r for r in rows if r["gh_seq"] < first]
            earlier = EarlierTitles(self.db, conn)
            for row in kept:
                head = self._rebuild(conn, state, row, [p.encode("ascii") for p in row["gh_parents"].split()],
                                     earlier=earlier)[0].commit.id
            rewritten = [r for r in rows if r["gh_seq"] >= first]
            units = [self._unit_of(conn, r["gh_sha1"]) for r in rewritten]
            tables.truncate(first, [r["gh_sha1"] for r in rewritten])
            journal = JournalRows(self.db, conn, tables.last_position())
            for row, unit in zip(rewritten, units):
                made, aliases, unit = self._rebuild(conn, state, row, [head] if head else [], redacting=True,
                                                    unit=unit, earlier=earlier)
                _journal(journal, made.commit, unit, aliases, Marks(row["gh_rev_mark"] or 0, row["gh_log_mark"] or 0),
                         row["gh_layout"], kind=row["gh_kind"])
                head = made.commit.id
            journal.flush()
            log.warning("redacted history from journal position %s: %d commits rewritten, new head %s",
                        first, len(rewritten), head.decode() if head else None)
        return len(rewritten)


class RebuildMismatch(HistoryError):
    """A journaled commit no longer rebuilds identically; ``position`` is its journal position."""

    def __init__(self, position: int, message: str) -> None:
        super().__init__(message)
        self.position = position


def _journal(rows: JournalRows, commit: Commit, unit: Unit, aliases: list[Alias], marks: Marks, layout_id: int, *,
             kind: str | None = None, raw: bytes | None = None) -> int:
    """Add a commit to the journal's rows with the wiki activity it stands for and the aliases it
    published; ``kind`` unless the unit tells, ``raw``: its bytes, for a commit the wiki cannot
    make again. Returns its journal position."""
    return rows.add(commit, kind or ("log" if unit.logs else "revision" if unit.revisions else "layout"),
                    revisions=[r.rev_id for r in unit.revisions], logs=[e.log_id for e in unit.logs],
                    aliases=[_alias_row(a) for a in aliases], marks=(marks.rev, marks.log), layout_id=layout_id,
                    raw=raw)


def _alias(row: AliasRow) -> Alias:
    """An alias as the journal's tables hold it, made an :class:`Alias` again."""
    path, namespace, dbkey = row
    return Alias(path, Title(namespace, dbkey))


def _alias_row(alias: Alias) -> AliasRow:
    """An alias as the journal's tables hold it."""
    return alias.path, alias.title.namespace, alias.title.dbkey


def _side_objects(side: list[Commit], objects: Any) -> Iterator[ShaFile]:
    """Side-branch commits with every tree and blob they reach."""
    for commit in side:
        yield commit
        pending = [commit.tree]
        while pending:
            obj = objects[pending.pop()]
            yield obj
            if obj.type_name == b"tree":
                pending.extend(entry.sha for entry in obj.iteritems())


def _gaps(old: dict[int, float], found: list[int], missing: list[int]) -> dict[int, float]:
    """The gaps still worth looking for: old ones not found and not expired, plus new ones."""
    now = time.time()
    kept = {i: since for i, since in old.items() if i not in found and now - since < GAP_SECONDS}
    return kept | {i: now for i in missing}


def _why_different(unit: Unit) -> str:
    """What most likely changed under a published commit, for the admin."""
    hidden = [f"revision {r.rev_id}" for r in unit.revisions if r.deleted] + \
             [f"log entry {e.log_id}" for e in unit.logs if e.deleted]
    if hidden:
        return (f"{', '.join(hidden)} was hidden or suppressed after it was published; "
                "run `gitaccess redact` to rewrite history without it")
    if not unit.revisions and not unit.logs:
        return "its revisions or log entries were purged from the database after it was published"
    return "the wiki's database or upload directory changed under published history"


def _counted(items: Sequence[T], progress: CountProgress | None) -> Iterator[T]:
    """``items`` one by one, telling ``progress`` how many are done after each."""
    if progress is not None:
        progress(0, len(items))
    for done, item in enumerate(items, 1):
        yield item
        if progress is not None:
            progress(done, len(items))