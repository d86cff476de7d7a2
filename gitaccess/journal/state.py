"""The journal's pure state: what a commit's tree is made from, and how far the journal has read.

Nothing here reads the database: :class:`WikiState` (pages and Media files
as the repository shows them), :class:`Unit` (the wiki activity one commit
stands for, and :func:`group`, which forms units), :class:`Marks` (the
journal's high-water marks) and :class:`NewCommit` (a commit with its new
objects). docs/history.md describes how they are used.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

from dulwich.objects import Commit, ShaFile

from gitaccess.objects.trees import TreeObject
from gitaccess.titles.codec import Title
from gitaccess.titles.namespaces import MEDIA
from gitaccess.tree.aliases import Alias
from gitaccess.tree.view import Changes, Entry, RepositoryView
from gitaccess.wiki import events
from gitaccess.wiki.events import Event, LogEvent, RevisionEvent


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
    until ``gitaccess.journal.history.GAP_SECONDS`` have passed.
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


@dataclass(frozen=True)
class NewCommit:
    """A commit made for the journal, with the objects it introduced (itself included).

    What the object cache stores: this is the concrete form of
    :class:`gitaccess.cache.objectcache.NewCommit`, which the cache states
    as a protocol so that it need not import the journal.
    """

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

