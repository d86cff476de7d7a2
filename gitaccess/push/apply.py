"""Applying a planned push: its wiki changes made and its commits journaled, in one transaction.

Each commit's operations (:class:`~gitaccess.push.plan.Changes`) are made
as the pusher, checking MediaWiki's permissions and protections as they go;
the journal (:meth:`gitaccess.journal.history.History.journal_push`) then
rebuilds the commit's tree from the wiki's rows, which must equal the pushed
tree, and appends the commit byte for byte.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from dulwich.objects import Commit, ShaFile

from gitaccess.auth.permissions import Rights, config_page_rights, protection_levels, protection_problem
from gitaccess.errors import EditConflict, PageExists, PageMissing
from gitaccess.journal.history import History, PushedCommit, PushedTreeDiffers, StaleCache
from gitaccess.journal.state import NewCommit, WikiState
from gitaccess.objects.trees import TreeObject
from gitaccess.push.errors import STALE, PushRefused
from gitaccess.push.plan import CommitPlan, Page
from gitaccess.push.rules import summary_of
from gitaccess.push.trees import PushedObjects, PushedTrees
from gitaccess.site import Site
from gitaccess.titles.codec import Title
from gitaccess.titles.contentmodels import default_model, namespace_models
from gitaccess.titles.namespaces import FILE, MEDIA
from gitaccess.wiki.writer import Editor, WikiWriter

if TYPE_CHECKING:
    from sqlalchemy import Connection

#: Told what the push is doing, for the client's progress lines.
Say = Callable[[str], None]


def apply_push(site: Site, history: History, conn: Connection, head: bytes | None, state: WikiState,
               plans: list[CommitPlan], side: list[Commit], objects: PushedObjects, editor: Editor,
               rights: Rights, progress: Say) -> list[NewCommit]:
    """Make the planned commits' changes in the wiki and journal them, in ``conn``'s transaction.

    ``state``, the wiki state at the served ``head``, becomes the state after
    them (what the cache then holds). Returns the commits with the objects
    they introduced. Raises :class:`PushRefused` when the wiki moved on,
    the pusher may not make a change, or the wiki would show a commit
    differently; the caller's transaction must then roll back.
    """
    writer = WikiWriter(site.db, conn, titles=site.titles, upload_directory=site.config.upload_directory)
    by_namespace = namespace_models(site.config)

    def pushed(number: int, plan: CommitPlan) -> PushedCommit:
        def write() -> tuple[list[int], list[int]]:
            progress(f"applying commit {number}/{len(plans)}")
            made_revs, made_logs = len(writer.made_revisions), len(writer.made_logs)
            _write(writer, plan, objects, editor, rights, by_namespace)
            return writer.made_revisions[made_revs:], writer.made_logs[made_logs:]
        return PushedCommit(plan.commit, plan.aliases, plan.sets_aliases, write)

    try:
        return history.journal_push(conn, head, state, [pushed(n, plan) for n, plan in enumerate(plans, 1)],
                                    side, objects)
    except StaleCache:
        raise PushRefused(STALE) from None
    except PushedTreeDiffers as differs:
        where = next(plan.where for plan in plans if plan.commit.id == differs.commit.id)
        raise PushRefused(f"{where}: the wiki would show this commit's tree differently "
                          f"({_difference(differs, objects)}); fetch to see how the wiki names these pages"
                          ) from None


def _write(writer: WikiWriter, plan: CommitPlan, objects: PushedObjects, editor: Editor, rights: Rights,
           by_namespace: dict[int, str]) -> None:
    """Make one commit's changes in the wiki, checking MediaWiki's permissions as it goes;
    ``by_namespace`` gives a new page's default content model."""
    changes, before, after, where = plan.changes, plan.before, plan.after, plan.where
    summary = summary_of(plan.commit)

    def text(title: Title) -> str:
        return objects[after[title].blob.encode("ascii")].as_raw_string().decode("utf-8")

    def check(allowed: bool, title: Title, what: str) -> None:
        if not allowed:
            page = after.get(title) or before.get(title)
            raise PushRefused(f"{page.path if page else writer.titles.full_text(title)}: you may not {what} "
                              f"({where})")

    try:
        for title in changes.deletes:
            check("delete" in rights, title, "delete pages")
            writer.delete(title.namespace, title.dbkey, editor=editor, reason=summary)
        for old, new in changes.moves:
            check("move" in rights, new, "move pages")
            check("suppressredirect" in rights, new, "move pages without leaving a redirect")
            _may_move(writer, rights, editor, old, new, by_namespace, after[new].path, where)
            writer.move(old.namespace, old.dbkey, new.namespace, new.dbkey, editor=editor, reason=summary,
                        redirect=False)
        for title in changes.model_changes:
            _may_edit(writer, rights, editor, title, after[title], by_namespace, where=where)
            writer.change_content_model(title.namespace, title.dbkey, after[title].model or "wikitext",
                                        editor=editor, summary=summary, text=text(title))
        for title in changes.edits:
            _may_edit(writer, rights, editor, title, after[title], by_namespace, where=where)
            writer.save(title.namespace, title.dbkey, text(title), editor=editor, summary=summary)
        for title in changes.creates:
            _may_edit(writer, rights, editor, title, after[title], by_namespace, where=where)
            writer.save(title.namespace, title.dbkey, text(title), editor=editor, summary=summary,
                        model=after[title].model, base_rev_id=0)
        for name in changes.uploads:
            check("upload" in rights, Title(MEDIA, name), "upload files")
            data = objects[after[Title(MEDIA, name)].blob.encode("ascii")].as_raw_string()
            writer.upload(name, data, editor=editor, comment=summary, page_text=text(Title(FILE, name)))
    except (EditConflict, PageExists, PageMissing) as exc:
        raise PushRefused(f"{exc}: {STALE}") from None


def _may_edit(writer: WikiWriter, rights: Rights, editor: Editor, title: Title, page: Page,
              by_namespace: dict[int, str], *, where: str) -> None:
    """Refuse an edit, creation or content-model change the account may not make: the page is
    judged under the model it has (a new page: its title's default) and the one pushed."""
    existing = writer.page(title.namespace, title.dbkey)
    model = existing.model if existing else default_model(title, by_namespace)
    problem = rights.edit_problem(title, model, page.model or "wikitext", editor.name, creating=existing is None)
    if problem:
        raise PushRefused(f"{page.path}: {problem} ({where})")
    _protected(writer, rights, title, "edit", page.path, where)


def _may_move(writer: WikiWriter, rights: Rights, editor: Editor, old: Title, new: Title,
              by_namespace: dict[int, str], path: str, where: str) -> None:
    """Refuse a move MovePage would refuse: the page moved is protected against moves, or either
    title is a CSS/JS/JSON page the account may not change (the page under its model, the
    target, which does not exist yet, under its title's default)."""
    existing = writer.page(old.namespace, old.dbkey)
    model = existing.model if existing else default_model(old, by_namespace)
    for title, title_model in ((old, model), (new, default_model(new, by_namespace))):
        missing = rights.missing(config_page_rights(title, title_model, editor.name))
        if missing:
            raise PushRefused(f"{path}: you may not move {writer.titles.full_text(old)} to "
                              f"{writer.titles.full_text(new)}: you lack the right {missing!r} ({where})")
    _protected(writer, rights, old, "move", path, where)


def _protected(writer: WikiWriter, rights: Rights, title: Title, action: str, path: str, where: str) -> None:
    existing = writer.page(title.namespace, title.dbkey)
    if existing is not None:
        problem = protection_problem(rights, protection_levels(writer.db, writer.conn, existing.id), action)
        if problem:
            raise PushRefused(f"{path}: {problem} ({where})")


def _difference(differs: PushedTreeDiffers, objects: PushedObjects) -> str:
    """A short account of where the pushed and the rebuilt trees differ."""
    pushed_files = {path: sha for path, _m, sha in PushedTrees(objects).walk(differs.commit.tree)}
    rebuilt_files = {path: sha for path, _m, sha in
                     PushedTrees(_Objects(objects, differs.objects)).walk(differs.tree)}
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
