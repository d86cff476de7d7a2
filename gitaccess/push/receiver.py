"""Pushes: commits become wiki edits, all or nothing (DESIGN.md, Push).

A push is checked before anything is written: the ref and the fast-forward,
every pushed object (modes, portable paths), and for each commit on the
first-parent chain the pages its tree stands for (canonical paths, UTF-8
without carriage returns, valid JSON, sizes, File/Media pairs, Aliases.xml,
MediaWiki's permissions). Then one transaction takes the journal lock,
refuses the push as stale if the wiki moved meanwhile, applies each commit
as wiki changes attributed to the pusher, rebuilds the commit's tree from
what the wiki now holds (it must equal the pushed tree), and appends the
pushed commits to the journal byte for byte.
"""

from __future__ import annotations

import json
import logging
import stat
import threading
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable, Iterator, NamedTuple, Protocol

from dulwich.objects import Commit, ShaFile, Tree
from sqlalchemy import Connection

from gitaccess.auth.accounts import Account
from gitaccess.errors import EditConflict, GitAccessError, PageExists, PageMissing
from gitaccess.journal.builder import Builder
from gitaccess.journal.history import StaleCache
from gitaccess.journal.state import Marks, NewCommit, Unit, WikiState
from gitaccess.titles.namespaces import FILE, MEDIA
from gitaccess.auth.permissions import Rights, protection_levels, protection_problem
from gitaccess.protocol.repository import ObjectSource
from gitaccess.repository import WikiRepository
from gitaccess.site import Site
from gitaccess.titles.codec import Title
from gitaccess.tree.aliases import AliasesError, AliasRegistry
from gitaccess.tree.gittree import GitTree
from gitaccess.tree.layout import ALIASES_FILE, PathError
from gitaccess.tree.portable import collision_key, path_problem
from gitaccess.objects.entries import ParsedTree, RecentTrees, Reread, parse, reparse
from gitaccess.objects.trees import TreeObject
from gitaccess.wiki import events
from gitaccess.wiki.writer import Editor, WikiWriter

log = logging.getLogger(__name__)

ZERO = b"0" * 40
GITLINK_MODE = 0o160000
BLOB_MODE = 0o100644
#: Pushed commits looked up in the history at once (to tell a fast-forward).
KNOWN_BATCH = 64
STALE = "the wiki changed since your last fetch: fetch, then rebase or merge, and push again"
Progress = Callable[[str], None]


class PushedObjects(ObjectSource, Protocol):
    """The pushed objects, and the served ones behind them (the quarantine's view)."""

    def __getitem__(self, sha: bytes) -> ShaFile:
        """The object, parsed; KeyError when missing."""


class PushRefused(GitAccessError):
    """The push breaks a rule; the message names the path (or commit) and the rule."""


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


def summary_of(commit: Commit) -> str:
    """The edit summary: the commit message's first line."""
    text = commit.message.decode("utf-8", errors="replace").strip()
    return text.splitlines()[0].strip() if text else ""


class Receiver:
    """Applies pushes to one site's wiki."""

    def __init__(self, site: Site, repository: WikiRepository) -> None:
        self.site = site
        self.repository = repository
        self.history = repository.history
        self.ref = repository.head()

    # ------------------------------------------------------------------ entry point
    def receive(self, account: Account, old: bytes, new: bytes, ref: bytes, objects: PushedObjects,
                address: str = "", progress: Progress = lambda _m: None) -> None:
        """Apply one ref update, or raise :class:`PushRefused` having written nothing."""
        self._check_ref(old, new, ref)
        self.repository.refresh()
        head = self.repository.refs().get(self.ref)
        if old != (head or ZERO):
            raise PushRefused(STALE)
        chain, side = self._commits(new, head, objects)
        progress(f"checking {len(chain)} commits")
        diffs = self._check_objects(chain + side, objects)
        editor = Editor(account.name, account.user_id, account.groups, ip=address)
        rights = Rights(account.groups, account.grants)
        self.history.ensure_journal_row()
        # Taken before the journal is locked: a refresh holds the cache's lock while it waits to
        # journal, so a push waiting for the cache with the journal locked would deadlock with it.
        state = self._state(head)
        with self.site.db.write() as conn:
            made = self._apply(conn, chain, side, head, state, objects, diffs, editor, rights, progress)
        self.repository.store(made, state, head)
        self.repository.refresh()
        progress(f"applied {len(chain)} commits to the wiki")

    def _check_ref(self, old: bytes, new: bytes, ref: bytes) -> None:
        if ref != self.ref:
            raise PushRefused(f"only {self.ref.decode()} can be pushed to the wiki, not {ref.decode()}")
        if new == ZERO:
            raise PushRefused(f"{self.ref.decode()} cannot be deleted")

    def _commits(self, new: bytes, head: bytes | None, objects: PushedObjects
                 ) -> tuple[list[Commit], list[Commit]]:
        """The first-parent chain from the head to the pushed commit, and the side branches' commits."""
        chain: list[Commit] = []
        checked = 0

        def refuse_known() -> None:
            # A commit the history has, other than the head, means no fast-forward: asked
            # for a batch at a time, walking at most a batch into the served history.
            nonlocal checked
            if self.repository.any_known([commit.id for commit in chain[checked:]]):
                raise PushRefused(f"not a fast-forward of {self.ref.decode()}: {STALE}")
            checked = len(chain)

        sha = new
        while sha != head:
            if len(chain) - checked >= KNOWN_BATCH:
                refuse_known()
            commit = objects[sha]
            if not isinstance(commit, Commit):
                raise PushRefused(f"{sha.decode()} is not a commit")
            chain.append(commit)
            if not commit.parents:
                if head is not None:
                    refuse_known()
                    raise PushRefused(f"the pushed history does not contain the wiki's: {STALE}")
                break
            sha = commit.parents[0]
        refuse_known()
        chain.reverse()
        known = {c.id for c in chain}
        side: list[Commit] = []
        pending = [p for c in chain for p in c.parents[1:]]
        while pending:
            sha = pending.pop()
            if sha in known or sha == head or self.repository.position(sha) is not None:
                continue
            known.add(sha)
            commit = objects[sha]
            if not isinstance(commit, Commit):
                raise PushRefused(f"{sha.decode()} is not a commit")
            side.append(commit)
            pending.extend(commit.parents)
        return chain, side

    # ------------------------------------------------------------------ objects
    def _check_objects(self, commits: list[Commit], objects: PushedObjects) -> dict[bytes, list[Change]]:
        """Every path a pushed commit adds or changes is safe: plain files, portable names.

        Each commit is compared with its first parent, whose tree is the served
        history's or was checked the same way, so a commit costs what it
        changed. Returns each commit's changes, which applying it needs again.
        """
        checked: set[tuple[str, int | None]] = set()
        diffs: dict[bytes, list[Change]] = {}
        for commit in commits:
            parent = objects[commit.parents[0]].tree if commit.parents else None
            diffs[commit.id] = changes = list(_diff(parent, commit.tree, objects))
            where = summary_of(commit)
            for path, _old, new, mode in changes:
                if new is None or mode is None or (path, mode) in checked:
                    continue
                checked.add((path, mode))
                if stat.S_ISLNK(mode):
                    raise PushRefused(f"{path}: symbolic links cannot be pushed to the wiki ({where})")
                if mode == GITLINK_MODE:
                    raise PushRefused(f"{path}: submodules cannot be pushed to the wiki ({where})")
                if mode & 0o111:
                    raise PushRefused(f"{path}: executable files cannot be pushed to the wiki "
                                      f"(git update-index --chmod=-x {path}) ({where})")
                if mode != BLOB_MODE:
                    raise PushRefused(f"{path}: unusual file mode {mode:o}; pages are plain 100644 files ({where})")
                if not unicodedata.is_normalized("NFC", path):
                    raise PushRefused(f"{path}: the name is not in Unicode NFC form (as macOS may write it): "
                                      f"name it {unicodedata.normalize('NFC', path)} ({where})")
                problem = path_problem(path)
                if problem:
                    raise PushRefused(f"{path}: {problem} ({where})")
        return diffs

    # ------------------------------------------------------------------ applying
    def _apply(self, conn: Connection, chain: list[Commit], side: list[Commit], head: bytes | None,
               state: WikiState, objects: PushedObjects, diffs: dict[bytes, list[Change]], editor: Editor,
               rights: Rights, progress: Progress) -> list[NewCommit]:
        """Make the chain's changes in the wiki and journal its commits; returns the commits with
        the objects they introduced. ``state``, the wiki state at ``head``, becomes the state
        after them (what the cache then holds)."""
        history = self.history
        marks = history.marks(conn, lock=True)  # the caller made sure the journal row exists
        if history.head(conn) != head:
            raise PushRefused(STALE)
        rev_mark, log_mark = events.high_water_marks(self.site.db, conn)
        if rev_mark > marks.rev or log_mark > marks.log:
            raise PushRefused(STALE)  # wiki activity the journal has not caught up with
        layout_id = history.current_layout(conn)
        layout = history.layout(conn, layout_id)
        gittree = GitTree(layout)
        writer = WikiWriter(self.site.db, conn, titles=self.site.titles,
                            upload_directory=self.site.config.upload_directory)
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
        previous = objects[head].tree if head else None
        clash_checked: set[tuple[str, bytes]] = set()
        created_revs: set[int] = set()
        created_logs: set[int] = set()
        made: list[NewCommit] = []
        for number, commit in enumerate(chain, 1):
            where = f"commit {commit.id.decode()[:12]} ({summary_of(commit)[:60]})"
            progress(f"applying commit {number}/{len(chain)}")
            changed = diffs[commit.id]
            found = None
            if previous is not None and all(change.path != ALIASES_FILE for change in changed):
                found = self._changed_pages(gittree, registry, commit.tree, objects, where, (pages, paths),
                                            changed, clash_checked)
            if found is None:
                registry, after = self._pages(gittree, registry, commit, objects, where)
                touched = [*pages, *(t for t in after if t not in pages)]
                before, pages = pages, after
                paths = {page.path: title for title, page in after.items()}
            else:
                removed, added, touched = found
                before = {title: pages[title] for title in touched if title in pages}
                for title in removed:
                    del paths[pages.pop(title).path]
                pages.update(added)
                paths.update((page.path, title) for title, page in added.items())
                after = {title: pages[title] for title in touched if title in pages}
            previous = commit.tree
            changes = _changes(before, after, touched)
            first_log = marks.log if number == 1 else max(created_logs, default=marks.log)
            made_revs, made_logs = len(writer.made_revisions), len(writer.made_logs)
            self._write(writer, changes, before, after, objects, editor, rights, summary_of(commit), where)
            # Only this push's own rows: another writer's, committed meanwhile, are not this commit's.
            unit = Unit(
                revisions=events.revisions_with_ids(self.site.db, conn, writer.made_revisions[made_revs:]),
                logs=events.logs_with_ids(self.site.db, conn, writer.made_logs[made_logs:]),
            )
            last_rev = max(writer.made_revisions, default=marks.rev)
            created_revs.update(r.rev_id for r in unit.revisions)
            created_logs.update(e.log_id for e in unit.logs)
            builder = Builder(self.site, history.texts, conn, state, Marks(last_rev, first_log), layout)
            builder.apply(unit)
            state.aliases = list(registry)
            tree, new_aliases = builder.tree()
            if tree.encode("ascii") != commit.tree or new_aliases:
                raise PushRefused(f"{where}: the wiki would show this commit's tree differently "
                                  f"({_difference(commit.tree, tree.encode('ascii'), objects, builder)}); "
                                  "fetch to see how the wiki names these pages")
            # The aliases change only where the whole tree was read (Aliases.xml among the changes).
            builder.objects += history.append_pushed(conn, commit, unit, Marks(last_rev, first_log), layout_id,
                                                     list(registry) if found is None or number == 1 else None,
                                                     side if number == len(chain) else [], objects)
            made.append(builder.commit(commit))
        new_marks = Marks(*events.high_water_marks(self.site.db, conn), marks.rev_gaps, marks.log_gaps)
        history.save_marks(conn, new_marks, created=(created_revs, created_logs), previous=marks)
        return made

    def _state(self, head: bytes | None) -> WikiState:
        """The wiki state at the served head, to apply the push to."""
        try:
            return self.repository.take_state(head)
        except StaleCache:
            raise PushRefused(STALE) from None

    def _pages(self, gittree: GitTree, registry: AliasRegistry, commit: Commit, objects: PushedObjects,
               where: str) -> tuple[AliasRegistry, dict[Title, Page]]:
        """The pages a commit's tree stands for, checked: paths, Aliases.xml, texts, pairs."""
        files = {path: sha for path, _mode, sha in _walk(commit.tree, objects)}
        if ALIASES_FILE in files:
            try:
                registry = AliasRegistry.from_xml(objects[files.pop(ALIASES_FILE)].as_raw_string(),
                                                  gittree.layout)
            except AliasesError as exc:
                raise PushRefused(f"{ALIASES_FILE}: {exc} ({where})") from None
        else:
            registry = AliasRegistry()
        try:
            resolved = gittree.paths_to_titles(files, registry)
        except PathError as exc:
            raise PushRefused(f"{exc} ({where})") from None
        pages: dict[Title, Page] = {}
        for path, (title, model) in resolved.items():
            title = Title(title.namespace, title.dbkey)
            pages[title] = Page(files[path].decode("ascii"), model, path)
            data = objects[files[path]].as_raw_string()
            if title.namespace == MEDIA:
                self._check_upload(path, title.dbkey, data, where)
            else:
                self._check_text(path, data, model, where)
        for title in pages:
            pair = Title(MEDIA if title.namespace == FILE else FILE, title.dbkey)
            if title.namespace in (FILE, MEDIA) and pair not in pages:
                missing = "Media file" if title.namespace == FILE else "File page"
                raise PushRefused(f"{pages[title].path}: its {missing} ({pair.dbkey}) is missing; a File page "
                                  f"and its Media file come and go together ({where})")
        return registry, pages

    def _changed_pages(self, gittree: GitTree, registry: AliasRegistry, tree: bytes,
                       objects: PushedObjects, where: str,
                       current: tuple[dict[Title, Page], dict[str, Title]],
                       changed: list[Change],
                       clash_checked: set[tuple[str, bytes]],
                       ) -> tuple[list[Title], dict[Title, Page], list[Title]] | None:
        """What a commit that changed only ``changed`` (Aliases.xml untouched) does to the
        ``current`` pages (and their paths): (titles removed, pages added, every title touched),
        checking only what changed.

        None when the commit breaks a rule that involves other pages too (two
        files for one page, clashing names, a lone File page or Media file, a
        path that is not a page's): :meth:`_pages` then checks the whole tree
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
            data = objects[new].as_raw_string()
            if title.namespace == MEDIA:
                self._check_upload(path, title.dbkey, data, where)
            else:
                self._check_text(path, data, model, where)
            added[title] = Page(new.decode("ascii"), model, path)
            creates |= old is None
        if creates and _names_clash(tree, objects, clash_checked):
            return None
        touched = list(dict.fromkeys([*removed, *added]))
        for title in touched:
            if title.namespace in (FILE, MEDIA):
                pair = Title(MEDIA if title.namespace == FILE else FILE, title.dbkey)
                if _present(title, pages, removed, added) != _present(pair, pages, removed, added):
                    return None
        return list(removed), added, touched

    def _check_upload(self, path: str, name: str, data: bytes, where: str) -> None:
        """$wgFileExtensions and $wgMaxUploadSize, as the configuration sets them."""
        config = self.site.config
        extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
        if extension not in config.upload_extensions:
            raise PushRefused(f"{path}: files of type {extension or '(none)'!r} cannot be uploaded to this wiki "
                              f"(allowed: {', '.join(config.upload_extensions)}) ({where})")
        if len(data) > config.max_upload_size:
            raise PushRefused(f"{path}: {len(data)} bytes, more than the wiki's maximum upload size of "
                              f"{config.max_upload_size} bytes ({where})")

    def _check_text(self, path: str, data: bytes, model: str | None, where: str) -> None:
        limit = self.site.config.max_page_size
        if len(data) > limit:
            raise PushRefused(f"{path}: {len(data)} bytes, more than the wiki's maximum page size of "
                              f"{limit} bytes ({where})")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PushRefused(f"{path}: not UTF-8 text (byte {exc.start}); wiki pages are UTF-8 ({where})") from None
        if "\r" in text:
            raise PushRefused(f"{path}: contains carriage returns (CRLF line endings); set core.autocrlf=input "
                              f"(or false), renormalise and commit again ({where})")
        if model == "json":
            try:
                json.loads(text)
            except ValueError as exc:
                raise PushRefused(f"{path}: invalid JSON ({exc}) ({where})") from None

    def _write(self, writer: WikiWriter, changes: Changes, before: dict[Title, Page], after: dict[Title, Page],
               objects: PushedObjects, editor: Editor, rights: Rights, summary: str, where: str) -> None:
        """Make one commit's changes in the wiki, checking MediaWiki's permissions as it goes."""
        def text(title: Title) -> str:
            return objects[after[title].blob.encode("ascii")].as_raw_string().decode("utf-8")

        def check(allowed: bool, title: Title, what: str) -> None:
            if not allowed:
                page = after.get(title) or before.get(title)
                raise PushRefused(f"{page.path if page else _text(writer, title)}: you may not {what} ({where})")

        try:
            for title in changes.deletes:
                check("delete" in rights, title, "delete pages")
                writer.delete(title.namespace, title.dbkey, editor=editor, reason=summary)
            for old, new in changes.moves:
                check("move" in rights, new, "move pages")
                check("suppressredirect" in rights, new, "move pages without leaving a redirect")
                self._protected(writer, rights, old, "move", after[new].path, where)
                writer.move(old.namespace, old.dbkey, new.namespace, new.dbkey, editor=editor, reason=summary,
                            redirect=False)
            for title in changes.model_changes:
                check("editcontentmodel" in rights, title, "change content models")
                self._may_edit(writer, rights, editor, title, after[title], creating=False, where=where)
                writer.change_content_model(title.namespace, title.dbkey, after[title].model or "wikitext",
                                            editor=editor, summary=summary, text=text(title))
            for title in changes.edits:
                self._may_edit(writer, rights, editor, title, after[title], creating=False, where=where)
                writer.save(title.namespace, title.dbkey, text(title), editor=editor, summary=summary)
            for title in changes.creates:
                self._may_edit(writer, rights, editor, title, after[title], creating=True, where=where)
                writer.save(title.namespace, title.dbkey, text(title), editor=editor, summary=summary,
                            model=after[title].model, base_rev_id=0)
            for name in changes.uploads:
                check("upload" in rights, Title(MEDIA, name), "upload files")
                data = objects[after[Title(MEDIA, name)].blob.encode("ascii")].as_raw_string()
                writer.upload(name, data, editor=editor, comment=summary, page_text=text(Title(FILE, name)))
        except (EditConflict, PageExists, PageMissing) as exc:
            raise PushRefused(f"{exc}: {STALE}") from None

    def _may_edit(self, writer: WikiWriter, rights: Rights, editor: Editor, title: Title, page: Page, *,
                  creating: bool, where: str) -> None:
        problem = rights.edit_problem(title, page.model or "wikitext", editor.name, creating=creating)
        if problem:
            raise PushRefused(f"{page.path}: {problem} ({where})")
        self._protected(writer, rights, title, "edit", page.path, where)

    def _protected(self, writer: WikiWriter, rights: Rights, title: Title, action: str, path: str,
                   where: str) -> None:
        existing = writer.page(title.namespace, title.dbkey)
        if existing is not None:
            problem = protection_problem(rights, protection_levels(writer.db, writer.conn, existing.id), action)
            if problem:
                raise PushRefused(f"{path}: {problem} ({where})")


def _present(title: Title, pages: dict[Title, Page], removed: dict[Title, str], added: dict[Title, Page]) -> bool:
    """Whether a commit's tree has ``title``: added by it, or there before and not removed."""
    return title in added or title in pages and title not in removed


def _text(writer: WikiWriter, title: Title) -> str:
    return writer.titles.full_text(title)


def _walk(tree_id: bytes, objects: PushedObjects, prefix: str = "") -> Iterator[tuple[str, int, bytes]]:
    """(path, mode, sha) of every file under a tree."""
    for name, mode, sha in _parsed(tree_id, objects, prefix).entries:
        path = prefix + name.decode("utf-8", errors="surrogateescape")
        if stat.S_ISDIR(mode):
            yield from _walk(sha, objects, path + "/")
        else:
            yield path, mode, sha


def _parsed(tree_id: bytes, objects: PushedObjects, prefix: str) -> ParsedTree:
    """A tree read whole. The quarantine checked pushed trees against git's rules; a commit's
    diff reads its parent's trees again, so the last few read are kept (by id, which fixes
    their contents), per thread."""
    recent = _recent_trees()
    return recent.get(tree_id) or recent.put(parse(_tree_data(tree_id, objects, prefix)), tree_id)


def _reread(tree_id: bytes, objects: PushedObjects, prefix: str, previous: ParsedTree) -> Reread:
    """A tree read from its previous version (the same directory in the parent commit): the
    bytes where they differ are parsed, not the thousands of entries they share."""
    recent = _recent_trees()
    found = recent.get(tree_id)
    reread = reparse(previous, found.data if found else _tree_data(tree_id, objects, prefix))
    recent.put(reread.tree, tree_id)
    return reread


def _tree_data(tree_id: bytes, objects: PushedObjects, prefix: str) -> bytes:
    type_num, data = objects.get_raw(tree_id)
    if type_num != Tree.type_num:
        raise PushRefused(f"{prefix or 'the root'}: {tree_id.decode()} is not a tree")
    return data


def _recent_trees() -> RecentTrees:
    """This thread's trees read last."""
    recent: RecentTrees | None = getattr(_thread, "trees", None)
    if recent is None:
        recent = _thread.trees = RecentTrees()
    return recent


_thread = threading.local()


def _names_clash(tree_id: bytes, objects: PushedObjects, checked: set[tuple[str, bytes]],
                 prefix: str = "") -> bool:
    """Do two names of one directory (or a name and the root's Aliases.xml) become one on a
    case-insensitive system? Directories in ``checked`` are known not to, and skipped."""
    if (prefix, tree_id) in checked:
        return False
    held: dict[str, tuple[bytes, bool]] = {} if prefix else {_collision_key(ALIASES_FILE.encode()):
                                                             (ALIASES_FILE.encode(), False)}
    for name, mode, sha in _parsed(tree_id, objects, prefix).entries:
        is_directory = stat.S_ISDIR(mode)
        key = _collision_key(name)
        if held.setdefault(key, (name, is_directory)) != (name, is_directory):
            return True
        if is_directory and _names_clash(sha, objects, checked,
                                         f"{prefix}{name.decode('utf-8', errors='surrogateescape')}/"):
            return True
    checked.add((prefix, tree_id))
    return False


@lru_cache(maxsize=1 << 16)
def _collision_key(name: bytes) -> str:
    """A name's key on case-insensitive systems (names recur from commit to commit)."""
    return collision_key(name.decode("utf-8", errors="surrogateescape"))


class Change(NamedTuple):
    """A file that differs between two trees: its blob before and after (None: absent), and its
    mode after."""

    path: str
    old: bytes | None
    new: bytes | None
    mode: int | None


def _diff(old: bytes | None, new: bytes | None, objects: PushedObjects, prefix: str = "") -> Iterator[Change]:
    """Each file that differs between two trees, in path order.

    Subtrees with one id are skipped, and a changed directory is read from
    its previous version (:func:`_reread`), so this costs the directories
    that changed and, within them, the entries that changed.
    """
    if old and new:
        previous = _parsed(old, objects, prefix)
        reread = _reread(new, objects, prefix, previous)
        before, after = set(previous.entries[reread.first:reread.end]), set(reread.middle)
    else:
        before = set(_parsed(old, objects, prefix).entries) if old else set()
        after = set(_parsed(new, objects, prefix).entries) if new else set()
    was = {name: (mode, sha) for name, mode, sha in before - after}
    now = {name: (mode, sha) for name, mode, sha in after - before}
    for raw in sorted(was.keys() | now.keys()):
        name = raw.decode("utf-8", errors="surrogateescape")
        gone, came = was.get(raw), now.get(raw)
        was_tree = gone is not None and stat.S_ISDIR(gone[0])
        now_tree = came is not None and stat.S_ISDIR(came[0])
        if was_tree or now_tree:
            yield from _diff(gone[1] if was_tree else None, came[1] if now_tree else None, objects,
                             f"{prefix}{name}/")
        old_file = None if was_tree or gone is None else gone[1]
        new_file = None if now_tree or came is None else came
        if old_file is not None or new_file is not None:
            yield Change(f"{prefix}{name}", old_file, new_file[1] if new_file else None,
                         new_file[0] if new_file else None)


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


def _difference(pushed: bytes, rebuilt: bytes, objects: PushedObjects, builder: Builder) -> str:
    """A short account of where the pushed and the rebuilt trees differ."""
    pushed_files = {path: sha for path, _m, sha in _walk(pushed, objects)}
    rebuilt_files = {path: sha for path, _m, sha in _walk(rebuilt, _Objects(objects, builder.objects))}
    only_pushed = sorted(set(pushed_files) - set(rebuilt_files))
    only_wiki = sorted(set(rebuilt_files) - set(pushed_files))
    changed = sorted(p for p in set(pushed_files) & set(rebuilt_files) if pushed_files[p] != rebuilt_files[p])
    parts = []
    if only_pushed:
        parts.append(f"the wiki has no {', '.join(only_pushed[:3])}")
    if only_wiki:
        parts.append(f"the wiki would add {', '.join(only_wiki[:3])}")
    if changed:
        parts.append(f"the wiki would change {', '.join(changed[:3])}")
    return "; ".join(parts) or "the trees differ"


class _Objects(dict):  # type: ignore[type-arg]
    """Pushed objects plus those the rebuild made."""

    def __init__(self, pushed: PushedObjects, made: list[ShaFile | TreeObject]) -> None:
        super().__init__({obj.id: ShaFile.from_raw_string(obj.type_num, obj.as_raw_string(), obj.id) for obj in made})
        self.pushed = pushed

    def __missing__(self, sha: bytes) -> ShaFile:
        return self.pushed[sha]

    def get_raw(self, sha: bytes) -> tuple[int, bytes]:
        obj = self[sha]
        return obj.type_num, obj.as_raw_string()

