"""Wiki changes made the way MediaWiki 1.39 makes them: save, delete, undelete, move, upload.

Every change gitaccess makes must look to MediaWiki like one of its own. An
action here decides which rows a change needs and in which order, as
MediaWiki's own action classes (PageUpdater, DeletePage, UndeletePage,
MovePage, ContentModelChange, LocalFile) do; the rows themselves are written
by :class:`gitaccess.wiki.rows.WikiRows` and, for files, by
:mod:`gitaccess.wiki.uploads` (docs/reference/mediawiki-1.39-action-rows.txt
records the rows of each action). Tables MediaWiki derives by parsing
(links, categories, search index) are left to MediaWiki: a refreshLinks job
is queued for each page touched.

A :class:`WikiWriter` works inside a transaction its caller owns, so a push
of many commits, or a whole dump import, commits or rolls back as one; after
any exception the caller must roll back, as the rows written so far are
half a change.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Select, Update, bindparam, insert, select, update

from gitaccess.errors import EditConflict, PageExists, PageMissing, UserExists, WikiWriteError
from gitaccess.titles.codec import Title, TitleCodec
from gitaccess.titles.namespaces import FILE, Namespaces
from gitaccess.wiki import uploads
from gitaccess.wiki.content import sha1_base36
from gitaccess.wiki.database import WikiDatabase
from gitaccess.wiki.reader import PageInfo, page_by_title, revision_text
from gitaccess.wiki.rows import RC_EDIT, RC_NEW, TAG, Editor, WikiRows, is_countable
from gitaccess.wiki.schema import Tables
from gitaccess.wiki.types import wiki_timestamp

__all__ = ["TAG", "Editor", "SavedRevision", "WikiWriter", "model_label"]


@dataclass(frozen=True)
class SavedRevision:
    """What a save produced; ``rev_id`` is None for a null edit (nothing changed)."""

    page_id: int
    rev_id: int | None
    created: bool


#: MediaWiki's English content-model-* messages, as content model change summaries show them.
MODEL_LABELS = {
    "wikitext": "wikitext", "javascript": "JavaScript", "css": "CSS", "json": "JSON", "text": "plain text",
    "Scribunto": "Scribunto module", "sanitized-css": "Sanitized CSS",
}


def model_label(model: str) -> str:
    return MODEL_LABELS.get(model, model)


class WikiWriter:
    """Makes wiki changes on a connection whose transaction the caller owns.

    The actions raise :class:`~gitaccess.errors.WikiWriteError` subclasses for
    what the wiki refuses (EditConflict, PageExists, PageMissing, UserExists,
    no upload directory); database and file errors pass through. Either way
    the caller rolls back.
    """

    def __init__(
        self,
        db: WikiDatabase,
        conn: Connection,
        *,
        titles: TitleCodec | None = None,
        content_namespaces: frozenset[int] = frozenset({0}),
        upload_directory: Path | None = None,
    ) -> None:
        self.db = db
        self.t = db.tables
        self.conn = conn
        # Title rules, for redirect targets and titles in log parameters.
        self.titles = titles or TitleCodec(Namespaces.standard())
        self.content_namespaces = content_namespaces
        self.upload_directory = upload_directory
        #: The row level underneath the actions; the dump importer writes a dump's own revisions through it.
        self.rows = WikiRows(db, conn, self.titles)

    @property
    def made_revisions(self) -> list[int]:
        """Revision ids this writer made, in order (what a push journals as its own)."""
        return self.rows.made_revisions

    @property
    def made_logs(self) -> list[int]:
        """Log ids this writer made, in order."""
        return self.rows.made_logs

    # ------------------------------------------------------------------ reading
    def page(self, namespace: int, dbkey: str, *, lock: bool = False) -> PageInfo | None:
        return page_by_title(self.db, self.conn, namespace, dbkey, lock=lock)

    def require_page(self, namespace: int, dbkey: str) -> PageInfo:
        """The page, locked for the change; raises PageMissing if there is none."""
        page = self.page(namespace, dbkey, lock=True)
        if page is None:
            raise PageMissing(f"{dbkey} (namespace {namespace}) does not exist")
        return page

    def require_free(self, namespace: int, dbkey: str) -> None:
        """Raises PageExists if the title is taken."""
        if self.page(namespace, dbkey) is not None:
            raise PageExists(f"{dbkey} (namespace {namespace}) already exists")

    def current_text(self, page: PageInfo) -> str:
        return revision_text(self.db, self.conn, page.latest)

    def _latest_sha1(self, page: PageInfo) -> str:
        return self.conn.execute(self.db.prepared(_revision_sha1), {"rev": page.latest}).scalar() or ""

    def _content_model_of(self, rev_id: int) -> str:
        t = self.t
        model = self.conn.execute(
            select(t.content_models.c.model_name)
            .select_from(t.slots)
            .join(t.content, t.content.c.content_id == t.slots.c.slot_content_id)
            .join(t.content_models, t.content_models.c.model_id == t.content.c.content_model)
            .where(t.slots.c.slot_revision_id == rev_id, t.slots.c.slot_role_id == self.rows.role_id())
        ).scalar()
        return model or "wikitext"

    def countable(self, namespace: int, text: str, model: str) -> bool:
        """Whether the page counts as an article in site_stats (see rows.is_countable)."""
        return is_countable(namespace, text, model, self.content_namespaces)

    def _prefixed(self, namespace: int, dbkey: str) -> str:
        """Title text with its local namespace prefix, as the move log and redirects write it."""
        return self.titles.full_text(Title(namespace, dbkey), canonical=False)

    def _uploads(self) -> Path:
        if self.upload_directory is None:
            raise WikiWriteError("no upload directory is configured: set [wiki] upload_directory")
        return self.upload_directory

    # ------------------------------------------------------------------ edits
    def save(
        self,
        namespace: int,
        dbkey: str,
        text: str,
        *,
        editor: Editor,
        summary: str,
        model: str | None = None,
        minor: bool = False,
        base_rev_id: int | None = None,
        timestamp: str | None = None,
    ) -> SavedRevision:
        """Create or edit a page.

        ``base_rev_id`` is the revision the new text was made from: 0 means
        "the page must not exist yet", None skips the check. A page that
        moved on since raises :class:`EditConflict`; an unchanged text is a
        null edit and writes nothing, as in MediaWiki.
        """
        ts = timestamp or wiki_timestamp()
        page = self.page(namespace, dbkey, lock=True)
        if base_rev_id is not None:
            current = page.latest if page else 0
            if current != base_rev_id:
                raise EditConflict(
                    f"{dbkey} (namespace {namespace}) is at revision {current}, not {base_rev_id}: "
                    "someone edited it meanwhile"
                )
        if page is None:
            return self.create_page(namespace, dbkey, text, editor=editor, summary=summary,
                                    model=model or "wikitext", minor=minor, timestamp=ts)
        model = model or page.model
        if model == page.model and self._latest_sha1(page) == sha1_base36(text.encode("utf-8")):
            return SavedRevision(page.id, None, False)
        rev_id = self._edit(page, text, editor=editor, summary=summary, model=model, minor=minor, timestamp=ts)
        return SavedRevision(page.id, rev_id, False)

    def _edit(self, page: PageInfo, text: str, *, editor: Editor, summary: str, model: str, minor: bool,
              timestamp: str, tags: tuple[str, ...] = (TAG,)) -> int:
        """A new revision of an existing page with all its bookkeeping; returns its id."""
        was_countable = self.countable(page.namespace, self.current_text(page), page.model)
        actor = self.rows.actor_id(editor)
        comment = self.rows.comment_id(summary)
        content_id, size, sha1 = self.rows.store_content(text, model)
        rev_id = self.rows.insert_revision(
            page_id=page.id, content_id=content_id, size=size, sha1=sha1, actor=actor,
            comment=comment, timestamp=timestamp, minor=minor, parent_id=page.latest,
        )
        is_redirect = self.rows.set_redirect(page.id, text, model)
        self.conn.execute(self.db.prepared(_page_edited), {
            "page": page.id, "touched": timestamp, "latest": rev_id, "length": size,
            "redirect": int(is_redirect), "model": model})
        rc_id = self.rows.recent_change(
            editor, actor, timestamp=timestamp, namespace=page.namespace, title=page.dbkey, comment_id=comment,
            minor=int(minor), cur_id=page.id, this_oldid=rev_id, last_oldid=page.latest,
            type=RC_EDIT, source="mw.edit", old_len=page.length, new_len=size,
        )
        self.rows.tag(rc_id=rc_id, rev_id=rev_id, tags=tags)
        self.rows.count(edits=1, articles=int(self.countable(page.namespace, text, model)) - int(was_countable))
        self.rows.count_user_edit(editor)
        self.rows.queue_refresh_links(page.namespace, page.dbkey, editor, "edit-page", timestamp)
        return rev_id

    def create_page(
        self, namespace: int, dbkey: str, text: str, *, editor: Editor, summary: str,
        model: str, minor: bool, timestamp: str, recent_change: bool = True, creation_log: bool = True,
        tags: tuple[str, ...] = (TAG,),
    ) -> SavedRevision:
        """A new page with its bookkeeping.

        A move's redirect gets neither a recentchanges row nor a creation
        log; an upload's File page gets the creation log but appears in
        recentchanges only through the upload's log entry.
        """
        actor = self.rows.actor_id(editor)
        comment = self.rows.comment_id(summary)
        content_id, size, sha1 = self.rows.store_content(text, model)
        page_id = self.rows.insert_page(namespace, dbkey, touched=timestamp, latest=0, length=size, model=model)
        rev_id = self.rows.insert_revision(
            page_id=page_id, content_id=content_id, size=size, sha1=sha1, actor=actor,
            comment=comment, timestamp=timestamp, minor=minor,
        )
        is_redirect = self.rows.set_redirect(page_id, text, model)
        self.conn.execute(self.db.prepared(_page_created),
                          {"page": page_id, "latest": rev_id, "redirect": int(is_redirect)})
        rc_id = log_id = None
        if recent_change:
            rc_id = self.rows.recent_change(
                editor, actor, timestamp=timestamp, namespace=namespace, title=dbkey, comment_id=comment,
                minor=int(minor), new=1, cur_id=page_id, this_oldid=rev_id, last_oldid=0,
                type=RC_NEW, source="mw.new", old_len=0, new_len=size,
            )
        if creation_log:
            log_id = self.rows.log_event(
                editor, actor, type="create", action="create", namespace=namespace, dbkey=dbkey,
                page_id=page_id, comment=comment, timestamp=timestamp, associated_rev=rev_id, publish=False,
            )
        if recent_change or not creation_log:
            self.rows.tag(rc_id=rc_id, rev_id=rev_id, log_id=log_id, tags=tags)
        self.rows.count_user_edit(editor)
        self.rows.count(edits=1, pages=1, articles=int(self.countable(namespace, text, model)))
        self.rows.queue_refresh_links(namespace, dbkey, editor, "edit-page", timestamp)
        return SavedRevision(page_id, rev_id, True)

    # ------------------------------------------------------------------ deletion
    def delete(self, namespace: int, dbkey: str, *, editor: Editor, reason: str,
               timestamp: str | None = None) -> int:
        """Delete a page as DeletePage does: revisions to the archive, a delete log entry."""
        ts = timestamp or wiki_timestamp()
        page = self.require_page(namespace, dbkey)
        countable = self.countable(namespace, self.current_text(page), page.model)
        actor = self.rows.actor_id(editor)
        comment = self.rows.comment_id(reason)
        self.rows.archive_revisions(page)
        self.rows.forget_page_links(page)
        if namespace == FILE:
            uploads.delete_files(self.rows, self._uploads(), dbkey, user_id=editor.user_id, reason=comment,
                                 timestamp=ts)
        self.conn.execute(self.t.page.delete().where(self.t.page.c.page_id == page.id))
        log_id = self.rows.log_event(editor, actor, type="delete", action="delete", namespace=namespace,
                                     dbkey=dbkey, page_id=page.id, comment=comment, timestamp=ts)
        self.rows.count(edits=1, pages=-1, articles=-int(countable))
        return log_id

    def undelete(self, namespace: int, dbkey: str, *, editor: Editor, reason: str,
                 timestamp: str | None = None) -> int:
        """Restore every archived revision of a title, as UndeletePage does."""
        ts = timestamp or wiki_timestamp()
        self.require_free(namespace, dbkey)
        t = self.t
        ar = t.archive
        archived = self.conn.execute(
            select(ar).where(ar.c.ar_namespace == namespace, ar.c.ar_title == dbkey)
            .order_by(ar.c.ar_timestamp, ar.c.ar_rev_id)
        ).all()
        if not archived:
            raise PageMissing(f"{dbkey} (namespace {namespace}) has no deleted revisions to restore")
        latest = archived[-1]
        wanted = latest.ar_page_id
        free = wanted and self.conn.execute(select(t.page.c.page_id).where(t.page.c.page_id == wanted)).scalar() is None
        model = self._content_model_of(latest.ar_rev_id)
        page_id = self.rows.insert_page(namespace, dbkey, touched=latest.ar_timestamp, latest=latest.ar_rev_id,
                                        length=latest.ar_len, model=model, page_id=wanted if free else None)
        self.rows.restore_revisions(namespace, dbkey, archived, page_id)
        restored_files = uploads.restore_files(self.rows, self._uploads(), dbkey) if namespace == FILE else 0
        restored = PageInfo(page_id, namespace, dbkey, latest.ar_rev_id, latest.ar_len or 0, model, False)
        text = self.current_text(restored)
        is_redirect = self.rows.set_redirect(page_id, text, model)
        self.conn.execute(update(t.page).where(t.page.c.page_id == page_id).values(page_is_redirect=int(is_redirect)))
        actor = self.rows.actor_id(editor)
        log_id = self.rows.log_event(
            editor, actor, type="delete", action="restore", namespace=namespace, dbkey=dbkey, page_id=page_id,
            comment=self.rows.comment_id(reason), timestamp=ts,
            params={":assoc:count": {"revisions": len(archived), "files": restored_files}},
        )
        self.rows.count(edits=1, pages=1, articles=int(self.countable(namespace, text, model)))
        self.rows.queue_refresh_links(namespace, dbkey, editor, "undelete-page", ts)
        return log_id

    # ------------------------------------------------------------------ moves
    def move(self, namespace: int, dbkey: str, new_namespace: int, new_dbkey: str, *, editor: Editor,
             reason: str, redirect: bool, timestamp: str | None = None) -> int:
        """Rename a page as MovePage does: a null revision, a move log entry, optionally a redirect."""
        ts = timestamp or wiki_timestamp()
        page = self.require_page(namespace, dbkey)
        self.require_free(new_namespace, new_dbkey)
        summary = (f"{editor.name} moved page [[{self._prefixed(namespace, dbkey)}]] "
                   f"to [[{self._prefixed(new_namespace, new_dbkey)}]]")
        if not redirect:
            summary += " without leaving a redirect"
        if reason:
            summary += ": " + reason
        actor = self.rows.actor_id(editor)
        comment = self.rows.comment_id(summary)
        null_rev = self.null_revision(page, actor, comment, ts)
        p = self.t.page
        self.conn.execute(update(p).where(p.c.page_id == page.id).values(
            page_namespace=new_namespace, page_title=new_dbkey))
        log_id = self.rows.log_event(
            editor, actor, type="move", action="move", namespace=namespace, dbkey=dbkey, page_id=page.id,
            comment=self.rows.comment_id(reason), timestamp=ts, associated_rev=null_rev,
            params={"4::target": self._prefixed(new_namespace, new_dbkey), "5::noredir": "0" if redirect else "1"},
        )
        text = self.current_text(page)
        self.rows.count(edits=1, articles=int(self.countable(new_namespace, text, page.model))
                        - int(self.countable(namespace, text, page.model)))
        self.rows.count_user_edit(editor)
        if redirect:
            self.create_page(namespace, dbkey, f"#REDIRECT [[{self._prefixed(new_namespace, new_dbkey)}]]",
                             editor=editor, summary=summary, model="wikitext", minor=False, timestamp=ts,
                             recent_change=False, creation_log=False, tags=(TAG, "mw-new-redirect"))
        self.rows.queue_refresh_links(new_namespace, new_dbkey, editor, "move-page", ts)
        return log_id

    def null_revision(self, page: PageInfo, actor: int, comment: int, timestamp: str, *, minor: bool = True) -> int:
        """A revision repeating the page's current content (MediaWiki's "null revision");
        minor for moves and protections, not for re-uploads."""
        t = self.t
        slot = self.conn.execute(
            select(t.slots.c.slot_content_id, t.slots.c.slot_origin)
            .where(t.slots.c.slot_revision_id == page.latest, t.slots.c.slot_role_id == self.rows.role_id())
        ).one()
        sha1 = self._latest_sha1(page)
        rev_id = self.rows.insert_revision(
            page_id=page.id, content_id=slot[0], size=page.length, sha1=sha1, actor=actor, comment=comment,
            timestamp=timestamp, minor=minor, parent_id=page.latest, origin=slot[1],
        )
        p = t.page
        self.conn.execute(update(p).where(p.c.page_id == page.id).values(
            page_latest=rev_id, page_touched=timestamp, page_is_new=0))
        return rev_id

    # ------------------------------------------------------------------ content models
    def change_content_model(self, namespace: int, dbkey: str, model: str, *, editor: Editor, summary: str,
                             text: str | None = None, timestamp: str | None = None) -> int:
        """Change a page's content model (with new text if given), as ContentModelChange does."""
        ts = timestamp or wiki_timestamp()
        page = self.require_page(namespace, dbkey)
        old_model = page.model
        new_text = self.current_text(page) if text is None else text
        described = (f"{editor.name} changed the content model of the page [[{self._prefixed(namespace, dbkey)}]] "
                     f'from "{model_label(old_model)}" to "{model_label(model)}"')
        self._edit(page, new_text, editor=editor, summary=described + (f": {summary}" if summary else ""),
                   model=model, minor=False, timestamp=ts, tags=(TAG, "mw-contentmodelchange"))
        return self.rows.log_event(
            editor, self.rows.actor_id(editor), type="contentmodel", action="change", namespace=namespace,
            dbkey=dbkey, page_id=page.id, comment=self.rows.comment_id(summary), timestamp=ts,
            params={"4::oldmodel": old_model, "5::newmodel": model},
        )

    # ------------------------------------------------------------------ files
    def upload(self, name: str, data: bytes, *, editor: Editor, comment: str, page_text: str = "",
               timestamp: str | None = None) -> int:
        """Upload a file or a new version of it (``name`` in dbkey form), as UploadBase and LocalFile do:
        the file rows, the File page (``page_text`` for a new one, a null revision for an existing
        one) and an upload log entry; returns the log id.

        Raises WikiWriteError if no upload directory is configured."""
        root = self._uploads()
        actor = self.rows.actor_id(editor)
        description = self.rows.comment_id(comment)
        stored = uploads.store_file(self.rows, root, name, data, actor=actor, description=description,
                                    timestamp=timestamp or wiki_timestamp())
        ts = stored.timestamp
        page = self.page(FILE, name, lock=True)
        if page is None:
            saved = self.create_page(FILE, name, page_text, editor=editor, summary=comment, model="wikitext",
                                     minor=False, timestamp=ts, recent_change=False, creation_log=True, tags=())
            page_id, rev_id = saved.page_id, saved.rev_id
        else:
            done = "uploaded a new version of" if stored.replaced else "uploaded"
            note = f"{editor.name} {done} [[{self._prefixed(FILE, name)}]]"
            page_id, rev_id = page.id, self.null_revision(page, actor, self.rows.comment_id(note), ts, minor=False)
        return self.rows.log_event(
            editor, actor, type="upload", action=stored.action, namespace=FILE, dbkey=name, page_id=page_id,
            comment=description, timestamp=ts, params={"img_sha1": stored.sha1, "img_timestamp": ts},
            associated_rev=rev_id,
        )

    # ------------------------------------------------------------------ accounts
    def create_user(self, name: str, password_hash: str, groups: tuple[str, ...] = ()) -> int:
        """A wiki account with its actor row and groups, as MediaWiki's createAndPromote.php makes one."""
        u = self.t.user
        if self.conn.execute(select(u.c.user_id).where(u.c.user_name == name)).scalar() is not None:
            raise UserExists(f"user {name!r} already exists")
        now = wiki_timestamp()
        user_id = self.rows.insert(
            u, user_name=name, user_real_name="", user_password=password_hash, user_newpassword="",
            user_newpass_time=None, user_email="", user_touched=now, user_token=uuid.uuid4().hex,
            user_email_authenticated=None, user_email_token=None, user_email_token_expires=None,
            user_registration=now, user_editcount=0, user_password_expires=None,
        )
        a = self.t.actor
        actor = self.conn.execute(select(a.c.actor_id).where(a.c.actor_name == name)).scalar()
        if actor is None:
            self.rows.insert(a, actor_name=name, actor_user=user_id)
        else:
            self.conn.execute(update(a).where(a.c.actor_id == actor).values(actor_user=user_id))
        for group in dict.fromkeys(groups):
            self.conn.execute(insert(self.t.user_groups).values(ug_user=user_id, ug_group=group, ug_expiry=None))
        s = self.t.site_stats
        self.conn.execute(update(s).values(ss_users=s.c.ss_users + 1))
        return user_id


# ---------------------------------------------------------------------- prepared statements
# Built once per database (WikiDatabase.prepared); the values come as parameters.

def _revision_sha1(t: Tables) -> Select[Any]:
    return select(t.revision.c.rev_sha1).where(t.revision.c.rev_id == bindparam("rev"))


def _page_edited(t: Tables) -> Update:
    p = t.page.c
    return update(t.page).where(p.page_id == bindparam("page")).values(
        page_is_new=0, page_touched=bindparam("touched"), page_latest=bindparam("latest"),
        page_len=bindparam("length"), page_is_redirect=bindparam("redirect"), page_content_model=bindparam("model"))


def _page_created(t: Tables) -> Update:
    return update(t.page).where(t.page.c.page_id == bindparam("page")).values(
        page_latest=bindparam("latest"), page_is_redirect=bindparam("redirect"))
