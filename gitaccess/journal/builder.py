"""Making commits' trees: units of wiki activity applied to a :class:`WikiState`.

A :class:`Builder` changes the state by each unit (reading the revision
texts, file versions and earlier titles the unit needs from the wiki) and
makes the tree and new objects of the commit that stands for it. The
journal uses one for each catch-up, replay or push (docs/history.md).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from dulwich.objects import Blob, Commit, ShaFile

from gitaccess.journal.state import NewCommit, Marks, PageState, Unit, WikiState
from gitaccess.objects.trees import TreeObject
from gitaccess.site import Site
from gitaccess.titles.namespaces import FILE, MEDIA
from gitaccess.tree.aliases import AliasRegistry, Alias
from gitaccess.tree.gittree import GitTree
from gitaccess.tree.layout import ALIASES_FILE, Layout
from gitaccess.tree.view import RepositoryView
from gitaccess.wiki import events, filerows
from gitaccess.wiki.database import WikiDatabase
from gitaccess.wiki.events import DELETED_TEXT, LogEvent, RevisionEvent
from gitaccess.wiki.reader import TextRows

if TYPE_CHECKING:
    from sqlalchemy import Connection

log = logging.getLogger(__name__)

BLOB_MODE = 0o100644


class EarlierTitles:
    """The title each page had before its moves not yet journaled, for a revision read now of a
    page moved since: the moves are read once per transaction, from the earliest position asked."""

    def __init__(self, db: WikiDatabase, conn: Connection) -> None:
        self.db = db
        self.conn = conn
        self.after: int | None = None
        self.moves: dict[int, list[tuple[int, int, str]]] = {}

    def before_moves(self, page_id: int, after: int) -> tuple[int, str] | None:
        """(namespace, title) before the page's first move after log id ``after``; None if none."""
        if self.after is None or after < self.after:
            self.after, self.moves = after, events.moves_after(self.db, self.conn, after)
        return next(((ns, key) for log_id, ns, key in self.moves.get(page_id, ()) if log_id > after), None)


class Builder:
    """Applies units to a state and makes their trees and commits (one catch-up, replay or push).

    It reads the wiki through ``conn`` (texts, titles before moves, file
    versions) and holds the objects it made until :meth:`commit` hands them
    over. A revision whose text cannot be read raises
    :class:`gitaccess.errors.UnreadableText`; other database errors propagate.
    """

    def __init__(self, site: Site, texts: TextRows, conn: Connection, state: WikiState, marks: Marks,
                 layout: Layout, earlier: EarlierTitles | None = None) -> None:
        self.texts = texts
        self.earlier = earlier or EarlierTitles(site.db, conn)
        self.site = site
        self.db = site.db
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
            current = filerows.newest_version_before(self.db, self.conn, dbkey, when or newest.timestamp)
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
        text = self.texts.text(self.conn, event.content_address, f"revision {event.rev_id}")
        return self._keep(Blob.from_string(text.encode("utf-8")), previous)

    def _set_file(self, name: str, timestamp: str) -> None:
        """Media/<name> becomes the version uploaded at ``timestamp``; a version whose
        bytes the upload directory lacks (a dump imported without files) is left out."""
        data = filerows.file_version(self.db, self.conn, self.site.config.upload_directory, name, timestamp)
        if data is None:
            log.warning("File:%s: the version uploaded at %s is not in the upload directory %s; "
                        "Media/%s is left out of the repository", name, timestamp,
                        self.site.config.upload_directory, name)
            self.state.set_media(name, None)
        else:
            self.state.set_media(name, self._keep(Blob.from_string(data), self.state.media.get(name)))

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

    def commit(self, commit: Commit) -> NewCommit:
        """``commit`` (made on the last tree) with the objects made since the last call."""
        made = NewCommit(commit, [*self.objects, commit], self.bases)
        self.objects, self.bases = [], {}
        return made

