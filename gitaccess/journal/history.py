"""The history journal: wiki activity turned into commits whose SHA-1s never change.

docs/history.md describes the design. New activity is read after the
journal's high-water marks, grouped into units (a revision, a tree-changing
log entry, an upload with its File page revision), applied to the wiki's
state (which page is where, with which blob) and appended to ``git_hash``
inside one transaction holding the journal lock. Replaying the journal
applies the same units again: that rebuilds the object cache and is what
``gitaccess verify`` checks.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Sequence, TypeVar

from dulwich.objects import Blob, Commit, ShaFile
from sqlalchemy import Connection, Table, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from gitaccess.errors import GitAccessError
from gitaccess.titles.namespaces import FILE, MEDIA
from gitaccess.site import Site
from gitaccess.titles.codec import Title
from gitaccess.tree.aliases import Alias, AliasRegistry
from gitaccess.journal.commits import Identity, make_commit, message, wiki_identity
from gitaccess.tree.gittree import GitTree
from gitaccess.objects.trees import TreeObject
from gitaccess.tree.view import Changes, Entry, RepositoryView
from gitaccess.tree.layout import ALIASES_FILE, Layout
from gitaccess.wiki import events, files
from gitaccess.wiki.events import DELETED_COMMENT, DELETED_TEXT, DELETED_USER, Event, LogEvent, RevisionEvent
from gitaccess.wiki.reader import TextRows

log = logging.getLogger(__name__)

JOURNAL_KEY = "journal"
BLOB_MODE = 0o100644


class HistoryError(GitAccessError):
    """The journal and the wiki disagree, or the wiki lacks something history needs."""


class StaleCache(HistoryError):
    """The cache's head is not the journal's head: replay the journal first."""


# ---------------------------------------------------------------------- state
@dataclass
class PageState:
    """A page as the repository shows it at one point of history."""

    namespace: int
    dbkey: str
    model: str
    blob: str | None  # hex id; None while every revision so far is hidden
    timestamp: str


@dataclass
class WikiState:
    """Everything a commit's tree is made from, as of one journal position.

    Pages and Media files change through the methods below, which note what
    each title showed before (``changed``), so the next tree is made from
    what changed (:class:`RepositoryView`, kept in ``view``, not stored).
    """

    pages: dict[int, PageState] = field(default_factory=dict)
    media: dict[str, str] = field(default_factory=dict)
    #: When each title first entered the tree: earlier titles keep their natural names.
    published: dict[Title, int] = field(default_factory=dict)
    aliases: list[Alias] = field(default_factory=list)
    tree: str | None = None
    changed: dict[Title, Entry | None | bool] = field(default_factory=dict, repr=False, compare=False)
    #: Titles published for the first time since the tree was last made.
    fresh: set[Title] = field(default_factory=set, repr=False, compare=False)
    view: RepositoryView | None = field(default=None, repr=False, compare=False)
    _titles: dict[Title, list[int]] | None = field(default=None, repr=False, compare=False)

    # --- looking up
    def page_at(self, namespace: int, dbkey: str) -> int | None:
        """The page holding a title (the first, should a broken wiki have two)."""
        ids = self._index().get(Title(namespace, dbkey))
        return ids[0] if ids else None

    def _index(self) -> dict[Title, list[int]]:
        if self._titles is None:
            self._titles = {}
            for page_id, page in self.pages.items():
                self._titles.setdefault(Title(page.namespace, page.dbkey), []).append(page_id)
        return self._titles

    def entry(self, title: Title) -> Entry | None | bool:
        """What the tree shows for a title: (model, blob), None, or False when two pages hold it."""
        if title.namespace == MEDIA:
            blob = self.media.get(title.dbkey)
            return (None, blob) if blob is not None else None
        ids = self._index().get(title, [])
        if len(ids) > 1:
            return False
        page = self.pages[ids[0]] if ids else None
        return (page.model, page.blob) if page is not None and page.blob is not None else None

    # --- changing
    def _touch(self, title: Title) -> None:
        if title not in self.changed:
            self.changed[title] = self.entry(title)

    def add_page(self, page_id: int, page: PageState) -> None:
        self.remove_page(page_id)
        title = Title(page.namespace, page.dbkey)
        self._touch(title)
        self.pages[page_id] = page
        ids = self._index().setdefault(title, [])
        if ids:
            self._titles = None  # two pages at one title: rebuilt in page order when next needed
        ids.append(page_id)

    def remove_page(self, page_id: int) -> None:
        page = self.pages.get(page_id)
        if page is None:
            return
        title = Title(page.namespace, page.dbkey)
        index = self._index()
        self._touch(title)
        del self.pages[page_id]
        if len(index.get(title, ())) > 1:
            self._titles = None
        else:
            index.pop(title, None)

    def set_text(self, page_id: int, model: str, blob: str | None, timestamp: str) -> None:
        page = self.pages[page_id]
        self._touch(Title(page.namespace, page.dbkey))
        page.model, page.blob, page.timestamp = model, blob, timestamp

    def rename_page(self, page_id: int, namespace: int, dbkey: str) -> None:
        page = self.pages[page_id]
        self.remove_page(page_id)
        page.namespace, page.dbkey = namespace, dbkey
        self.add_page(page_id, page)

    def set_media(self, name: str, blob: str | None) -> None:
        self._touch(Title(MEDIA, name))
        if blob is None:
            self.media.pop(name, None)
        else:
            self.media[name] = blob

    def keep_pages(self, keep: Callable[[PageState], bool]) -> None:
        """Drop every page ``keep`` refuses (a new layout); the next tree is placed afresh."""
        self.pages = {k: p for k, p in self.pages.items() if keep(p)}
        self._titles = None
        self.view = None

    def take_changes(self) -> tuple[Changes | None, set[Title]]:
        """Each title changed since the last call: (before, now), None when a title had two
        pages; and the titles published for the first time meanwhile."""
        changed, self.changed = self.changed, {}
        fresh, self.fresh = self.fresh, set()
        result = {}
        for title, old in changed.items():
            new = self.entry(title)
            if old is False or new is False:
                return None, fresh
            result[title] = (old, new)
        return result, fresh

    def publish(self, page: PageState) -> None:
        title = Title(page.namespace, page.dbkey)
        if title not in self.published:
            self.published[title] = len(self.published)
            self.fresh.add(title)

    def to_json(self) -> dict[str, Any]:
        return {
            "pages": {str(k): [p.namespace, p.dbkey, p.model, p.blob, p.timestamp] for k, p in self.pages.items()},
            "media": self.media,
            "published": [[t.namespace, t.dbkey] for t in sorted(self.published, key=self.published.__getitem__)],
            "aliases": [[a.path, a.title.namespace, a.title.dbkey] for a in self.aliases],
            "tree": self.tree,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WikiState:
        return cls(
            pages={int(k): PageState(*v) for k, v in data["pages"].items()},
            media=dict(data["media"]),
            published={Title(ns, key): i for i, (ns, key) in enumerate(data["published"])},
            aliases=[Alias(path, Title(ns, key)) for path, ns, key in data["aliases"]],
            tree=data["tree"],
        )


@dataclass
class Unit:
    """The wiki activity one commit stands for."""

    revisions: list[RevisionEvent] = field(default_factory=list)
    logs: list[LogEvent] = field(default_factory=list)

    @property
    def lead(self) -> Event:
        """The event whose summary, user and time the commit carries."""
        return self.logs[0] if self.logs else self.revisions[0]


@dataclass(frozen=True)
class Marks:
    """How far the journal has read the wiki's activity.

    ``rev`` and ``log`` are the largest ids read. An id below them can still
    appear later, when the MediaWiki transaction that took it commits after
    one that took a higher id: the ids missing when the journal read past
    them are kept as gaps (id -> when first missed) and looked for again
    until GAP_SECONDS have passed.
    """

    rev: int = 0
    log: int = 0
    rev_gaps: dict[int, float] = field(default_factory=dict)
    log_gaps: dict[int, float] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({"rev": self.rev, "log": self.log, "rev_gaps": self.rev_gaps, "log_gaps": self.log_gaps})

    @classmethod
    def from_json(cls, raw: str) -> Marks:
        data = json.loads(raw)
        gaps = {k: {int(i): float(t) for i, t in data.get(k, {}).items()} for k in ("rev_gaps", "log_gaps")}
        return cls(int(data["rev"]), int(data["log"]), gaps["rev_gaps"], gaps["log_gaps"])


#: Journaled commits whose activity is read from the database together while replaying.
REPLAY_CHUNK = 500
#: Told (done, total) as long work goes on: commits replayed, units of wiki activity journaled.
Progress = Callable[[int, int], None]
T = TypeVar("T")
#: How long an id missing below the high-water marks is looked for (a long MediaWiki transaction).
GAP_SECONDS = 3600
#: A jump of ids larger than this (an import with explicit ids) is not tracked id by id.
MAX_GAPS = 10000


@dataclass(frozen=True)
class Made:
    """A commit with the objects it introduced (itself included)."""

    commit: Commit
    objects: list[ShaFile | TreeObject]
    #: object -> its likely delta base (the page's previous blob, the directory's previous tree)
    bases: dict[bytes, bytes] = field(default_factory=dict)
    #: object -> a delta against that base already made (none: the cache makes them)
    deltas: dict[bytes, bytes] = field(default_factory=dict)


def group(found: Iterable[Event], rc_order: dict[tuple[str, int], int] | None = None) -> Iterator[Unit]:
    """Units in arrival order: an upload's log entry takes its File page revision along, wherever
    that revision falls (MediaWiki writes the two in one action, but a second may end between
    them: left where it fell, the revision came after the upload, or last in the batch)."""
    ordered = events.in_arrival_order(found, rc_order)
    revisions = {e.rev_id: e for e in ordered if isinstance(e, RevisionEvent)}
    held = {e.associated_rev: revisions[e.associated_rev] for e in ordered
            if isinstance(e, LogEvent) and e.type == "upload" and e.associated_rev in revisions}
    taken = set(held)
    for event in ordered:
        if isinstance(event, RevisionEvent):
            if event.rev_id not in taken:
                yield Unit(revisions=[event])
        else:
            attached = held.pop(event.associated_rev, None) if event.type == "upload" else None
            yield Unit(revisions=[attached] if attached else [], logs=[event])


# ---------------------------------------------------------------------- building
class EarlierTitles:
    """The title each page had before its moves not yet journaled, for a revision read now of a
    page moved since: the moves are read once per transaction, from the earliest position asked."""

    def __init__(self, history: History, conn: Connection) -> None:
        self.db = history.db
        self.conn = conn
        self.after: int | None = None
        self.moves: dict[int, list[tuple[int, int, str]]] = {}

    def before_moves(self, page_id: int, after: int) -> tuple[int, str] | None:
        """(namespace, title) before the page's first move after log id ``after``; None if none."""
        if self.after is None or after < self.after:
            self.after, self.moves = after, events.moves_after(self.db, self.conn, after)
        return next(((ns, key) for log_id, ns, key in self.moves.get(page_id, ()) if log_id > after), None)


class Builder:
    """Applies units to a state and makes their trees and commits (one catch-up or replay)."""

    def __init__(self, history: History, conn: Connection, state: WikiState, marks: Marks, layout: Layout,
                 earlier: EarlierTitles | None = None) -> None:
        self.history = history
        self.earlier = earlier or EarlierTitles(history, conn)
        self.site = history.site
        self.db = history.site.db
        self.layout = layout
        self.gittree = GitTree(layout)
        self.conn = conn
        self.state = state
        self.marks = marks
        self.objects: list[ShaFile | TreeObject] = []
        self.bases: dict[bytes, bytes] = {}

    def _keep(self, obj: ShaFile | TreeObject, base: str | bytes | None = None) -> str:
        """Keep a new object; ``base``, an object the parent commit has, is its likely delta base."""
        self.objects.append(obj)
        if base:
            base = base if isinstance(base, bytes) else base.encode("ascii")
            if base != obj.id:
                self.bases[obj.id] = base
        return obj.id.decode("ascii")

    # --- applying activity
    def apply(self, unit: Unit) -> bool:
        """Change the state by one unit; True if a revision of a page in the repository was made."""
        made_revision = False
        for revision in unit.revisions:
            made_revision |= self._revision(revision)
        for entry in unit.logs:
            self._log(entry)
        return made_revision

    def _revision(self, event: RevisionEvent) -> bool:
        if event.null:
            return False
        page = self.state.pages.get(event.page_id)
        if page is None:
            namespace, dbkey = self._title_when_made(event)
            if not self.layout.is_included(namespace):
                return False  # the state holds only what the repository shows
            page = PageState(namespace, dbkey, event.model, None, "")
            self.state.add_page(event.page_id, page)
        if event.timestamp < page.timestamp or event.deleted & DELETED_TEXT:
            # An imported old revision leaves the newer text, as in MediaWiki; hidden
            # text never enters a commit. Either way the revision still has its commit.
            return True
        self.state.set_text(event.page_id, event.model, self._text_blob(event, page.blob), event.timestamp)
        self.state.publish(page)
        return True

    def _title_when_made(self, event: RevisionEvent) -> tuple[int, str]:
        """The page's title then: before the earliest move of it not yet journaled."""
        return self.earlier.before_moves(event.page_id, self.marks.log) or (event.namespace, event.dbkey)

    def _log(self, entry: LogEvent) -> None:
        state = self.state
        page_id = entry.page_id if entry.page_id in state.pages else state.page_at(entry.namespace, entry.dbkey)
        if entry.action == "delete":
            if page_id is not None:
                state.remove_page(page_id)
            if entry.namespace == FILE and entry.dbkey in state.media:
                state.set_media(entry.dbkey, None)
        elif entry.type == "move":
            target = self.site.titles.parse(str(entry.params.get("4::target", "")))
            if not self.layout.is_included(target.namespace):
                if page_id is not None:
                    state.remove_page(page_id)  # moved out of the repository
            elif page_id is not None:
                state.rename_page(page_id, target.namespace, target.dbkey)
                state.publish(state.pages[page_id])
            else:
                self._refresh(target.namespace, target.dbkey)  # moved into the repository
            if entry.namespace == FILE and entry.dbkey in state.media:
                blob = state.media[entry.dbkey]
                state.set_media(entry.dbkey, None)
                state.set_media(target.dbkey, blob)
        elif entry.type == "upload":
            timestamp = str(entry.params.get("img_timestamp") or entry.timestamp)
            self._set_file(entry.dbkey, timestamp)
        else:  # delete/restore, merge/merge
            self._refresh(entry.namespace, entry.dbkey, entry.timestamp)

    def _refresh(self, namespace: int, dbkey: str, when: str | None = None) -> None:
        """A page as its newest visible revision so far makes it: after an undeletion, a
        history merge, a move into the repository, or a namespace newly included."""
        if not self.layout.is_included(namespace):
            return
        found = [
            e for e in events.revisions_after(self.db, self.conn, 0, self.marks.rev, title=(namespace, dbkey))
            if not e.null and not e.deleted & DELETED_TEXT and (when is None or e.timestamp <= when)
        ]
        if not found:
            return
        newest = max(found, key=lambda e: (e.timestamp, e.rev_id))
        old = self.state.page_at(namespace, dbkey)
        base = None
        if old is not None:
            base = self.state.pages[old].blob
            self.state.remove_page(old)
        page = PageState(namespace, dbkey, newest.model, self._text_blob(newest, base), newest.timestamp)
        self.state.add_page(newest.page_id, page)
        self.state.publish(page)
        if namespace == FILE:
            current = self._current_file(dbkey, when or newest.timestamp)
            if current is not None:
                self._set_file(dbkey, current)

    def relayout(self, old: Layout | None) -> None:
        """Apply a new layout: pages of namespaces it leaves out go, those it adds come in."""
        self.state.keep_pages(lambda page: self.layout.is_included(page.namespace))
        if not self.layout.is_included(FILE):
            self.state.media.clear()
        added = self.layout.included - (old.included if old else frozenset())
        for namespace, dbkey in events.titles_in(self.db, self.conn, sorted(added), self.marks.rev):
            self._refresh(namespace, dbkey)

    # --- objects
    def _text_blob(self, event: RevisionEvent, previous: str | None) -> str:
        """The blob of a revision's text; the page's ``previous`` blob is its delta base."""
        text = self.history.texts.text(self.conn, event.content_address, f"revision {event.rev_id}")
        return self._keep(Blob.from_string(text.encode("utf-8")), previous)

    def _set_file(self, name: str, timestamp: str) -> None:
        """Media/<name> becomes the version uploaded at ``timestamp``; a version whose
        bytes the upload directory lacks (a dump imported without files) is left out."""
        data = file_version(self.db, self.conn, self.site.config.upload_directory, name, timestamp)
        if data is None:
            log.warning("File:%s: the version uploaded at %s is not in the upload directory %s; "
                        "Media/%s is left out of the repository", name, timestamp,
                        self.site.config.upload_directory, name)
            self.state.set_media(name, None)
        else:
            self.state.set_media(name, self._keep(Blob.from_string(data), self.state.media.get(name)))

    def _current_file(self, name: str, before: str) -> str | None:
        """The timestamp of a file's newest version at or before a moment."""
        t = self.db.tables
        stamps = [
            *self.conn.execute(select(t.image.c.img_timestamp).where(t.image.c.img_name == name)).scalars(),
            *self.conn.execute(select(t.oldimage.c.oi_timestamp).where(t.oldimage.c.oi_name == name)).scalars(),
            *self.conn.execute(select(t.filearchive.c.fa_timestamp).where(t.filearchive.c.fa_name == name)).scalars(),
        ]
        stamps = [s for s in stamps if s and s <= before]
        return max(stamps) if stamps else None

    # --- trees and commits
    def tree(self) -> tuple[str, list[Alias]]:
        """The state's root tree (keeping new tree objects); returns (tree id, new aliases).

        What changed since the last tree is applied to the kept view when that
        needs no new placement; otherwise every page is placed again.
        """
        state = self.state
        changes, fresh = state.take_changes()
        view = state.view
        new_aliases = None
        if (view is not None and view.layout is self.layout and view.tree == state.tree
                and view.aliases == state.aliases and changes is not None):
            new_aliases = view.update(changes, fresh)
        if new_aliases is None:
            view, new_aliases = self._place_all()
        elif new_aliases:
            xml = view.registry.to_xml(self.layout.codec)
            view.files.set(ALIASES_FILE, BLOB_MODE, self._aliases_blob(view, xml))
            state.aliases = list(view.aliases)
        root, trees = view.files.flush()
        for tree in trees:
            self._keep(tree, tree.base)
        state.tree = view.tree = root.decode("ascii")
        return state.tree, new_aliases

    def _place_all(self) -> tuple[RepositoryView, list[Alias]]:
        """Place every page; returns the new view and the aliases the placement added."""
        state = self.state
        visible = {(p.namespace, p.dbkey): (p.model, p.blob) for p in state.pages.values() if p.blob is not None}
        visible.update({(MEDIA, name): (None, blob) for name, blob in state.media.items()})
        order = sorted(state.published, key=state.published.__getitem__)
        placement = self.gittree.place(
            [(ns, key, model) for (ns, key), (model, _) in visible.items()], AliasRegistry(state.aliases), order)
        for title, reason in placement.skipped.items():
            log.warning("%s has no place in the repository: %s", self.layout.full_text(title), reason)
        entries = {path: (BLOB_MODE, visible[(t.namespace, t.dbkey)][1].encode("ascii"))
                   for path, t in placement.paths.items()}
        view = RepositoryView(self.gittree, state.view.files if state.view else None)
        if placement.aliases_xml is not None:
            entries[ALIASES_FILE] = (BLOB_MODE, self._aliases_blob(view, placement.aliases_xml))
        view.placed(placement, entries)
        state.aliases = list(placement.registry)
        state.view = view
        return view, list(placement.new_aliases)

    def _aliases_blob(self, view: RepositoryView, xml: bytes) -> bytes:
        """Keep Aliases.xml's new blob (its previous version the delta base); returns its id."""
        previous = view.files.files.get(ALIASES_FILE)
        return self._keep(Blob.from_string(xml), previous[1] if previous else None).encode("ascii")

    def commit(self, commit: Commit) -> Made:
        made = Made(commit, [*self.objects, commit], self.bases)
        self.objects, self.bases = [], {}
        return made


# ---------------------------------------------------------------------- the journal
class JournalRows:
    """Commits on their way into the journal (``git_hash`` and the tables that link it to the
    wiki's revisions, log entries and aliases), written a batch at a time.

    The writer holds the journal lock, so it numbers the commits itself and
    a batch costs a few multi-row inserts, not three or four statements per
    commit (which were a fifth of a cold build's time). Nothing reads the
    journal's tables between :meth:`add` and :meth:`flush`.
    """

    def __init__(self, history: History, conn: Connection) -> None:
        self.db = history.db
        self.conn = conn
        self.next_seq = history.last_position(conn) + 1
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
        """Write the rows added so far."""
        for table, rows in self.rows.items():
            if rows:
                self.conn.execute(self.db.insert_into(table), rows)
        self.rows = {}


class History:
    """The journal of one site: catching up with the wiki, replaying, verifying."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.db = site.db
        self._layouts = site.recorded_layouts
        self.texts = TextRows(site.db)

    # --- layouts
    def layout(self, conn: Connection, layout_id: int) -> Layout:
        """The layout recorded under an id (git_site "layout:<id>")."""
        if layout_id not in self._layouts:
            gs = self.db.tables.git_site
            raw = conn.execute(select(gs.c.gs_value).where(gs.c.gs_key == f"layout:{layout_id}")).scalar()
            if raw is None:
                raise HistoryError(f"the journal names layout {layout_id}, which git_site does not hold")
            self._layouts[layout_id] = self.site.layout_from(json.loads(raw))
        return self._layouts[layout_id]

    def _current_layout_id(self, conn: Connection, head_layout: int | None) -> int:
        """The id of the configuration's layout: the head's if unchanged, else a newly recorded one.

        Before the first commit there is nothing to keep: layout 1 is (re)written.
        """
        settings = self.site.layout_settings()
        gs = self.db.tables.git_site
        layout_id = head_layout or 1
        raw = conn.execute(select(gs.c.gs_value).where(gs.c.gs_key == f"layout:{layout_id}")).scalar()
        if raw is not None and json.loads(raw) == settings:
            return layout_id
        if head_layout is not None:
            layout_id += 1
            raw = None
        if raw is None:
            conn.execute(insert(gs).values(gs_key=f"layout:{layout_id}", gs_value=json.dumps(settings)))
        else:
            conn.execute(update(gs).where(gs.c.gs_key == f"layout:{layout_id}").values(gs_value=json.dumps(settings)))
        self._layouts.pop(layout_id, None)
        return layout_id

    # --- reading the journal
    def head(self, conn: Connection) -> bytes | None:
        gh = self.db.tables.git_hash
        sha = conn.execute(select(gh.c.gh_sha1).order_by(gh.c.gh_seq.desc()).limit(1)).scalar()
        return sha.encode("ascii") if sha else None

    def last_position(self, conn: Connection) -> int:
        """The journal position of its head (0 when empty): about how many commits it holds."""
        gh = self.db.tables.git_hash
        return conn.execute(select(func.max(gh.c.gh_seq))).scalar() or 0

    def marks(self, conn: Connection, *, lock: bool = False) -> Marks:
        """The journal's high-water marks; ``lock`` takes the journal lock until the transaction ends."""
        gs = self.db.tables.git_site
        query = select(gs.c.gs_value).where(gs.c.gs_key == JOURNAL_KEY)
        if lock and self.db.dialect != "sqlite":
            query = query.with_for_update()
        raw = conn.execute(query).scalar()
        return Marks.from_json(raw) if raw is not None else Marks()

    def ensure_journal_row(self) -> None:
        """The row the journal lock is taken on; made once, whoever comes first."""
        gs = self.db.tables.git_site
        try:
            with self.db.write() as conn:
                if conn.execute(select(gs.c.gs_key).where(gs.c.gs_key == JOURNAL_KEY)).first() is None:
                    conn.execute(insert(gs).values(gs_key=JOURNAL_KEY, gs_value=Marks().to_json()))
        except IntegrityError:
            pass  # another server made it meanwhile

    def behind(self, marks: Marks) -> bool:
        """Is there wiki activity the journal has not read? Three index lookups."""
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
    def catch_up(self, state: WikiState, head: bytes | None, progress: Progress | None = None) -> Iterator[Made]:
        """Journal every unit of new wiki activity as a commit, in one transaction.

        ``state`` and ``head`` are the cache's, which must be the journal's
        head (else :class:`StaleCache`); the state is updated in place. The
        commits come one by one (the cache stores them as they come, so a
        long history is never all in memory); the transaction commits once
        the last has been taken, so the caller must store them only after that.
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
            builder = Builder(self, conn, state, context, self.layout(conn, layout_id))
            journal = JournalRows(self, conn)
            if head is not None and layout_id != head_layout:
                builder.relayout(self.layout(conn, head_layout) if head_layout else None)
                tree, aliases = builder.tree()
                commit = self.layout_commit(layout_id, tree.encode("ascii"), head)
                journal.add(commit, Unit(), aliases, context, layout_id)
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
                journal.add(commit, unit, aliases, context, layout_id)
                yield builder.commit(commit)
                head = commit.id
            journal.flush()
            gs = self.db.tables.git_site
            conn.execute(update(gs).where(gs.c.gs_key == JOURNAL_KEY).values(gs_value=new_marks.to_json()))

    def _missing(self, conn: Connection, kind: str, after: int, upto: int) -> list[int]:
        """Ids in (after, upto] that no row has (yet)."""
        if upto - after > MAX_GAPS or upto <= after:
            return []
        return sorted(set(range(after + 1, upto + 1)) - set(events.ids_between(self.db, conn, kind, after, upto)))

    def commit_for(self, unit: Unit, tree: bytes, parents: list[bytes]) -> Commit:
        """The commit of a unit: its user and time, summary and trailers (DESIGN.md, Commits)."""
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
        gh = self.db.tables.git_hash
        return conn.execute(select(gh.c.gh_layout).order_by(gh.c.gh_seq.desc()).limit(1)).scalar()

    def layout_commit(self, layout_id: int, tree: bytes, head: bytes) -> Commit:
        """The commit of a configuration change that moved files (DESIGN.md: by the gitaccess identity)."""
        identity = Identity("gitaccess", f"gitaccess@{self.site.config.server_name}", int(time.time()))
        text = message("Apply the configuration's new repository layout", [("Layout", str(layout_id))])
        return make_commit(tree, [head], identity, identity, text)

    # --- pushes
    def current_layout(self, conn: Connection) -> int:
        """The layout id new commits are made with (recording the configuration's if it changed)."""
        return self._current_layout_id(conn, self._head_layout(conn))

    def append_pushed(self, conn: Connection, commit: Commit, unit: Unit, marks: Marks, layout_id: int,
                      registry: list[Alias] | None, side: list[Commit], objects: Any) -> list[ShaFile]:
        """Journal a pushed commit byte for byte, with the aliases its Aliases.xml set (None: the
        journal's, unchanged) and the side-branch objects the wiki cannot make again; returns
        those objects."""
        t = self.db.tables
        journal = JournalRows(self, conn)
        seq = journal.add(commit, unit, [], marks, layout_id, kind="push", raw=commit.as_raw_string())
        journal.flush()
        if registry is not None:
            self._set_aliases(conn, seq, registry)
        stored: dict[bytes, ShaFile] = {}
        for obj in _side_objects(side, objects):
            if obj.id not in stored:
                stored[obj.id] = obj
                conn.execute(insert(t.git_object).values(go_sha1=obj.id.decode("ascii"), go_type=obj.type_num,
                                                         go_data=obj.as_raw_string(),
                                                         go_push=commit.id.decode("ascii")))
        return list(stored.values())

    def _set_aliases(self, conn: Connection, seq: int, registry: list[Alias]) -> None:
        """Make the journal's active aliases the registry's, from commit ``seq`` on."""
        ga = self.db.tables.git_alias
        active = {Alias(r[0], Title(r[1], r[2])) for r in conn.execute(
            select(ga.c.ga_path, ga.c.ga_namespace, ga.c.ga_title).where(ga.c.ga_until.is_(None)))}
        wanted = set(registry)
        for alias in active - wanted:
            conn.execute(update(ga).where(ga.c.ga_path == alias.path, ga.c.ga_until.is_(None)).values(ga_until=seq))
        for alias in wanted - active:
            conn.execute(insert(ga).values(ga_path=alias.path, ga_namespace=alias.title.namespace,
                                           ga_title=alias.title.dbkey, ga_seq=seq))

    def save_marks(self, conn: Connection, marks: Marks, *, created: tuple[set[int], set[int]],
                   previous: Marks) -> None:
        """Move the marks past a push's own revisions and log entries; ids in between that
        are not the push's (another writer's transaction) stay gaps to look for."""
        revs, logs = created
        now = time.time()
        rev_gaps = marks.rev_gaps | {i: now for i in range(previous.rev + 1, marks.rev + 1) if i not in revs}
        log_gaps = marks.log_gaps | {i: now for i in range(previous.log + 1, marks.log + 1) if i not in logs}
        gs = self.db.tables.git_site
        conn.execute(update(gs).where(gs.c.gs_key == JOURNAL_KEY).values(
            gs_value=Marks(marks.rev, marks.log, rev_gaps, log_gaps).to_json()))

    # --- replaying
    def place(self, state: WikiState) -> None:
        """Place every page of a state read back from storage, as the next commit made from it
        would (with the journal head's layout): that commit then costs what it changes."""
        with self.db.read() as conn:
            layout_id = self._head_layout(conn)
            if layout_id is not None:
                Builder(self, conn, state, Marks(0, 0), self.layout(conn, layout_id)).tree()

    def replay(self, state: WikiState, after: bytes | None, progress: Progress | None = None) -> Iterator[Made]:
        """Rebuild the journal's commits after ``after`` (None: from the start), checking each SHA-1.

        Raises :class:`HistoryError` naming the first commit that cannot be
        rebuilt identically.
        """
        t = self.db.tables
        gh = t.git_hash
        with self.db.read() as conn:
            start = 0
            if after is not None:
                start = conn.execute(select(gh.c.gh_seq).where(gh.c.gh_sha1 == after.decode("ascii"))).scalar()
                if start is None:
                    raise StaleCache(f"the cache's head {after.decode()} is no longer in the journal (redacted)")
            rows = [r._mapping for r in conn.execute(select(gh).where(gh.c.gh_seq > start).order_by(gh.c.gh_seq))]
            units: dict[str, Unit] = {}
            aliases: dict[int, list[Alias]] = {}
            earlier = EarlierTitles(self, conn)
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
        ga = self.db.tables.git_alias
        added: dict[int, list[Alias]] = {}
        for seq, path, namespace, dbkey in conn.execute(
                select(ga.c.ga_seq, ga.c.ga_path, ga.c.ga_namespace, ga.c.ga_title)
                .where(ga.c.ga_seq >= first, ga.c.ga_seq <= last)):
            added.setdefault(seq, []).append(Alias(path, Title(namespace, dbkey)))
        return added

    def _unit_of(self, conn: Connection, sha: str) -> Unit:
        """The wiki activity a journaled commit stands for, read again from the database."""
        return self._units_of(conn, [sha])[sha]

    def _units_of(self, conn: Connection, shas: list[str]) -> dict[str, Unit]:
        """:meth:`_unit_of` for many commits at once: a few queries, not a few per commit."""
        t = self.db.tables
        geh, gsmh = t.git_edit_hash, t.git_status_modify_hash
        rev_ids: dict[str, list[int]] = {sha: [] for sha in shas}
        log_ids: dict[str, list[int]] = {sha: [] for sha in shas}
        for sha, rev_id in conn.execute(select(geh.c.geh_sha1, geh.c.geh_rev_id).where(geh.c.geh_sha1.in_(shas))):
            rev_ids[sha].append(rev_id)
        for sha, log_id in conn.execute(select(gsmh.c.gsmh_sha1, gsmh.c.gsmh_log_id)
                                        .where(gsmh.c.gsmh_sha1.in_(shas))):
            log_ids[sha].append(log_id)
        revisions = {e.rev_id: e for e in events.revisions_with_ids(self.db, conn, (i for v in rev_ids.values()
                                                                                     for i in v))}
        logs = {e.log_id: e for e in events.logs_with_ids(self.db, conn, (i for v in log_ids.values() for i in v))}
        return {sha: Unit(revisions=[revisions[i] for i in sorted(rev_ids[sha]) if i in revisions],
                          logs=[logs[i] for i in sorted(log_ids[sha]) if i in logs]) for sha in shas}

    def _rebuild(self, conn: Connection, state: WikiState, row: Any, parents: list[bytes], *,
                 redacting: bool = False, unit: Unit | None = None,
                 earlier: EarlierTitles | None = None) -> tuple[Made, list[Alias], Unit]:
        """A journaled commit made again from the database, on the given parents.

        It keeps the journaled identity and message unless ``redacting`` and
        the wiki now hides its user or summary.
        """
        unit = unit or self._unit_of(conn, row["gh_sha1"])
        builder = Builder(self, conn, state, Marks(row["gh_rev_mark"] or 0, row["gh_log_mark"] or 0),
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
                        builder: Builder) -> tuple[Made, list[Alias], Unit]:
        """A pushed commit: its bytes from the journal, its tree made again from the wiki."""
        t = self.db.tables
        ga = t.git_alias
        seq = row["gh_seq"]
        builder.apply(unit)
        state.aliases = [Alias(r[0], Title(r[1], r[2])) for r in conn.execute(
            select(ga.c.ga_path, ga.c.ga_namespace, ga.c.ga_title)
            .where(ga.c.ga_seq <= seq, or_(ga.c.ga_until.is_(None), ga.c.ga_until > seq))
            .order_by(ga.c.ga_path))]  # the registry's order: an unchanged registry keeps the view
        tree, new_aliases = builder.tree()
        commit = Commit.from_string(bytes(row["gh_raw"]))
        if commit.tree != tree.encode("ascii") or new_aliases:
            raise RebuildMismatch(seq, f"pushed commit {row['gh_sha1']} (journal position {seq}) no longer "
                                       f"rebuilds: its tree would be {tree}: {_why_different(unit)}")
        for raw_sha, kind, data in conn.execute(select(t.git_object.c.go_sha1, t.git_object.c.go_type,
                                                       t.git_object.c.go_data)
                                                .where(t.git_object.c.go_push == row["gh_sha1"])):
            builder.objects.append(ShaFile.from_raw_string(kind, bytes(data), raw_sha.encode("ascii")))
        return builder.commit(commit), [], unit

    def _replay_one(self, conn: Connection, state: WikiState, row: Any, unit: Unit, expected: list[Alias],
                    earlier: EarlierTitles) -> Made:
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

    def verify(self, progress: Progress | None = None) -> int:
        """Rebuild every journaled commit from the database; returns how many, raises on a difference."""
        return sum(1 for _ in self.replay(WikiState(), None, progress))

    def redact(self) -> int:
        """Rewrite history from the first commit that no longer rebuilds, without what the wiki now hides.

        The one rewrite of published history (DESIGN.md, Commits), always an
        admin's explicit act: the branch moves non-fast-forward. Returns how
        many commits were rewritten (0: nothing to do).
        """
        try:
            self.verify()
            return 0
        except RebuildMismatch as mismatch:
            first = mismatch.position
        t = self.db.tables
        gh = t.git_hash
        self.ensure_journal_row()
        with self.db.write() as conn:
            self.marks(conn, lock=True)
            rows = [r._mapping for r in conn.execute(select(gh).order_by(gh.c.gh_seq)).all()]
            state = WikiState()
            head: bytes | None = None
            kept = [r for r in rows if r["gh_seq"] < first]
            earlier = EarlierTitles(self, conn)
            for row in kept:
                head = self._rebuild(conn, state, row, [p.encode("ascii") for p in row["gh_parents"].split()],
                                     earlier=earlier)[0].commit.id
            rewritten = [r for r in rows if r["gh_seq"] >= first]
            units = [self._unit_of(conn, r["gh_sha1"]) for r in rewritten]
            gone = [r["gh_sha1"] for r in rewritten]
            conn.execute(t.git_edit_hash.delete().where(t.git_edit_hash.c.geh_sha1.in_(gone)))
            conn.execute(t.git_status_modify_hash.delete().where(t.git_status_modify_hash.c.gsmh_sha1.in_(gone)))
            conn.execute(t.git_alias.delete().where(t.git_alias.c.ga_seq >= first))
            conn.execute(gh.delete().where(gh.c.gh_seq >= first))
            journal = JournalRows(self, conn)
            for row, unit in zip(rewritten, units):
                made, aliases, unit = self._rebuild(conn, state, row, [head] if head else [], redacting=True,
                                                    unit=unit, earlier=earlier)
                journal.add(made.commit, unit, aliases, Marks(row["gh_rev_mark"] or 0, row["gh_log_mark"] or 0),
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


def file_version(db: Any, conn: Connection, root: Any, name: str, timestamp: str) -> bytes | None:
    """The bytes of a file's version uploaded at ``timestamp``, wherever MediaWiki keeps it now."""
    t = db.tables
    if conn.execute(select(t.image.c.img_timestamp).where(t.image.c.img_name == name)).scalar() == timestamp:
        path = files.public_path(root, name)
    elif archived := conn.execute(select(t.oldimage.c.oi_archive_name).where(
            t.oldimage.c.oi_name == name, t.oldimage.c.oi_timestamp == timestamp)).scalar():
        path = files.archive_path(root, name, archived)
    elif key := conn.execute(select(t.filearchive.c.fa_storage_key).where(
            t.filearchive.c.fa_name == name, t.filearchive.c.fa_timestamp == timestamp)).scalar():
        sha1, _, extension = key.partition(".")
        path = files.deleted_path(root, sha1, extension)
    else:
        return None
    return path.read_bytes() if path.exists() else None


def _counted(items: Sequence[T], progress: Progress | None) -> Iterator[T]:
    """``items`` one by one, telling ``progress`` how many are done after each."""
    if progress is not None:
        progress(0, len(items))
    for done, item in enumerate(items, 1):
        yield item
        if progress is not None:
            progress(done, len(items))
