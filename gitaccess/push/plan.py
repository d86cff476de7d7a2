"""Planning a push: each pushed commit turned into the wiki changes it stands for.

For each commit on the first-parent chain, the pages its tree stands for
(canonical paths, Aliases.xml, File/Media pairs, each page's content by
:mod:`gitaccess.push.rules`) and the wiki operations that turn its parent's
pages into them. Pure: it reads the pushed objects and the wiki state the
push builds on, never the database, so a push breaking a rule is refused
before the write transaction opens.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from dulwich.objects import Commit

from gitaccess.config import Config
from gitaccess.journal.state import WikiState
from gitaccess.push.errors import PushRefused
from gitaccess.push.rules import check_text, check_upload, summary_of
from gitaccess.push.trees import Change, PushedTrees
from gitaccess.titles.codec import Title
from gitaccess.titles.namespaces import FILE, MEDIA
from gitaccess.tree.aliases import Alias, AliasesError, AliasRegistry
from gitaccess.tree.gittree import GitTree
from gitaccess.tree.layout import ALIASES_FILE, Layout, PathError


@dataclass
class Page:
    """A page (or Media file) as one commit's tree shows it."""

    blob: str
    model: str | None
    path: str


@dataclass
class Changes:
    """What one commit changes in the wiki, in the order it is applied."""

    deletes: list[Title] = field(default_factory=list)
    moves: list[tuple[Title, Title]] = field(default_factory=list)
    model_changes: list[Title] = field(default_factory=list)
    edits: list[Title] = field(default_factory=list)
    creates: list[Title] = field(default_factory=list)
    uploads: list[str] = field(default_factory=list)


@dataclass
class CommitPlan:
    """One pushed commit, planned: the wiki operations it makes and the pages they involve."""

    commit: Commit
    #: How messages about this commit name it.
    where: str
    changes: Changes
    #: The pages the operations involve, as the parent's tree and this commit's tree show them.
    before: dict[Title, Page]
    after: dict[Title, Page]
    #: The alias registry this commit's tree has.
    aliases: list[Alias]
    #: Whether the journal's active aliases become ``aliases`` (the whole tree was read).
    sets_aliases: bool


def plan_push(config: Config, layout: Layout, state: WikiState, head: bytes | None, chain: list[Commit],
              trees: PushedTrees, diffs: dict[bytes, list[Change]]) -> list[CommitPlan]:
    """The plan of each commit of ``chain`` (oldest first), built on ``state``, the wiki state
    at the served ``head``; ``diffs`` are each commit's changed files
    (:func:`gitaccess.push.rules.check_objects`).

    Raises :class:`PushRefused` for the first commit that breaks a rule.
    """
    gittree = GitTree(layout)
    registry = AliasRegistry(state.aliases)

    def served_path(title: Title, model: str | None) -> str:
        return registry.path_for(title) or layout.natural_path(title, model)

    # The pages of the tree the next commit builds on, and their paths (kept up to date).
    pages = {Title(p.namespace, p.dbkey): Page(p.blob or "", p.model, served_path(Title(p.namespace, p.dbkey),
                                                                                  p.model))
             for p in state.pages.values() if p.blob is not None}
    pages.update({Title(MEDIA, name): Page(blob, None, served_path(Title(MEDIA, name), None))
                  for name, blob in state.media.items()})
    paths = {page.path: title for title, page in pages.items()}
    previous = trees.objects[head].tree if head else None
    clash_checked: set[tuple[str, bytes]] = set()
    plans: list[CommitPlan] = []
    for number, commit in enumerate(chain, 1):
        where = f"commit {commit.id.decode()[:12]} ({summary_of(commit)[:60]})"
        changed = diffs[commit.id]
        found = None
        if previous is not None and all(change.path != ALIASES_FILE for change in changed):
            found = _changed_pages(config, gittree, registry, commit.tree, trees, where, (pages, paths), changed,
                                   clash_checked)
        if found is None:
            registry, after = _pages(config, gittree, commit, trees, where, pages)
            touched = [*pages, *(t for t in after if t not in pages)]
            before, pages = pages, after
            after = dict(pages)  # ``pages`` changes with the next commits
            paths = {page.path: title for title, page in pages.items()}
        else:
            removed, added, touched = found
            before = {title: pages[title] for title in touched if title in pages}
            for title in removed:
                del paths[pages.pop(title).path]
            pages.update(added)
            paths.update((page.path, title) for title, page in added.items())
            after = {title: pages[title] for title in touched if title in pages}
        previous = commit.tree
        # The aliases change only where the whole tree was read (Aliases.xml among the changes).
        plans.append(CommitPlan(commit, where, _changes(before, after, touched), before, after, list(registry),
                                sets_aliases=found is None or number == 1))
    return plans


def _pages(config: Config, gittree: GitTree, commit: Commit, trees: PushedTrees, where: str,
           previous: dict[Title, Page]) -> tuple[AliasRegistry, dict[Title, Page]]:
    """The pages a commit's tree stands for, checked: paths, Aliases.xml, and, for the pages that
    differ from the ``previous`` tree's, texts and pairs (an untouched page never refuses a push)."""
    objects = trees.objects
    files = {path: sha for path, _mode, sha in trees.walk(commit.tree)}
    if ALIASES_FILE in files:
        try:
            registry = AliasRegistry.from_xml(objects[files.pop(ALIASES_FILE)].as_raw_string(), gittree.layout)
        except AliasesError as exc:
            raise PushRefused(f"{ALIASES_FILE}: {exc} ({where})") from None
    else:
        registry = AliasRegistry()
    try:
        resolved = gittree.paths_to_titles(files, registry)
    except PathError as exc:
        raise PushRefused(f"{exc} ({where})") from None
    pages: dict[Title, Page] = {}
    changed: list[Title] = []
    for path, (title, model) in resolved.items():
        title = Title(title.namespace, title.dbkey)
        pages[title] = Page(files[path].decode("ascii"), model, path)
        if previous.get(title) != pages[title]:
            changed.append(title)
            _check_content(config, path, title, objects[files[path]].as_raw_string(), model, where)
    changed += [title for title in previous if title not in pages]
    lone = _lone_half(changed, pages.__contains__, previous.__contains__)
    if lone is not None:
        missing = "Media file" if lone.namespace == FILE else "File page"
        raise PushRefused(f"{(pages.get(lone) or previous[lone]).path}: its {missing} ({lone.dbkey}) is "
                          f"{'missing' if lone in pages else 'still there'}; a File page and its Media file "
                          f"come and go together ({where})")
    return registry, pages


def _lone_half(changed: list[Title], present: Callable[[Title], bool], existed: Callable[[Title], bool],
               ) -> Title | None:
    """The first File page or Media file among ``changed`` that came or went without its other half.

    Only a title that came or went counts: a File page edited while its Media
    file is missing (a wiki imported without its files) keeps the pair as it was.
    """
    for title in changed:
        if title.namespace in (FILE, MEDIA) and present(title) != existed(title):
            if present(_pair(title)) != present(title):
                return title
    return None


def _pair(title: Title) -> Title:
    """The other half of a File page or Media file."""
    return Title(MEDIA if title.namespace == FILE else FILE, title.dbkey)


def _changed_pages(config: Config, gittree: GitTree, registry: AliasRegistry, tree: bytes, trees: PushedTrees,
                   where: str, current: tuple[dict[Title, Page], dict[str, Title]], changed: list[Change],
                   clash_checked: set[tuple[str, bytes]],
                   ) -> tuple[list[Title], dict[Title, Page], list[Title]] | None:
    """What a commit that changed only ``changed`` (Aliases.xml untouched) does to the
    ``current`` pages (and their paths): (titles removed, pages added, every title touched),
    checking only what changed.

    None when the commit breaks a rule that involves other pages too (two
    files for one page, clashing names, a lone File page or Media file, a
    path that is not a page's): :func:`_pages` then checks the whole tree
    and names the problem exactly as it would for any push.
    """
    pages, paths = current
    removed: dict[Title, str] = {}
    for path, old, _new, _mode in changed:
        if old is not None:
            title = paths.get(path)
            if title is None or title in removed:
                return None
            removed[title] = path
    added: dict[Title, Page] = {}
    creates = False
    for path, old, new, _mode in changed:
        if new is None:
            continue
        try:
            title, model = gittree.path_to_title(path, registry)
        except PathError:
            return None
        title = Title(title.namespace, title.dbkey)
        if _present(title, pages, removed, added):
            return None
        _check_content(config, path, title, trees.objects[new].as_raw_string(), model, where)
        added[title] = Page(new.decode("ascii"), model, path)
        creates |= old is None
    if creates and trees.names_clash(tree, clash_checked):
        return None
    touched = list(dict.fromkeys([*removed, *added]))
    if _lone_half(touched, lambda title: _present(title, pages, removed, added), pages.__contains__) is not None:
        return None
    return list(removed), added, touched


def _check_content(config: Config, path: str, title: Title, data: bytes, model: str | None, where: str) -> None:
    """A Media file's or a page's content, by the rules for its kind."""
    if title.namespace == MEDIA:
        check_upload(config, path, title.dbkey, data, where)
    else:
        check_text(config, path, data, model, where)


def _present(title: Title, pages: dict[Title, Page], removed: dict[Title, str], added: dict[Title, Page]) -> bool:
    """Whether a commit's tree has ``title``: added by it, or there before and not removed."""
    return title in added or title in pages and title not in removed


def _changes(before: dict[Title, Page], after: dict[Title, Page], touched: list[Title]) -> Changes:
    """Wiki operations turning one tree's pages into the next one's; ``touched`` lists every
    title that may differ (removed ones in the old tree's order, then added ones).

    A removed page whose exact content reappears under a new title is a move
    (without redirect); a changed extension is a content-model change.
    """
    changes = Changes()
    removed = [t for t in touched if t in before and t not in after]
    added = [t for t in touched if t in after and t not in before]
    by_blob: dict[str, list[Title]] = {}
    for title in removed:
        if title.namespace != MEDIA:
            by_blob.setdefault(before[title].blob, []).append(title)
    for title in added:
        if title.namespace == MEDIA:
            changes.uploads.append(title.dbkey)
            continue
        candidates = by_blob.get(after[title].blob)
        if candidates and title.namespace not in (FILE,):
            changes.moves.append((candidates.pop(0), title))
        elif title.namespace != FILE:
            changes.creates.append(title)
    moved = {old for old, _ in changes.moves}
    changes.deletes = [t for t in removed if t not in moved and t.namespace != MEDIA]
    for title in touched:
        if title not in before or title not in after:
            continue
        if title.namespace == MEDIA:
            if before[title].blob != after[title].blob:
                changes.uploads.append(title.dbkey)
        elif before[title].model and after[title].model and before[title].model != after[title].model \
                and _extension(before[title].path) != _extension(after[title].path):
            changes.model_changes.append(title)
        elif before[title].blob != after[title].blob:
            changes.edits.append(title)
    new_files = {name for name in changes.uploads}
    changes.edits = [t for t in changes.edits if not (t.namespace == FILE and t.dbkey in new_files
                                                      and Title(FILE, t.dbkey) not in before)]
    return changes


def _extension(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    return name[name.rfind("."):] if "." in name else ""
