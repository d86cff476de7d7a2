"""The rows underneath every wiki change, one kind of row per call.

MediaWiki's readers (and MediaWiki itself) expect each change to leave the
same rows MediaWiki 1.39 would: actor, comment, text, content, revision with
its slot and comment link, recentchanges, logging with log_search, change
tags, the site and user counters, the redirect row, the archive rows of a
deleted page and the refreshLinks job (docs/reference/mediawiki-1.39-action-rows.txt
records them). :class:`WikiRows` writes those rows; which of them a change
needs, and in which order, is the business of the actions in
:mod:`gitaccess.wiki.writer`. Nothing here commits: the rows go into the
transaction of the connection given, which its caller owns.
"""

from __future__ import annotations

import random
import re
import uuid
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, CursorResult, Delete, Row, Select, Update, bindparam, insert, select, update

from gitaccess.titles.codec import InvalidTitle, TitleCodec
from gitaccess.wiki import phpserial
from gitaccess.wiki.content import sha1_base36
from gitaccess.wiki.database import WikiDatabase
from gitaccess.wiki.reader import PageInfo
from gitaccess.wiki.schema import Tables

COMMENT_CHARACTER_LIMIT = 500
TAG = "gitaccess"

# recentchanges.rc_type
RC_EDIT, RC_NEW, RC_LOG = 0, 1, 3
# Groups whose members' changes are autopatrolled / flagged as bot by default.
AUTOPATROL_GROUPS = frozenset({"sysop", "bot"})

_REDIRECT = re.compile(r"^\s*#REDIRECT\s*:?\s*\[\[([^\]|]+)(?:\|[^\]]*)?\]\]", re.IGNORECASE)

#: The tables LinksDeletionUpdate empties of a deleted page's rows, with the column naming the page.
_PAGE_LINK_TABLES = (("pagelinks", "pl_from"), ("templatelinks", "tl_from"), ("imagelinks", "il_from"),
                     ("externallinks", "el_from"), ("langlinks", "ll_from"), ("iwlinks", "iwl_from"),
                     ("page_props", "pp_page"), ("redirect", "rd_from"), ("page_restrictions", "pr_page"))


def comment_hash(text: str, data: str = "") -> int:
    """CommentStore::hash(): CRC32 of text xor data, as a signed 32-bit integer."""
    value = zlib.crc32(text.encode("utf-8")) ^ zlib.crc32(data.encode("utf-8"))
    return value - (1 << 32) if value >= 0x80000000 else value


def truncate_comment(text: str) -> str:
    """MediaWiki keeps a summary up to COMMENT_CHARACTER_LIMIT characters, ending a cut one with '...'."""
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


def redirect_target(text: str) -> str | None:
    """The target of a wikitext ``#REDIRECT [[...]]``, as written."""
    match = _REDIRECT.match(text)
    return match.group(1).strip() if match else None


def redirect_row(titles: TitleCodec, page_id: int, text: str, model: str) -> dict[str, Any] | None:
    """The redirect row of a page with this text, or None if it is no redirect MediaWiki would record
    (not wikitext, no ``#REDIRECT``, or a target that is no valid title)."""
    target = redirect_target(text) if model == "wikitext" else None
    if target is None:
        return None
    try:
        title = titles.parse(target)
    except InvalidTitle:
        return None
    return dict(rd_from=page_id, rd_namespace=title.namespace, rd_title=title.dbkey,
                rd_interwiki=title.interwiki, rd_fragment=title.fragment.replace(" ", "_"))


def is_countable(namespace: int, text: str, model: str, content_namespaces: frozenset[int]) -> bool:
    """$wgArticleCountMethod 'link': a content page, not a redirect, with a wikilink."""
    return (
        namespace in content_namespaces
        and model == "wikitext"
        and redirect_target(text) is None
        and "[[" in text
    )


class WikiRows:
    """Writes MediaWiki's rows, one kind per call, on a connection whose transaction the caller owns.

    Database errors (sqlalchemy.exc.DBAPIError) pass through: the caller rolls back.
    """

    def __init__(self, db: WikiDatabase, conn: Connection, titles: TitleCodec) -> None:
        self.db = db
        self.t = db.tables
        self.conn = conn
        # Title rules, for redirect targets.
        self.titles = titles
        self._ids: dict[tuple[str, str], int] = {}
        #: Revision and log ids these rows made, in order (what a push journals as its own).
        self.made_revisions: list[int] = []
        self.made_logs: list[int] = []

    # ------------------------------------------------------------------ plain rows
    def insert(self, table: Any, **values: Any) -> int:
        """Insert one row and return its new auto-increment id."""
        return int(self._add(table, **values).inserted_primary_key[0])

    def _add(self, table: Any, **values: Any) -> CursorResult[Any]:
        """Insert one row (the statement is made once per table, see WikiDatabase.prepared)."""
        return self.conn.execute(self.db.insert_into(table), values)

    # ------------------------------------------------------------------ names
    def _name_id(self, table: str, id_col: str, name_col: str, name: str, **extra: Any) -> int:
        """The id of a name in a small name table (content_models, slot_roles, change_tag_def)."""
        key = (table, name)
        if key not in self._ids:
            tbl = self.t[table]
            found = self.conn.execute(select(tbl.c[id_col]).where(tbl.c[name_col] == name)).scalar()
            self._ids[key] = int(found) if found is not None else self.insert(tbl, **{name_col: name}, **extra)
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
        return self.insert(self.t.actor, actor_name=editor.name, actor_user=editor.user_id or None)

    def comment_id(self, text: str) -> int:
        """A comment row for the text, reusing an identical one as MediaWiki does."""
        text = truncate_comment(text)
        digest = comment_hash(text)
        found = self.conn.execute(self.db.prepared(_comment_by_text), {"hash": digest, "text": text}).scalar()
        if found is not None:
            return int(found)
        return self.insert(self.t.comment, comment_hash=digest, comment_text=text, comment_data=None)

    # ------------------------------------------------------------------ pages and revisions
    def insert_page(self, namespace: int, dbkey: str, *, touched: str, latest: int, length: int, model: str,
                    page_id: int | None = None) -> int:
        """A new page row, marked new and not a redirect (the action sets page_is_redirect once
        set_redirect has seen the text); ``page_id`` asks for that id (an undeletion gives a page its
        old id back where it is free)."""
        values: dict[str, Any] = dict(
            page_namespace=namespace, page_title=dbkey, page_is_redirect=0, page_is_new=1,
            page_random=random.random(), page_touched=touched, page_links_updated=None,
            page_latest=latest, page_len=length, page_content_model=model, page_lang=None,
        )
        if page_id is not None:
            values["page_id"] = page_id
        return self.insert(self.t.page, **values)

    def store_content(self, text: str, model: str) -> tuple[int, int, str]:
        """Text row and content row for a text; returns (content_id, size in bytes, sha1)."""
        data = text.encode("utf-8")
        sha1 = sha1_base36(data)
        old_id = self.insert(self.t.text, old_text=text, old_flags="utf-8")
        content_id = self.insert(
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
        new_id = self.insert(self.t.revision, **values)
        self.made_revisions.append(new_id)
        if self.db.has_comment_temp:
            self._add(self.t.revision_comment_temp, revcomment_rev=new_id, revcomment_comment_id=comment)
        self._add(self.t.slots, slot_revision_id=new_id, slot_role_id=self.role_id(), slot_content_id=content_id,
                  slot_origin=origin or new_id)
        return new_id

    def set_redirect(self, page_id: int, text: str, model: str) -> bool:
        """Keep the redirect table in step with the page's text; True if it redirects."""
        self.conn.execute(self.db.prepared(_forget_redirect), {"page": page_id})
        row = redirect_row(self.titles, page_id, text, model)
        if row is None:
            return False
        self._add(self.t.redirect, **row)
        return True

    # ------------------------------------------------------------------ deletion and undeletion
    def archive_revisions(self, page: PageInfo) -> None:
        """Move a page's revision rows (with their comment links) to the archive, as DeletePage does;
        slots, content and text stay where they are."""
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

    def restore_revisions(self, namespace: int, dbkey: str, archived: Sequence[Row[Any]], page_id: int) -> None:
        """Put a title's archived revision rows back under ``page_id`` with their old ids, as UndeletePage
        does, and empty its archive."""
        t = self.t
        for row in archived:
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
        ar = t.archive
        self.conn.execute(ar.delete().where(ar.c.ar_namespace == namespace, ar.c.ar_title == dbkey))

    def forget_page_links(self, page: PageInfo) -> None:
        """What LinksDeletionUpdate removes with a page: its links, redirect, protections, RC edits."""
        t = self.t
        for table, column in _PAGE_LINK_TABLES:
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
        return self.insert(self.t.recentchanges, **row)

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
        log_id = self.insert(
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


# ---------------------------------------------------------------------- prepared statements
# Built once per database (WikiDatabase.prepared); the values come as parameters.

def _actor_by_name(t: Tables) -> Select[Any]:
    return select(t.actor.c.actor_id).where(t.actor.c.actor_name == bindparam("name"))


def _comment_by_text(t: Tables) -> Select[Any]:
    c = t.comment.c
    return (select(c.comment_id)
            .where(c.comment_hash == bindparam("hash"), c.comment_text == bindparam("text"), c.comment_data.is_(None))
            .limit(1))


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
