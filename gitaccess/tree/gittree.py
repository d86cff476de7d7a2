"""GitTree: the wiki's pages as one git tree, and a pushed tree's paths as pages.

Placing the pages follows the original extension's four filter passes, in
order:

1. subpages: in namespaces with subpages, '/' in a title makes directories;
2. illegal characters: a natural path that is not portable, or would not
   read back to its title, needs an alias;
3. capitalisation: names in one directory that a case-insensitive system
   would confuse (Unicode case folding, and a file against a directory):
   the page published first keeps its natural name, the others need aliases;
4. aliases application: registry entries always win (an alias once
   published is never renamed nor reused), then new aliases are made for
   the pages that need one and added to the registry, which the caller
   persists and which becomes Aliases.xml. A page needing an alias for
   several reasons gets one alias.

The reverse, used by push, maps each path to its page, honouring the
registry, and refuses any path that is not exactly where gitaccess would put
that page, naming the right path. The tree objects themselves are
:mod:`gitaccess.objects.trees`'s.

Pure: no database, no I/O.
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass, field
from typing import Iterable

from gitaccess.titles.namespaces import GITACCESS_ROOT, MEDIA
from gitaccess.titles.codec import Title
from gitaccess.tree.aliases import Alias, AliasesError, AliasRegistry
from gitaccess.tree.claims import Claims
from gitaccess.tree.layout import ALIASES_FILE, Layout, PathError, PathTitle
from gitaccess.tree.naming import alias_file_name
from gitaccess.tree.portable import unportable_reason


@dataclass(frozen=True)
class Placement:
    """Where every page goes. ``paths`` is sorted by path; ``new_aliases`` are
    the entries this placement added (or changed, when a content-model change
    changed an alias's extension) and the caller must persist; ``skipped``
    are pages whose database title no file can name (the reason says why),
    which the caller should report; ``claims`` lets a next commit place a
    new page without placing all again (:mod:`gitaccess.tree.view`)."""

    paths: dict[str, Title]
    titles: dict[Title, str]
    registry: AliasRegistry
    new_aliases: tuple[Alias, ...]
    aliases_xml: bytes | None = field(repr=False)
    skipped: dict[Title, str] = field(default_factory=dict)
    #: Every name taken once all pages are placed.
    claims: Claims = field(default_factory=Claims, repr=False, compare=False)


class GitTree:
    """The translation between one wiki's titles and repository paths."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout

    # --- Wiki -> tree -------------------------------------------------------

    def place(
        self,
        pages: Iterable[tuple[int, str, str | None]],
        registry: AliasRegistry,
        published_order: Iterable[Title | tuple[int, str]] = (),
    ) -> Placement:
        """Compute every page's path.

        ``pages`` are (namespace, dbkey, content model) of the current pages
        (Media files as (-2, name, None)); pages of namespaces outside the
        repository are left out. ``published_order`` ranks titles for the
        capitalisation pass, earliest first (the order pages first appeared
        in the tree, e.g. creation order); unranked titles come after, by
        title. Raises ValueError for a page listed twice and AliasesError if
        the registry contradicts the layout.
        """
        models, skipped = self._current_pages(pages)
        rank: dict[Title, int] = {}
        for index, entry in enumerate(published_order):
            key = Title(entry.namespace, entry.dbkey) if isinstance(entry, Title) else Title(*entry)
            rank.setdefault(key, index)
        order = sorted(models, key=lambda t: (rank.get(t, math.inf), t.namespace, t.dbkey))
        claims = self._claims_of(registry)
        placed: dict[Title, str] = {}
        natural: list[Title] = []
        needs_alias: list[Title] = []
        for title in order:
            alias = registry.path_for(title)
            if alias is not None and self._extension_matches(alias, title, models[title]):
                placed[title] = alias
            elif alias is None and self.layout.natural_problem(title, models[title]) is None:
                natural.append(title)  # passes 1 and 2
            else:
                needs_alias.append(title)
        for title in natural:  # pass 3
            path = self.layout.natural_path(title, models[title])
            if claims.conflict(path) is None:
                claims.claim(path)
                placed[title] = path
            else:
                needs_alias.append(title)
        new_aliases = []
        for title in needs_alias:  # pass 4
            path = self.new_alias(title, models[title], claims)
            claims.claim(path)
            placed[title] = path
            new_aliases.append(Alias(path, title))
        updated = registry.with_aliases(new_aliases) if new_aliases else registry
        paths = {path: title for title, path in sorted(placed.items(), key=lambda item: item[1])}
        xml = updated.to_xml(self.layout.codec) if len(updated) else None
        return Placement(paths, dict(placed), updated, tuple(new_aliases), xml, skipped, claims)

    def _current_pages(
        self, pages: Iterable[tuple[int, str, str | None]]
    ) -> tuple[dict[Title, str | None], dict[Title, str]]:
        """The pages in the repository, and those whose title no file can name."""
        models: dict[Title, str | None] = {}
        skipped: dict[Title, str] = {}
        for namespace, dbkey, model in pages:
            if not self.layout.is_included(namespace):
                continue
            title = Title(namespace, dbkey)
            if title in models or title in skipped:
                raise ValueError(f"page {namespace}:{dbkey!r} is listed twice")
            problem = self.layout.title_problem(title)
            if problem:
                skipped[title] = problem
            else:
                models[title] = model
        return models, skipped

    def _claims_of(self, registry: AliasRegistry) -> Claims:
        """Names taken before any page is placed: Aliases.xml, the namespace
        directories at the root, and every registry entry, present page or not."""
        claims = Claims()
        claims.claim_file("", ALIASES_FILE)
        for namespace in self.layout.namespaces:
            if self.layout.directory(namespace.id):
                claims.claim_directory("", self.layout.directory(namespace.id))
        for path, title in registry:
            problem = claims.conflict(path)
            if problem:
                raise AliasesError(f"alias {path!r} of {self.layout.full_text(title)!r}: {problem}")
            claims.claim(path)
        return claims

    def _extension_matches(self, path: str, title: Title, model: str | None) -> bool:
        """Does the alias still carry the extension of the page's model?

        After a content-model change it does not: the page gets a new alias
        (the old path stays unused: an alias is never given to another page).
        """
        extension = self.layout.extension(title.namespace, model)
        if not extension:
            return True
        split = self.layout.split_extension(path.rsplit("/", 1)[-1])
        return split is not None and split[1] == extension

    def new_alias(self, title: Title, model: str | None, claims: Claims) -> str:
        """A new alias path: in the deepest subpage directory that can be kept,
        with the rest of the title in one escaped file name."""
        layout = self.layout
        stem, extension = layout.title_part(title, model)
        parts = stem.split("/") if layout.makes_directories(title.namespace) else [stem]
        parent = layout.directory(title.namespace)
        kept: list[str] = []
        for part in parts[:-1]:
            if not part or unportable_reason(part) or not claims.can_directory(_join(parent, *kept), part):
                break
            kept.append(part)
        if kept and len(kept) == len(parts) - 1 and not parts[-1]:
            kept.pop()  # a trailing '/': keep its last directory in the name
        directory = _join(parent, *kept)
        rest = "/".join(parts[len(kept) :])

        def is_free(name: str) -> bool:
            return claims.can_file(directory, name) and not layout.is_canonical(_join(directory, name))

        name = alias_file_name(
            rest,
            extension,
            seed=layout.full_text(title),
            extension_in_title=extension in layout.kept_extensions,
            is_free=is_free,
        )
        return _join(directory, name)

    def title_to_path(self, title: Title, model: str | None, registry: AliasRegistry) -> str | None:
        """The path of one page, ignoring the other pages: its alias, else its
        natural path if usable; None if it would need a new alias."""
        title = Title(title.namespace, title.dbkey)
        alias = registry.path_for(title)
        if alias is not None and self._extension_matches(alias, title, model):
            return alias
        if alias is None and self.layout.natural_problem(title, model) is None:
            return self.layout.natural_path(title, model)
        return None

    # --- Tree -> wiki -------------------------------------------------------

    def path_to_title(self, path: str, registry: AliasRegistry) -> PathTitle:
        """The page a pushed file is, and the content model its extension says.

        Raises PathError, naming the rule and the right path where there is
        one, for: Aliases.xml itself, a path mapping to no valid title or to
        a namespace outside the repository, and a path that is not exactly
        where gitaccess puts its page (``(Main)/foo bar.wiki``: "name it
        (Main)/Foo_bar.wiki"; an NFD name: the NFC one; a page with an alias:
        the alias).
        """
        layout = self.layout
        if path == ALIASES_FILE:
            raise PathError(path, "this is the alias registry, not a page")
        if not path or path.startswith("/") or "" in path.split("/"):
            raise PathError(path, "not a relative path (empty component, leading or trailing '/')")
        aliased = registry.title_for(path)
        if aliased is not None:
            result = PathTitle(aliased, self._model_of_alias(path, aliased))
        else:
            result = layout.read_path(path)
        title, model = result
        if not layout.is_included(title.namespace):
            raise PathError(
                path, f"{layout.full_text(title)!r} is in a namespace that is not in the repository"
            )
        if aliased is not None:
            return result
        alias = registry.path_for(title)
        if alias is not None:
            raise PathError(path, f"{layout.full_text(title)!r} has an alias in Aliases.xml: name it {alias}")
        natural = layout.natural_path(title, model)
        problem = layout.natural_problem(title, model)
        if natural != path:
            if problem is None:
                why = ""
                if not unicodedata.is_normalized("NFC", path):
                    why = " (the name is not in Unicode NFC form, as macOS may write it)"
                raise PathError(path, f"not the path of {layout.full_text(title)!r}{why}: name it {natural}")
            raise PathError(
                path,
                f"reads as {layout.full_text(title)!r}, which has no portable path of its own "
                f"({problem}): give it an alias in Aliases.xml",
            )
        if problem is not None:
            raise PathError(path, f"{problem}: give {layout.full_text(title)!r} an alias in Aliases.xml")
        return result

    def _model_of_alias(self, path: str, title: Title) -> str | None:
        if title.namespace == MEDIA:
            return None
        if title.namespace == GITACCESS_ROOT:
            return "text"
        split = self.layout.split_extension(path.rsplit("/", 1)[-1])
        if split is None:
            raise PathError(path, "the alias has no known extension")
        return self.layout.model_of_extension(split[1])

    def paths_to_titles(self, paths: Iterable[str], registry: AliasRegistry) -> dict[str, PathTitle]:
        """:meth:`path_to_title` for every file of a pushed tree (Aliases.xml is
        skipped), also refusing two files for one page and names a
        case-insensitive system would confuse. Raises PathError for the first
        path refused."""
        result: dict[str, PathTitle] = {}
        seen: dict[Title, str] = {}
        claims = Claims()
        claims.claim_file("", ALIASES_FILE)
        for path in sorted(paths):
            if path == ALIASES_FILE:
                continue
            resolved = self.path_to_title(path, registry)
            other = seen.setdefault(resolved.title, path)
            if other != path:
                page = self.layout.full_text(resolved.title)
                raise PathError(path, f"{other} is the same page {page!r}: two files for one page")
            problem = claims.conflict(path)
            if problem:
                raise PathError(path, problem)
            claims.claim(path)
            result[path] = resolved
        return result


def _join(*parts: str) -> str:
    return "/".join(part for part in parts if part)
