"""The repository as its latest commit shows it, kept so the next commit costs what it changes.

Placing every page (:meth:`GitTree.place`) looks at all of them, and a large
wiki would pay that on each of its many revisions. Most
commits edit a page that keeps its path, delete one, or create one; for
those the placement is known without redoing it, because the names taken
(:class:`Claims`: the registry's, the namespace directories', every placed
page's) are kept exactly, a page that goes giving its natural path back:

- an edit that keeps the content model keeps the path;
- a page that goes frees nothing another page could take: every page that
  once needed an alias has it in the registry, and registry entries win;
- a page that comes in takes its natural path when that is usable and
  clashes with no name taken: placing everything again would give every
  other page its path as before, whatever their order;
- a page that comes in for the first time (published last, so it yields to
  every other page) and cannot have its natural path gets a new alias made
  against exactly the names a full placement would see.

Anything else (a content-model change, a page coming back or a Media file
that clashes, two new aliases at once, a page with no place) is left to a
full placement, which the caller then hands over with
:meth:`RepositoryView.placed`. Either way the result is identical, so SHA-1s
do not depend on which path was taken.

Pure: no database, no I/O.
"""

from __future__ import annotations

from typing import Collection, Mapping

from gitaccess.titles.namespaces import MEDIA
from gitaccess.titles.codec import Title
from gitaccess.tree.aliases import Alias, AliasRegistry
from gitaccess.tree.claims import Claims, first_conflict
from gitaccess.tree.gittree import GitTree, Placement
from gitaccess.tree.layout import ALIASES_FILE
from gitaccess.objects.trees import FileTree

BLOB_MODE = 0o100644

#: (content model, blob id in hex) of a page the tree shows; Media files have no model.
Entry = tuple["str | None", str]
#: title -> (what it showed before, what it shows now); None: not in the tree.
Changes = Mapping[Title, tuple["Entry | None", "Entry | None"]]


class RepositoryView:
    """Paths, names taken and trees of one commit of one layout."""

    def __init__(self, gittree: GitTree, files: FileTree | None = None) -> None:
        self.gittree = gittree
        self.layout = gittree.layout
        self.files = files or FileTree()
        self.paths: dict[Title, str] = {}
        self.claims = Claims()
        self.registry = AliasRegistry()
        #: The registry's entries (what the state's aliases must be).
        self.aliases: list[Alias] = []
        self._aliased: frozenset[Title] = frozenset()
        #: The root tree id this view stands for.
        self.tree: bytes | None = None

    def placed(self, placement: Placement, entries: Mapping[str, tuple[int, bytes]]) -> None:
        """Take over a full placement and the files it gives, {path: (mode, blob id)}."""
        self.paths = dict(placement.titles)
        self.claims = placement.claims
        self._set_registry(placement.registry)
        for path in [p for p in self.files.files if p not in entries]:
            self.files.remove(path)
        for path, (mode, sha) in entries.items():
            self.files.set(path, mode, sha)

    def _set_registry(self, registry: AliasRegistry) -> None:
        self.registry = registry
        self.aliases = list(registry)
        self._aliased = frozenset(alias.title for alias in self.aliases)

    def update(self, changes: Changes, fresh: Collection[Title]) -> list[Alias] | None:
        """Apply changes that need no full placement; returns the new aliases made (the caller
        persists them and writes Aliases.xml), or None, having changed nothing, when a full
        placement is needed. ``fresh`` are the titles published for the first time since."""
        edits: list[tuple[str, bytes]] = []
        gone: list[Title] = []
        added: dict[Title, tuple[str, bytes]] = {}
        alias_wanted: list[tuple[Title, str | None, bytes]] = []
        for title, (old, new) in changes.items():
            if old == new:
                continue
            path = self.paths.get(title)
            if old is not None and new is not None:
                if path is None or old[0] != new[0]:
                    return None
                edits.append((path, new[1].encode("ascii")))
            elif old is not None:
                if path is None:
                    return None
                gone.append(title)
            elif new is not None:
                if not self._may_enter(title):
                    return None
                path = self._natural_place(title, new[0])
                if path is not None:
                    added[title] = (path, new[1].encode("ascii"))
                elif title in fresh and title.namespace != MEDIA:
                    alias_wanted.append((title, new[0], new[1].encode("ascii")))
                else:
                    return None
        if len(alias_wanted) > 1 or added and first_conflict(path for path, _ in added.values()) is not None:
            return None
        for path, sha in edits:
            self.files.set(path, BLOB_MODE, sha)
        for title in gone:
            path = self.paths.pop(title)
            if title not in self._aliased:
                self.claims.release(path)
            self.files.remove(path)
        for title, (path, sha) in added.items():
            self.claims.claim(path)
            self.paths[title] = path
            self.files.set(path, BLOB_MODE, sha)
        new_aliases = []
        for title, model, sha in alias_wanted:
            path = self.gittree.new_alias(title, model, self.claims)
            self.claims.claim(path)
            self.paths[title] = path
            self.files.set(path, BLOB_MODE, sha)
            new_aliases.append(Alias(path, title))
        if new_aliases:
            self._set_registry(self.registry.with_aliases(new_aliases))
        return new_aliases

    def _may_enter(self, title: Title) -> bool:
        """Can a page coming in be placed without the others: in the repository, nameable,
        not one the registry already names (its alias may no longer fit its model)."""
        layout = self.layout
        return (layout.is_included(title.namespace) and not layout.title_problem(title)
                and title not in self._aliased and title not in self.paths)

    def _natural_place(self, title: Title, model: str | None) -> str | None:
        """The natural path of a page coming in, when usable and free."""
        if self.layout.natural_problem(title, model) is not None:
            return None
        path = self.layout.natural_path(title, model)
        if path == ALIASES_FILE or self.claims.conflict(path) is not None:
            return None
        return path
