"""Writing a plan the way MediaWiki would have, many rows per statement.

:class:`BulkWriter` keeps the rows that later edits change or remove in
memory and inserts everything with SQLAlchemy Core executemany, instead of
WikiWriter's round trips per row, which make generating a large wiki too
slow to wait for. The row values themselves come from the same rules as
WikiWriter's (gitaccess.wiki.rows), so both write the same rows.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from bench.plan import DeleteOp, EditOp, MoveOp, UploadOp
from gitaccess.titles.namespaces import FILE
from gitaccess.site import Site
from gitaccess.titles.codec import Title
from gitaccess.wiki import files, phpserial
from gitaccess.wiki.content import sha1_base36
from gitaccess.wiki.rows import (
    RC_EDIT,
    RC_LOG,
    RC_NEW,
    Editor,
    comment_hash,
    is_countable,
    redirect_row,
    truncate_comment,
)

# ---------------------------------------------------------------------- bulk writing
@dataclass
class _Page:
    id: int
    namespace: int
    dbkey: str
    latest: int
    length: int
    model: str
    text: str
    sha1: str
    content_id: int
    origin: int
    touched: str
    random: float
    is_new: int = 1
    is_redirect: int = 0
    revisions: list[int] = field(default_factory=list)


class BulkWriter:
    """The rows a plan's edits leave in a MediaWiki 1.39 database, in memory, then inserted in bulk.

    Mirrors WikiWriter (gitaccess/wiki/writer.py, rows.py and uploads.py) row for row
    and id for id; rows that later edits change or remove (page,
    revision/archive, recentchanges, redirect, image) are kept in memory
    and inserted once at the end, the others as they are made.
    """

    BATCH = 5000

    def __init__(self, site: Site, conn: Connection) -> None:
        self.site = site
        self.conn = conn
        self.t = site.db.tables
        self.titles = site.titles
        self.uploads = site.config.upload_directory
        self.content_namespaces = frozenset({0})
        self.temp = site.db.has_comment_temp
        t = self.t
        self.models = {name: mid for mid, name in conn.execute(select(t.content_models.c.model_id,
                                                                      t.content_models.c.model_name))}
        self.main_role = conn.execute(select(t.slot_roles.c.role_id).where(t.slot_roles.c.role_name == "main")
                                      ).scalar_one()

        def high(column: Any) -> int:
            return int(conn.execute(select(func.max(column))).scalar() or 0)

        self.next = {
            "text": high(t.text.c.old_id), "content": high(t.content.c.content_id),
            "rev": max(high(t.revision.c.rev_id), high(t.archive.c.ar_rev_id)), "page": high(t.page.c.page_id),
            "log": high(t.logging.c.log_id), "rc": high(t.recentchanges.c.rc_id),
            "comment": high(t.comment.c.comment_id), "actor": high(t.actor.c.actor_id),
            "ar": high(t.archive.c.ar_id), "user": high(t.user.c.user_id),
        }
        if any(self.next[k] for k in ("rev", "page", "log")):
            raise RuntimeError("the bulk writer needs a wiki without pages, revisions and log entries")
        self.pending: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.pages: dict[tuple[int, str], _Page] = {}
        self.revisions: dict[int, dict[str, Any]] = {}
        self.rev_comment: dict[int, int] = {}
        self.archive: list[dict[str, Any]] = []
        self.rc: dict[int, dict[str, Any]] = {}
        self.rc_by_page: dict[int, list[int]] = defaultdict(list)
        self.redirects: dict[int, dict[str, Any]] = {}
        self.images: dict[str, dict[str, Any]] = {}
        self.comments: dict[str, int] = {}
        self.actors: dict[str, int] = {}
        self.stats = {"edits": 0, "pages": 0, "articles": 0, "images": 0, "users": 0}
        self.editcount: dict[int, int] = defaultdict(int)
        self.random = random.Random(0)

    def _id(self, kind: str) -> int:
        self.next[kind] += 1
        return self.next[kind]

    def _queue(self, table: str, row: dict[str, Any]) -> None:
        rows = self.pending[table]
        rows.append(row)
        if len(rows) >= self.BATCH:
            self._flush(table)

    def _flush(self, table: str) -> None:
        rows = self.pending.pop(table, [])
        if rows:
            self.conn.execute(insert(self.t[table]), rows)

    # --- names
    def comment_id(self, text: str) -> int:
        text = truncate_comment(text)
        found = self.comments.get(text)
        if found is None:
            found = self.comments[text] = self._id("comment")
            self._queue("comment", dict(comment_id=found, comment_hash=comment_hash(text), comment_text=text,
                                        comment_data=None))
        return found

    def actor_id(self, editor: Editor) -> int:
        found = self.actors.get(editor.name)
        if found is None:
            found = self.actors[editor.name] = self._id("actor")
            self._queue("actor", dict(actor_id=found, actor_name=editor.name, actor_user=editor.user_id or None))
        return found

    def create_user(self, name: str, password_hash: str, groups: tuple[str, ...]) -> int:
        user_id = self._id("user")
        now = "20150101000000"
        self._queue("user", dict(
            user_id=user_id, user_name=name, user_real_name="", user_password=password_hash, user_newpassword="",
            user_newpass_time=None, user_email="", user_touched=now, user_token="0" * 32,
            user_email_authenticated=None, user_email_token=None, user_email_token_expires=None,
            user_registration=now, user_editcount=0, user_password_expires=None))
        self.actor_id(Editor(name, user_id))
        for group in dict.fromkeys(groups):
            self._queue("user_groups", dict(ug_user=user_id, ug_group=group, ug_expiry=None))
        self.stats["users"] += 1
        return user_id

    # --- storage and bookkeeping, as WikiWriter
    def store_content(self, text: str, model: str) -> tuple[int, int, str]:
        data = text.encode("utf-8")
        sha1 = sha1_base36(data)
        old_id = self._id("text")
        self._queue("text", dict(old_id=old_id, old_text=text, old_flags="utf-8"))
        content_id = self._id("content")
        self._queue("content", dict(content_id=content_id, content_size=len(data), content_sha1=sha1,
                                    content_model=self.models[model], content_address=f"tt:{old_id}"))
        return content_id, len(data), sha1

    def insert_revision(self, page: _Page, content_id: int, size: int, sha1: str, actor: int, comment: int,
                        timestamp: str, minor: bool, parent: int, origin: int | None = None) -> int:
        rev_id = self._id("rev")
        self.revisions[rev_id] = dict(
            rev_id=rev_id, rev_page=page.id, rev_comment_id=0 if self.temp else comment, rev_actor=actor,
            rev_timestamp=timestamp, rev_minor_edit=int(minor), rev_deleted=0, rev_len=size,
            rev_parent_id=parent, rev_sha1=sha1)
        self.rev_comment[rev_id] = comment
        page.revisions.append(rev_id)
        self._queue("slots", dict(slot_revision_id=rev_id, slot_role_id=self.main_role, slot_content_id=content_id,
                                  slot_origin=origin or rev_id))
        return rev_id

    def recent_change(self, editor: Editor, actor: int, **values: Any) -> int:
        rc_id = self._id("rc")
        row = dict(rc_id=rc_id, rc_actor=actor, rc_minor=0, rc_bot=int(editor.is_bot), rc_new=0, rc_cur_id=0,
                   rc_this_oldid=0, rc_last_oldid=0, rc_patrolled=2 if editor.autopatrolled else 0,
                   rc_ip=editor.ip, rc_old_len=None, rc_new_len=None, rc_deleted=0, rc_logid=0,
                   rc_log_type=None, rc_log_action="", rc_params="")
        row.update({"rc_" + k: v for k, v in values.items()})
        self.rc[rc_id] = row
        if row["rc_cur_id"]:
            self.rc_by_page[row["rc_cur_id"]].append(rc_id)
        return rc_id

    def log_event(self, editor: Editor, actor: int, *, type: str, action: str, namespace: int, dbkey: str,
                  page_id: int, comment: int, timestamp: str, params: dict[str, Any] | None = None,
                  associated_rev: int | None = None, publish: bool = True) -> int:
        params = dict(params or {})
        published = phpserial.dumps(params)
        if associated_rev is not None:
            params["associated_rev_id"] = associated_rev
        log_id = self._id("log")
        self._queue("logging", dict(
            log_id=log_id, log_type=type, log_action=action, log_timestamp=timestamp, log_actor=actor,
            log_namespace=namespace, log_title=dbkey, log_page=page_id, log_comment_id=comment,
            log_params=phpserial.dumps(params), log_deleted=0))
        if associated_rev is not None:
            self._queue("log_search", dict(ls_field="associated_rev_id", ls_value=str(associated_rev),
                                           ls_log_id=log_id))
        if publish:
            self.recent_change(editor, actor, timestamp=timestamp, namespace=namespace, title=dbkey,
                               comment_id=comment, type=RC_LOG, source="mw.log", cur_id=page_id,
                               this_oldid=associated_rev or 0, logid=log_id, log_type=type, log_action=action,
                               params=published)
        return log_id

    def countable(self, namespace: int, text: str, model: str) -> bool:
        return is_countable(namespace, text, model, self.content_namespaces)

    def count_user_edit(self, editor: Editor) -> None:
        if editor.user_id:
            self.editcount[editor.user_id] += 1

    def set_redirect(self, page_id: int, text: str, model: str) -> bool:
        """Keep the page's redirect row (inserted at the end) in step with its text; True if it redirects."""
        self.redirects.pop(page_id, None)
        row = redirect_row(self.titles, page_id, text, model)
        if row is not None:
            self.redirects[page_id] = row
        return row is not None

    def _prefixed(self, namespace: int, dbkey: str) -> str:
        return self.titles.full_text(Title(namespace, dbkey), canonical=False)

    # --- edits
    def save(self, op: EditOp, editor: Editor) -> None:
        page = self.pages.get((op.namespace, op.dbkey))
        if page is None:
            self.create_page(op.namespace, op.dbkey, op.text, editor=editor, summary=op.summary, model=op.model,
                             minor=op.minor, timestamp=op.timestamp)
            return
        if op.model == page.model and page.sha1 == sha1_base36(op.text.encode("utf-8")):
            return  # a null edit writes nothing
        self._edit(page, op.text, editor, op.summary, op.model, op.minor, op.timestamp)

    def _edit(self, page: _Page, text: str, editor: Editor, summary: str, model: str, minor: bool,
              timestamp: str) -> int:
        was_countable = self.countable(page.namespace, page.text, page.model)
        actor = self.actor_id(editor)
        comment = self.comment_id(summary)
        content_id, size, sha1 = self.store_content(text, model)
        old_latest, old_length = page.latest, page.length
        rev_id = self.insert_revision(page, content_id, size, sha1, actor, comment, timestamp, minor, page.latest)
        is_redirect = self.set_redirect(page.id, text, model)
        page.is_new, page.touched, page.latest, page.length = 0, timestamp, rev_id, size
        page.is_redirect, page.model, page.text, page.sha1 = int(is_redirect), model, text, sha1
        page.content_id, page.origin = content_id, rev_id
        self.recent_change(editor, actor, timestamp=timestamp, namespace=page.namespace, title=page.dbkey,
                           comment_id=comment, minor=int(minor), cur_id=page.id, this_oldid=rev_id,
                           last_oldid=old_latest, type=RC_EDIT, source="mw.edit", old_len=old_length, new_len=size)
        self.stats["edits"] += 1
        self.stats["articles"] += int(self.countable(page.namespace, text, model)) - int(was_countable)
        self.count_user_edit(editor)
        return rev_id

    def create_page(self, namespace: int, dbkey: str, text: str, *, editor: Editor, summary: str, model: str,
                    minor: bool, timestamp: str, recent_change: bool = True, creation_log: bool = True) -> _Page:
        actor = self.actor_id(editor)
        comment = self.comment_id(summary)
        content_id, size, sha1 = self.store_content(text, model)
        page = _Page(self._id("page"), namespace, dbkey, 0, size, model, text, sha1, content_id, 0, timestamp,
                     self.random.random())
        self.pages[(namespace, dbkey)] = page
        rev_id = self.insert_revision(page, content_id, size, sha1, actor, comment, timestamp, minor, 0)
        page.latest, page.origin = rev_id, rev_id
        page.is_redirect = int(self.set_redirect(page.id, text, model))
        if recent_change:
            self.recent_change(editor, actor, timestamp=timestamp, namespace=namespace, title=dbkey,
                               comment_id=comment, minor=int(minor), new=1, cur_id=page.id, this_oldid=rev_id,
                               last_oldid=0, type=RC_NEW, source="mw.new", old_len=0, new_len=size)
        if creation_log:
            self.log_event(editor, actor, type="create", action="create", namespace=namespace, dbkey=dbkey,
                           page_id=page.id, comment=comment, timestamp=timestamp, associated_rev=rev_id,
                           publish=False)
        self.count_user_edit(editor)
        self.stats["edits"] += 1
        self.stats["pages"] += 1
        self.stats["articles"] += int(self.countable(namespace, text, model))
        return page

    def delete(self, op: DeleteOp, editor: Editor) -> None:
        page = self.pages.pop((op.namespace, op.dbkey))
        countable = self.countable(page.namespace, page.text, page.model)
        actor = self.actor_id(editor)
        comment = self.comment_id(op.reason)
        rows = sorted((self.revisions.pop(r) for r in page.revisions),
                      key=lambda row: (row["rev_timestamp"], row["rev_id"]))
        for row in rows:
            self.archive.append(dict(
                ar_id=self._id("ar"), ar_namespace=page.namespace, ar_title=page.dbkey, ar_actor=row["rev_actor"],
                ar_timestamp=row["rev_timestamp"], ar_minor_edit=row["rev_minor_edit"], ar_rev_id=row["rev_id"],
                ar_parent_id=row["rev_parent_id"], ar_len=row["rev_len"], ar_page_id=page.id,
                ar_deleted=row["rev_deleted"], ar_sha1=row["rev_sha1"],
                ar_comment_id=self.rev_comment.pop(row["rev_id"]) if self.temp else row["rev_comment_id"]))
        self.redirects.pop(page.id, None)
        for rc_id in self.rc_by_page.pop(page.id, []):
            if self.rc[rc_id]["rc_type"] != RC_LOG:
                del self.rc[rc_id]
        self.log_event(editor, actor, type="delete", action="delete", namespace=page.namespace, dbkey=page.dbkey,
                       page_id=page.id, comment=comment, timestamp=op.timestamp)
        self.stats["edits"] += 1
        self.stats["pages"] -= 1
        self.stats["articles"] -= int(countable)

    def null_revision(self, page: _Page, actor: int, comment: int, timestamp: str, *, minor: bool = True) -> int:
        rev_id = self.insert_revision(page, page.content_id, page.length, page.sha1, actor, comment, timestamp,
                                      minor, page.latest, origin=page.origin)
        page.latest, page.touched, page.is_new = rev_id, timestamp, 0
        return rev_id

    def move(self, op: MoveOp, editor: Editor) -> None:
        page = self.pages.pop((op.namespace, op.dbkey))
        old, new = self._prefixed(op.namespace, op.dbkey), self._prefixed(op.new_namespace, op.new_dbkey)
        summary = f"{editor.name} moved page [[{old}]] to [[{new}]]"
        if not op.redirect:
            summary += " without leaving a redirect"
        if op.reason:
            summary += ": " + op.reason
        actor = self.actor_id(editor)
        comment = self.comment_id(summary)
        null_rev = self.null_revision(page, actor, comment, op.timestamp)
        page.namespace, page.dbkey = op.new_namespace, op.new_dbkey
        self.pages[(op.new_namespace, op.new_dbkey)] = page
        self.log_event(editor, actor, type="move", action="move", namespace=op.namespace, dbkey=op.dbkey,
                       page_id=page.id, comment=self.comment_id(op.reason), timestamp=op.timestamp,
                       associated_rev=null_rev, params={"4::target": new, "5::noredir": "0" if op.redirect else "1"})
        self.stats["edits"] += 1
        self.stats["articles"] += (int(self.countable(op.new_namespace, page.text, page.model))
                                   - int(self.countable(op.namespace, page.text, page.model)))
        self.count_user_edit(editor)
        if op.redirect:
            self.create_page(op.namespace, op.dbkey, f"#REDIRECT [[{new}]]", editor=editor, summary=summary,
                             model="wikitext", minor=False, timestamp=op.timestamp, recent_change=False,
                             creation_log=False)

    def upload(self, op: UploadOp, editor: Editor) -> None:
        name, data, ts = op.name, op.data, op.timestamp
        current = self.images.get(name)
        if current is not None and ts <= current["img_timestamp"]:
            raise ValueError(f"upload of {name} at {ts} is not after its current version")
        actor = self.actor_id(editor)
        comment_id = self.comment_id(op.comment)
        kind = files.file_type(data, name)
        size = files.image_size(data)
        sha1 = sha1_base36(data)
        values = dict(img_size=len(data), img_width=size.width, img_height=size.height, img_metadata="",
                      img_bits=size.bits, img_media_type=kind.media_type, img_major_mime=kind.major,
                      img_minor_mime=kind.minor, img_description_id=comment_id, img_actor=actor,
                      img_timestamp=ts, img_sha1=sha1)
        public = files.public_path(self.uploads, name)
        if current is None:
            _write(public, data)
            self.images[name] = dict(img_name=name, **values)
            self.stats["images"] += 1
            action = "upload"
        else:
            archived = files.archive_name(ts, name)
            _write(files.archive_path(self.uploads, name, archived), public.read_bytes())
            self._queue("oldimage", dict(
                oi_name=name, oi_archive_name=archived, oi_size=current["img_size"],
                oi_width=current["img_width"], oi_height=current["img_height"], oi_bits=current["img_bits"],
                oi_description_id=current["img_description_id"], oi_actor=current["img_actor"],
                oi_timestamp=current["img_timestamp"], oi_metadata=current["img_metadata"],
                oi_media_type=current["img_media_type"], oi_major_mime=current["img_major_mime"],
                oi_minor_mime=current["img_minor_mime"], oi_deleted=0, oi_sha1=current["img_sha1"]))
            _write(public, data)
            current.update(values)
            action = "overwrite"
        page = self.pages.get((FILE, name))
        label = self._prefixed(FILE, name)
        if page is None:
            page = self.create_page(FILE, name, op.page_text, editor=editor, summary=op.comment, model="wikitext",
                                    minor=False, timestamp=ts, recent_change=False, creation_log=True)
            rev_id = page.latest
        else:
            note = (f"{editor.name} uploaded a new version of [[{label}]]" if current else
                    f"{editor.name} uploaded [[{label}]]")
            rev_id = self.null_revision(page, actor, self.comment_id(note), ts, minor=False)
        self.log_event(editor, actor, type="upload", action=action, namespace=FILE, dbkey=name, page_id=page.id,
                       comment=comment_id, timestamp=ts, params={"img_sha1": sha1, "img_timestamp": ts},
                       associated_rev=rev_id)

    # --- the end
    def finish(self) -> None:
        """Insert the rows kept in memory and the counters."""
        t = self.t
        for table in list(self.pending):
            self._flush(table)

        def bulk(table: Any, rows: list[dict[str, Any]]) -> None:
            for start in range(0, len(rows), self.BATCH):
                self.conn.execute(insert(table), rows[start:start + self.BATCH])

        bulk(t.page, [dict(
            page_id=p.id, page_namespace=p.namespace, page_title=p.dbkey, page_is_redirect=p.is_redirect,
            page_is_new=p.is_new, page_random=p.random, page_touched=p.touched, page_links_updated=None,
            page_latest=p.latest, page_len=p.length, page_content_model=p.model, page_lang=None)
            for p in sorted(self.pages.values(), key=lambda p: p.id)])
        bulk(t.revision, [self.revisions[r] for r in sorted(self.revisions)])
        if self.temp:
            bulk(t.revision_comment_temp, [dict(revcomment_rev=r, revcomment_comment_id=self.rev_comment[r])
                                           for r in sorted(self.revisions)])
        bulk(t.archive, self.archive)
        bulk(t.recentchanges, [self.rc[r] for r in sorted(self.rc)])
        bulk(t.redirect, [self.redirects[p] for p in sorted(self.redirects)])
        bulk(t.image, list(self.images.values()))
        s = t.site_stats
        self.conn.execute(update(s).values(
            ss_total_edits=s.c.ss_total_edits + self.stats["edits"],
            ss_total_pages=s.c.ss_total_pages + self.stats["pages"],
            ss_good_articles=s.c.ss_good_articles + self.stats["articles"],
            ss_images=s.c.ss_images + self.stats["images"], ss_users=s.c.ss_users + self.stats["users"]))
        u = t.user
        for user_id, count in self.editcount.items():
            self.conn.execute(update(u).where(u.c.user_id == user_id).values(user_editcount=count))


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


