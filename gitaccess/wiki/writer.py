"""Wiki changes written the way MediaWiki 1.39 writes them.

Every change gitaccess makes must look to MediaWiki like one of its own:
the same rows (text, content, slots, revision, comment and its link, actor,
page, recentchanges, logging, change tags, counters) that
``shared/reference/mediawiki-1.39-edit-rows.txt`` and
``docs/reference/mediawiki-1.39-action-rows.txt`` record. Tables MediaWiki
derives by parsing (links, categories, search index) are left to MediaWiki:
a refreshLinks job is queued for each page touched.

A :class:`WikiWriter` works inside a transaction its caller owns, so a push
of many commits, or a whole dump import, commits or rolls back as one.
"""

from __future__ import annotations

import random
import re
import uuid
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, CursorResult, Delete, Select, Update, bindparam, func, insert, select, update

from gitaccess.errors import EditConflict, PageExists, PageMissing, UserExists, WikiWriteError
from gitaccess.titles.namespaces import FILE, Namespaces
from gitaccess.titles.codec import InvalidTitle, Title, TitleCodec
from gitaccess.wiki import phpserial, uploads
from gitaccess.wiki.content import sha1_base36
from gitaccess.wiki.database import WikiDatabase
from gitaccess.wiki.schema import Tables
from gitaccess.wiki.reader import PageInfo, page_by_title, revision_text
from gitaccess.wiki.types import wiki_timestamp

COMMENT_CHARACTER_LIMIT = 500
TAG = "gitaccess"

# recentchanges.rc_type
RC_EDIT, RC_NEW, RC_LOG = 0, 1, 3
# Groups whose members' changes are autopatrolled / flagged as bot by default.
AUTOPATROL_GROUPS = frozenset({"sysop", "bot"})

_REDIRECT = re.compile(r"^\s*#REDIRECT\s*:?\s*\[\[([^\]|]+)(?:\|[^\]]*)?\]\]", re.IGNORECASE)


def comment_hash(text: str, data: str = "") -> int:
    """CommentStore::hash(): CRC32 of text xor data, as a signed 32-bit integer."""
    value = zlib.crc32(text.encode("utf-8")) ^ zlib.crc32(data.encode("utf-8"))
    return value - (1 << 32) if value >= 0x80000000 else value


def truncate_comment(text: str) -> str:
    """MediaWiki keeps at most 500 characters of a summary, ending a cut one with '...'."""
    if len(text) <= COMMENT_CHARACTER_LIMIT:
        return text
    return text[: COMMENT_CHARACTER_LIMIT - 3].rstrip() + "..."


@dataclass(frozen=True)
class Editor:
    """Who makes a change: a wiki account (user_id > 0) or an IP address."""

    name: str
    user_id: int = 0
    groups: frozenset[str] = frozenset()
    ip: str = ""

    @property
    def autopatrolled(self) -> bool:
        return bool(self.groups & AUTOPATROL_GROUPS)

    @property
    def is_bot(self) -> bool:
        return "bot" in self.groups


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


def redirect_target(text: str) -> str | None:
    """The target of a wikitext ``#REDIRECT [[...]]``, as written."""
    match = _REDIRECT.match(text)
    return match.group(1).strip() if match else None


class WikiWriter:
    """Writes wiki changes on a connection whose transaction the caller owns."""

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
        self._ids: dict[tuple[str, str], int] = {}
        #: Revision and log ids this writer made, in order (what a push journals as its own).
        self.made_revisions: list[int] = []
        self.made_logs: list[int] = []

    # ------------------------------------------------------------------ lookups
    def _scalar(self, query: Any) -> Any:
        return self.conn.execute(query).scalar()

    def _insert(self, table: Any, **values: Any) -> int:
        """Insert one row and return its new auto-increment id."""
        return int(self._add(table, **values).inserted_primary_key[0])

    def _add(self, table: Any, **values: Any) -> CursorResult[Any]:
        """Insert one row (the statement is made once per table, see WikiDatabase.prepared)."""
        return self.conn.execute(self.db.insert_into(table), values)

    def _name_id(self, table: str, id_col: str, name_col: str, name: str, **extra: Any) -> int:
        """The id of a name in a small name table (content_models, slot_roles, change_tag_def)."""
        key = (table, name)
        if key not in self._ids:
            tbl = self.t[table]
            found = self._scalar(select(tbl.c[id_col]).where(tbl.c[name_col] == name))
            self._ids[key] = int(found) if found is not None else self._insert(tbl, **{name_col: name}, **extra)
        return self._ids[key]

    def model_id(self, model: str) -> int:
        return self._name_id("content_models", "model_id", "model_name", model)

    def role_id(self, role: str = "main") -> int:
        return self._name_id("slot_roles", "role_id", "role_name", role)

    def tag_id(self, tag: str = TAG) -> int:
        return self._name_id("change_tag_def", "ctd_id", "ctd_name", tag, ctd_user_defined=0, ctd_count=0)

    def actor_id(self, editor: Editor) -> int:
        """The actor row of an editor, created for IP editors and imported names."""
        found = self.conn.execute(self.db.prepared(_actor_by_name), {"name": editor.name}).scalar()
        if found is not None:
            return int(found)
        return self._insert(self.t.actor, actor_name=editor.name, actor_user=editor.user_id or None)

    def comment_id(self, text: str) -> int:
        """A comment row for the text, reusing an identical one as MediaWiki does."""
        text = truncate_comment(text)
        digest = comment_hash(text)
        found = self.conn.execute(self.db.prepared(_comment_by_text), {"hash": digest, "text": text}).scalar()
        if found is not None:
            return int(found)
        return self._insert(self.t.comment, comment_hash=digest, comment_text=text, comment_data=None)

    def page(self, namespace: int, dbkey: str, *, lock: bool = False) -> PageInfo | None:
        return page_by_title(self.db, self.conn, namespace, dbkey, lock=lock)

    # ------------------------------------------------------------------ storage
    def store_content(self, text: str, model: str) -> tuple[int, int, str]:
        """Text row and content row for a text; returns (content_id, size in bytes, sha1)."""
        data = text.encode("utf-8")
        sha1 = sha1_base36(data)
        old_id = self._insert(self.t.text, old_text=text, old_flags="utf-8")
        content_id = self._insert(
            self.t.content,
            content_size=len(data),
            content_sha1=sha1,
            content_model=self.model_id(model),
            content_address=f"tt:{old_id}",
        )
        return content_id, len(data), sha1

    def insert_revision(
        self,
        *,
        page_id: int,
        content_id: int,
        size: int,
        sha1: str,
        actor: int,
        comment: int,
        timestamp: str,
        minor: bool = False,
        parent_id: int = 0,
        deleted: int = 0,
        origin: int | None = None,
        rev_id: int | None = None,
    ) -> int:
        """A revision with its main slot and comment link; returns its id."""
        values: dict[str, Any] = dict(
            rev_page=page_id,
            rev_comment_id=0 if self.db.has_comment_temp else comment,
            rev_actor=actor,
            rev_timestamp=timestamp,
            rev_minor_edit=int(minor),
            rev_deleted=deleted,
            rev_len=size,
            rev_parent_id=parent_id,
            rev_sha1=sha1,
        )
        if rev_id is not None:
            values["rev_id"] = rev_id
        new_id = self._insert(self.t.revision, **values)
        self.made_revisions.append(new_id)
        if self.db.has_comment_temp:
            self._add(self.t.revision_comment_temp, revcomment_rev=new_id, revcomment_comment_id=comment)
        self._add(self.t.slots, slot_revision_id=new_id, slot_role_id=self.role_id(), slot_content_id=content_id,
                  slot_origin=origin or new_id)
        return new_id

    # ------------------------------------------------------------------ bookkeeping
    def tag(self, *, rc_id: int | None = None, rev_id: int | None = None, log_id: int | None = None,
            tags: tuple[str, ...] = (TAG,)) -> None:
        """Tag a change (`gitaccess`, plus MediaWiki's own tags where it adds some) and count it,
        as ChangeTags::addTags does."""
        for name in tags:
            tag_id = self.tag_id(name)
            self._add(self.t.change_tag, ct_rc_id=rc_id, ct_rev_id=rev_id, ct_log_id=log_id, ct_params=None,
                      ct_tag_id=tag_id)
            self.conn.execute(self.db.prepared(_count_tag), {"tag": tag_id})

    def recent_change(self, editor: Editor, actor: int, **values: Any) -> int:
        """A recentchanges row; values are rc_* columns without the prefix."""
        row = dict(
            rc_actor=actor,
            rc_minor=0,
            rc_bot=int(editor.is_bot),
            rc_new=0,
            rc_cur_id=0,
            rc_this_oldid=0,
            rc_last_oldid=0,
            rc_patrolled=2 if editor.autopatrolled else 0,
            rc_ip=editor.ip,
            rc_old_len=None,
            rc_new_len=None,
            rc_deleted=0,
            rc_logid=0,
            rc_log_type=None,
            rc_log_action="",
            rc_params="",
        )
        row.update({"rc_" + k: v for k, v in values.items()})
        return self._insert(self.t.recentchanges, **row)

    def log_event(
        self,
        editor: Editor,
        actor: int,
        *,
        type: str,
        action: str,
        namespace: int,
        dbkey: str,
        page_id: int,
        comment: int,
        timestamp: str,
        params: dict[str, Any] | None = None,
        associated_rev: int | None = None,
        publish: bool = True,
    ) -> int:
        """A logging row (with its log_search row), published to recentchanges and tagged."""
        params = dict(params or {})
        published = phpserial.dumps(params)  # recentchanges gets them without associated_rev_id
        if associated_rev is not None:
            params["associated_rev_id"] = associated_rev
        serialized = phpserial.dumps(params)
        log_id = self._insert(
            self.t.logging,
            log_type=type,
            log_action=action,
            log_timestamp=timestamp,
            log_actor=actor,
            log_namespace=namespace,
            log_title=dbkey,
            log_page=page_id,
            log_comment_id=comment,
            log_params=serialized,
            log_deleted=0,
        )
        self.made_logs.append(log_id)
        if associated_rev is not None:
            self._add(self.t.log_search, ls_field="associated_rev_id", ls_value=str(associated_rev), ls_log_id=log_id)
        if publish:
            rc_id = self.recent_change(
                editor, actor,
                timestamp=timestamp, namespace=namespace, title=dbkey, comment_id=comment,
                type=RC_LOG, source="mw.log", cur_id=page_id, this_oldid=associated_rev or 0,
                logid=log_id, log_type=type, log_action=action, params=published,
            )
            self.tag(rc_id=rc_id, rev_id=associated_rev, log_id=log_id)
        return log_id

    def count(self, *, edits: int = 0, pages: int = 0, articles: int = 0, images: int = 0) -> None:
        """Adjust site_stats as SiteStatsUpdate does."""
        self.conn.execute(self.db.prepared(_count_site),
                          {"edits": edits, "pages": pages, "articles": articles, "images": images})

    def count_user_edit(self, editor: Editor) -> None:
        if editor.user_id:
            self.conn.execute(self.db.prepared(_count_user_edit), {"user": editor.user_id})

    def queue_refresh_links(self, namespace: int, dbkey: str, editor: Editor, cause: str, timestamp: str) -> None:
        """Queue MediaWiki's refreshLinks job so it rebuilds the page's link tables."""
        params = {
            "causeAction": cause,
            "causeAgent": editor.name,
            "namespace": namespace,
            "title": dbkey,
            "requestId": uuid.uuid4().hex[:24],
        }
        identity = phpserial.dumps({"type": "refreshLinks", "namespace": namespace, "title": dbkey,
                                    "params": {"causeAction": cause, "causeAgent": editor.name}})
        self.db.queue_job(self.conn, dict(
            job_cmd="refreshLinks",
            job_namespace=namespace,
            job_title=dbkey,
            job_timestamp=timestamp,
            job_params=phpserial.dumps(params),
            job_random=random.randint(0, 2**31 - 1),
            job_attempts=0,
            job_token="",
            job_token_timestamp=None,
            job_sha1=sha1_base36(identity.encode("utf-8")),
        ))

    def countable(self, namespace: int, text: str, model: str) -> bool:
        """$wgArticleCountMethod 'link': a content page, not a redirect, with a wikilink."""
        return (
            namespace in self.content_namespaces
            and model == "wikitext"
            and redirect_target(text) is None
            and "[[" in text
        )

    def set_redirect(self, page_id: int, text: str, model: str) -> bool:
        """Keep the redirect table in step with the page's text; True if it redirects."""
        self.conn.execute(self.db.prepared(_forget_redirect), {"page": page_id})
        target = redirect_target(text) if model == "wikitext" else None
        if target is None:
            return False
        try:
            title = self.titles.parse(target)
        except InvalidTitle:
            return False
        self._add(self.t.redirect, rd_from=page_id, rd_namespace=title.namespace, rd_title=title.dbkey,
                  rd_interwiki=title.interwiki, rd_fragment=title.fragment.replace(" ", "_"))
        return True

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
        actor = self.actor_id(editor)
        comment = self.comment_id(summary)
        content_id, size, sha1 = self.store_content(text, model)
        rev_id = self.insert_revision(
            page_id=page.id, content_id=content_id, size=size, sha1=sha1, actor=actor,
            comment=comment, timestamp=timestamp, minor=minor, parent_id=page.latest,
        )
        is_redirect = self.set_redirect(page.id, text, model)
        self.conn.execute(self.db.prepared(_page_edited), {
            "page": page.id, "touched": timestamp, "latest": rev_id, "length": size,
            "redirect": int(is_redirect), "model": model})
        rc_id = self.recent_change(
            editor, actor, timestamp=timestamp, namespace=page.namespace, title=page.dbkey, comment_id=comment,
            minor=int(minor), cur_id=page.id, this_oldid=rev_id, last_oldid=page.latest,
            type=RC_EDIT, source="mw.edit", old_len=page.length, new_len=size,
        )
        self.tag(rc_id=rc_id, rev_id=rev_id, tags=tags)
        self.count(edits=1, articles=int(self.countable(page.namespace, text, model)) - int(was_countable))
        self.count_user_edit(editor)
        self.queue_refresh_links(page.namespace, page.dbkey, editor, "edit-page", timestamp)
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
        actor = self.actor_id(editor)
        comment = self.comment_id(summary)
        content_id, size, sha1 = self.store_content(text, model)
        page_id = self._insert(
            self.t.page,
            page_namespace=namespace, page_title=dbkey, page_is_redirect=0, page_is_new=1,
            page_random=random.random(), page_touched=timestamp, page_links_updated=None,
            page_latest=0, page_len=size, page_content_model=model, page_lang=None,
        )
        rev_id = self.insert_revision(
            page_id=page_id, content_id=content_id, size=size, sha1=sha1, actor=actor,
            comment=comment, timestamp=timestamp, minor=minor,
        )
        is_redirect = self.set_redirect(page_id, text, model)
        self.conn.execute(self.db.prepared(_page_created),
                          {"page": page_id, "latest": rev_id, "redirect": int(is_redirect)})
        rc_id = log_id = None
        if recent_change:
            rc_id = self.recent_change(
                editor, actor, timestamp=timestamp, namespace=namespace, title=dbkey, comment_id=comment,
                minor=int(minor), new=1, cur_id=page_id, this_oldid=rev_id, last_oldid=0,
                type=RC_NEW, source="mw.new", old_len=0, new_len=size,
            )
        if creation_log:
            log_id = self.log_event(
                editor, actor, type="create", action="create", namespace=namespace, dbkey=dbkey,
                page_id=page_id, comment=comment, timestamp=timestamp, associated_rev=rev_id, publish=False,
            )
        if recent_change or not creation_log:
            self.tag(rc_id=rc_id, rev_id=rev_id, log_id=log_id, tags=tags)
        self.count_user_edit(editor)
        self.count(edits=1, pages=1, articles=int(self.countable(namespace, text, model)))
        self.queue_refresh_links(namespace, dbkey, editor, "edit-page", timestamp)
        return SavedRevision(page_id, rev_id, True)

    # ------------------------------------------------------------------ deletion
    def delete(self, namespace: int, dbkey: str, *, editor: Editor, reason: str,
               timestamp: str | None = None) -> int:
        """Delete a page as DeletePage does: revisions to the archive, a delete log entry."""
        ts = timestamp or wiki_timestamp()
        page = self.require_page(namespace, dbkey)
        countable = self.countable(namespace, self.current_text(page), page.model)
        actor = self.actor_id(editor)
        comment = self.comment_id(reason)
        self._archive_revisions(page)
        self._forget_page_links(page)
        if namespace == FILE:
            uploads.delete_files(self, self._uploads(), dbkey, user_id=editor.user_id, reason=comment, timestamp=ts)
        self.conn.execute(self.t.page.delete().where(self.t.page.c.page_id == page.id))
        log_id = self.log_event(editor, actor, type="delete", action="delete", namespace=namespace,
                                dbkey=dbkey, page_id=page.id, comment=comment, timestamp=ts)
        self.count(edits=1, pages=-1, articles=-int(countable))
        return log_id

    def _archive_revisions(self, page: PageInfo) -> None:
        t = self.t
        r = t.revision
        rows = self.conn.execute(
            select(r.c.rev_id, r.c.rev_actor, r.c.rev_timestamp, r.c.rev_minor_edit, r.c.rev_parent_id,
                   r.c.rev_len, r.c.rev_deleted, r.c.rev_sha1, r.c.rev_comment_id)
            .where(r.c.rev_page == page.id).order_by(r.c.rev_timestamp, r.c.rev_id)
        ).all()
        comments = self._revision_comments([row.rev_id for row in rows])
        if rows:
            self.conn.execute(insert(t.archive), [
                dict(ar_namespace=page.namespace, ar_title=page.dbkey, ar_actor=row.rev_actor,
                     ar_timestamp=row.rev_timestamp, ar_minor_edit=row.rev_minor_edit, ar_rev_id=row.rev_id,
                     ar_parent_id=row.rev_parent_id, ar_len=row.rev_len, ar_page_id=page.id,
                     ar_deleted=row.rev_deleted, ar_sha1=row.rev_sha1,
                     ar_comment_id=comments.get(row.rev_id, row.rev_comment_id))
                for row in rows
            ])
        self.conn.execute(r.delete().where(r.c.rev_page == page.id))
        if self.db.has_comment_temp and rows:
            rct = t.revision_comment_temp
            self.conn.execute(rct.delete().where(rct.c.revcomment_rev.in_([row.rev_id for row in rows])))

    def _revision_comments(self, rev_ids: list[int]) -> dict[int, int]:
        """rev_id -> comment id, from revision_comment_temp where this MediaWiki has it."""
        if not self.db.has_comment_temp or not rev_ids:
            return {}
        rct = self.t.revision_comment_temp
        rows = self.conn.execute(
            select(rct.c.revcomment_rev, rct.c.revcomment_comment_id).where(rct.c.revcomment_rev.in_(rev_ids))
        )
        return {row[0]: row[1] for row in rows}

    def _forget_page_links(self, page: PageInfo) -> None:
        """What LinksDeletionUpdate removes with a page: its links, redirect, protections, RC edits."""
        t = self.t
        for table, column in (("pagelinks", "pl_from"), ("templatelinks", "tl_from"),
                              ("imagelinks", "il_from"), ("externallinks", "el_from"),
                              ("langlinks", "ll_from"), ("iwlinks", "iwl_from"), ("page_props", "pp_page"),
                              ("redirect", "rd_from"), ("page_restrictions", "pr_page")):
            self.conn.execute(t[table].delete().where(t[table].c[column] == page.id))
        cl = t.categorylinks
        cat = t.category
        for name, kind in self.conn.execute(select(cl.c.cl_to, cl.c.cl_type).where(cl.c.cl_from == page.id)).all():
            counter = {"subcat": "cat_subcats", "file": "cat_files"}.get(kind)
            values = {"cat_pages": cat.c.cat_pages - 1}
            if counter:
                values[counter] = cat.c[counter] - 1
            self.conn.execute(update(cat).where(cat.c.cat_title == name).values(**values))
            self.conn.execute(cat.delete().where(cat.c.cat_title == name, cat.c.cat_pages <= 0))
        self.conn.execute(cl.delete().where(cl.c.cl_from == page.id))
        rc = t.recentchanges
        self.conn.execute(rc.delete().where(rc.c.rc_cur_id == page.id, rc.c.rc_type != RC_LOG))

    def undelete(self, namespace: int, dbkey: str, *, editor: Editor, reason: str,
                 timestamp: str | None = None) -> int:
        """Restore every archived revision of a title, as UndeletePage does."""
        ts = timestamp or wiki_timestamp()
        self.require_free(namespace, dbkey)
        t = self.t
        ar = t.archive
        rows = self.conn.execute(
            select(ar).where(ar.c.ar_namespace == namespace, ar.c.ar_title == dbkey)
            .order_by(ar.c.ar_timestamp, ar.c.ar_rev_id)
        ).all()
        if not rows:
            raise PageMissing(f"{dbkey} (namespace {namespace}) has no deleted revisions to restore")
        wanted = rows[-1].ar_page_id
        free = wanted and self._scalar(select(t.page.c.page_id).where(t.page.c.page_id == wanted)) is None
        latest = rows[-1]
        model = self._content_model_of(latest.ar_rev_id)
        page_values = dict(
            page_namespace=namespace, page_title=dbkey, page_is_redirect=0, page_is_new=1,
            page_random=random.random(), page_touched=latest.ar_timestamp, page_links_updated=None,
            page_latest=latest.ar_rev_id,
            page_len=latest.ar_len, page_content_model=model, page_lang=None,
        )
        if free:
            page_values["page_id"] = wanted
        page_id = self._insert(t.page, **page_values)
        for row in rows:
            self.conn.execute(insert(t.revision).values(
                rev_id=row.ar_rev_id, rev_page=page_id,
                rev_comment_id=0 if self.db.has_comment_temp else row.ar_comment_id,
                rev_actor=row.ar_actor, rev_timestamp=row.ar_timestamp, rev_minor_edit=row.ar_minor_edit,
                rev_deleted=row.ar_deleted, rev_len=row.ar_len, rev_parent_id=row.ar_parent_id,
                rev_sha1=row.ar_sha1,
            ))
            if self.db.has_comment_temp:
                self.conn.execute(insert(t.revision_comment_temp).values(
                    revcomment_rev=row.ar_rev_id, revcomment_comment_id=row.ar_comment_id))
        self.conn.execute(ar.delete().where(ar.c.ar_namespace == namespace, ar.c.ar_title == dbkey))
        restored_files = uploads.restore_files(self, self._uploads(), dbkey) if namespace == FILE else 0
        restored = PageInfo(page_id, namespace, dbkey, latest.ar_rev_id, latest.ar_len or 0, model, False)
        text = self.current_text(restored)
        is_redirect = self.set_redirect(page_id, text, model)
        self.conn.execute(update(t.page).where(t.page.c.page_id == page_id).values(page_is_redirect=int(is_redirect)))
        actor = self.actor_id(editor)
        log_id = self.log_event(
            editor, actor, type="delete", action="restore", namespace=namespace, dbkey=dbkey, page_id=page_id,
            comment=self.comment_id(reason), timestamp=ts,
            params={":assoc:count": {"revisions": len(rows), "files": restored_files}},
        )
        self.count(edits=1, pages=1, articles=int(self.countable(namespace, text, model)))
        self.queue_refresh_links(namespace, dbkey, editor, "undelete-page", ts)
        return log_id

    def _content_model_of(self, rev_id: int) -> str:
        t = self.t
        model = self._scalar(
            select(t.content_models.c.model_name)
            .select_from(t.slots)
            .join(t.content, t.content.c.content_id == t.slots.c.slot_content_id)
            .join(t.content_models, t.content_models.c.model_id == t.content.c.content_model)
            .where(t.slots.c.slot_revision_id == rev_id, t.slots.c.slot_role_id == self.role_id())
        )
        return model or "wikitext"

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
        actor = self.actor_id(editor)
        comment = self.comment_id(summary)
        null_rev = self.null_revision(page, actor, comment, ts)
        p = self.t.page
        self.conn.execute(update(p).where(p.c.page_id == page.id).values(
            page_namespace=new_namespace, page_title=new_dbkey))
        log_id = self.log_event(
            editor, actor, type="move", action="move", namespace=namespace, dbkey=dbkey, page_id=page.id,
            comment=self.comment_id(reason), timestamp=ts, associated_rev=null_rev,
            params={"4::target": self._prefixed(new_namespace, new_dbkey), "5::noredir": "0" if redirect else "1"},
        )
        text = self.current_text(page)
        self.count(edits=1, articles=int(self.countable(new_namespace, text, page.model))
                   - int(self.countable(namespace, text, page.model)))
        self.count_user_edit(editor)
        if redirect:
            self.create_page(namespace, dbkey, f"#REDIRECT [[{self._prefixed(new_namespace, new_dbkey)}]]",
                         editor=editor, summary=summary, model="wikitext", minor=False, timestamp=ts,
                         recent_change=False, creation_log=False, tags=(TAG, "mw-new-redirect"))
        self.queue_refresh_links(new_namespace, new_dbkey, editor, "move-page", ts)
        return log_id

    def _prefixed(self, namespace: int, dbkey: str) -> str:
        """Title text with its local namespace prefix, as the move log and redirects write it."""
        return self.titles.full_text(Title(namespace, dbkey), canonical=False)

    def null_revision(self, page: PageInfo, actor: int, comment: int, timestamp: str, *, minor: bool = True) -> int:
        """A revision repeating the page's current content (MediaWiki's "null revision");
        minor for moves and protections, not for re-uploads."""
        t = self.t
        slot = self.conn.execute(
            select(t.slots.c.slot_content_id, t.slots.c.slot_origin)
            .where(t.slots.c.slot_revision_id == page.latest, t.slots.c.slot_role_id == self.role_id())
        ).one()
        sha1 = self._latest_sha1(page)
        rev_id = self.insert_revision(
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
        return self.log_event(
            editor, self.actor_id(editor), type="contentmodel", action="change", namespace=namespace,
            dbkey=dbkey, page_id=page.id, comment=self.comment_id(summary), timestamp=ts,
            params={"4::oldmodel": old_model, "5::newmodel": model},
        )

    # ------------------------------------------------------------------ files
    def _uploads(self) -> Path:
        if self.upload_directory is None:
            raise WikiWriteError("no upload directory is configured: set [wiki] upload_directory")
        return self.upload_directory

    def upload(self, name: str, data: bytes, *, editor: Editor, comment: str, page_text: str = "",
               timestamp: str | None = None) -> int:
        """Upload a file or a new version of it (``name`` in dbkey form); returns the log id."""
        return uploads.upload(self, self._uploads(), name, data, editor=editor, comment=comment,
                              page_text=page_text, timestamp=timestamp)

    # ------------------------------------------------------------------ accounts
    def create_user(self, name: str, password_hash: str, groups: tuple[str, ...] = ()) -> int:
        """A wiki account with its actor row and groups, as MediaWiki's createAndPromote.php makes one."""
        u = self.t.user
        if self._scalar(select(u.c.user_id).where(u.c.user_name == name)) is not None:
            raise UserExists(f"user {name!r} already exists")
        now = wiki_timestamp()
        user_id = self._insert(
            u, user_name=name, user_real_name="", user_password=password_hash, user_newpassword="",
            user_newpass_time=None, user_email="", user_touched=now, user_token=uuid.uuid4().hex,
            user_email_authenticated=None, user_email_token=None, user_email_token_expires=None,
            user_registration=now, user_editcount=0, user_password_expires=None,
        )
        a = self.t.actor
        actor = self._scalar(select(a.c.actor_id).where(a.c.actor_name == name))
        if actor is None:
            self._insert(a, actor_name=name, actor_user=user_id)
        else:
            self.conn.execute(update(a).where(a.c.actor_id == actor).values(actor_user=user_id))
        for group in dict.fromkeys(groups):
            self.conn.execute(insert(self.t.user_groups).values(ug_user=user_id, ug_group=group, ug_expiry=None))
        s = self.t.site_stats
        self.conn.execute(update(s).values(ss_users=s.c.ss_users + 1))
        return user_id

    # ------------------------------------------------------------------ reading back
    def _latest_sha1(self, page: PageInfo) -> str:
        return self.conn.execute(self.db.prepared(_revision_sha1), {"rev": page.latest}).scalar() or ""

    def current_text(self, page: PageInfo) -> str:
        return revision_text(self.db, self.conn, page.latest)

    def require_page(self, namespace: int, dbkey: str) -> PageInfo:
        page = self.page(namespace, dbkey, lock=True)
        if page is None:
            raise PageMissing(f"{dbkey} (namespace {namespace}) does not exist")
        return page

    def require_free(self, namespace: int, dbkey: str) -> None:
        if self.page(namespace, dbkey) is not None:
            raise PageExists(f"{dbkey} (namespace {namespace}) already exists")

    def total_pages(self) -> int:
        return int(self._scalar(select(func.count()).select_from(self.t.page)) or 0)


# ---------------------------------------------------------------------- prepared statements
# Built once per database (WikiDatabase.prepared); the values come as parameters.

def _actor_by_name(t: Tables) -> Select[Any]:
    return select(t.actor.c.actor_id).where(t.actor.c.actor_name == bindparam("name"))


def _comment_by_text(t: Tables) -> Select[Any]:
    c = t.comment.c
    return (select(c.comment_id)
            .where(c.comment_hash == bindparam("hash"), c.comment_text == bindparam("text"), c.comment_data.is_(None))
            .limit(1))


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


def _count_tag(t: Tables) -> Update:
    ctd = t.change_tag_def.c
    return update(t.change_tag_def).where(ctd.ctd_id == bindparam("tag")).values(ctd_count=ctd.ctd_count + 1)


def _count_site(t: Tables) -> Update:
    s = t.site_stats.c
    return update(t.site_stats).values(
        ss_total_edits=s.ss_total_edits + bindparam("edits"), ss_total_pages=s.ss_total_pages + bindparam("pages"),
        ss_good_articles=s.ss_good_articles + bindparam("articles"), ss_images=s.ss_images + bindparam("images"))


def _count_user_edit(t: Tables) -> Update:
    u = t.user.c
    return (update(t.user).where(u.user_id == bindparam("user"), u.user_editcount.is_not(None))
            .values(user_editcount=u.user_editcount + 1))


def _forget_redirect(t: Tables) -> Delete:
    return t.redirect.delete().where(t.redirect.c.rd_from == bindparam("page"))
