"""Reading the wiki: pages, revisions in arrival order, texts, log events, users."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Iterator

from sqlalchemy import Connection, Select, and_, bindparam, or_, select

from gitaccess.errors import UnreadableText
from gitaccess.wiki.content import decode_text, text_row_id
from gitaccess.wiki.database import WikiDatabase
from gitaccess.wiki.schema import Tables
from gitaccess.wiki.types import wiki_timestamp


@dataclass(frozen=True)
class PageInfo:
    id: int
    namespace: int
    dbkey: str
    latest: int
    length: int
    model: str
    is_redirect: bool


@dataclass(frozen=True)
class RevisionInfo:
    """A revision's metadata; the text is read separately (it can be large)."""

    id: int
    page_id: int
    timestamp: str
    user_name: str
    user_id: int
    comment: str
    minor: bool
    deleted: int
    length: int
    sha1: str
    parent_id: int


@dataclass(frozen=True)
class UserInfo:
    id: int
    name: str
    password: str
    email: str
    real_name: str
    editcount: int | None


def _comment_join(db: WikiDatabase, query: Select[Any]) -> Select[Any]:
    """Join a revision query to its comment, wherever this MediaWiki version links it."""
    t = db.tables
    if db.has_comment_temp:
        return query.join(t.revision_comment_temp, t.revision_comment_temp.c.revcomment_rev == t.revision.c.rev_id) \
            .join(t.comment, t.comment.c.comment_id == t.revision_comment_temp.c.revcomment_comment_id)
    return query.join(t.comment, t.comment.c.comment_id == t.revision.c.rev_comment_id)


def revision_text(db: WikiDatabase, conn: Connection, rev_id: int, role: str = "main") -> str:
    """The text of one slot of a revision; UnreadableText when it has none or it cannot be read."""
    row = conn.execute(db.prepared(_slot_address), {"rev": rev_id, "role": role}).first()
    if row is None:
        raise UnreadableText(f"revision {rev_id} has no {role} slot")
    old_id = text_row_id(row[0])
    raw, flags = _stored_text(db, conn, old_id, f"revision {rev_id}")
    return decode_text(raw, flags, f" row {old_id} (revision {rev_id})")


def _stored_text(db: WikiDatabase, conn: Connection, old_id: int, where: str) -> tuple[bytes, str]:
    """A text row's contents and flags; ``where`` names the revision in the error."""
    stored = conn.execute(db.prepared(text_row), {"old_id": old_id}).first()
    if stored is None:
        raise UnreadableText(f"{where}: its text row {old_id} is missing from the database")
    return stored[0], stored[1] or ""


def _slot_address(t: Tables) -> Select[Any]:
    return (select(t.content.c.content_address)
            .select_from(t.slots)
            .join(t.slot_roles, t.slot_roles.c.role_id == t.slots.c.slot_role_id)
            .join(t.content, t.content.c.content_id == t.slots.c.slot_content_id)
            .where(t.slots.c.slot_revision_id == bindparam("rev"), t.slot_roles.c.role_name == bindparam("role")))


def text_row(t: Tables) -> Select[Any]:
    """A text row's contents and flags, by :old_id (for WikiDatabase.prepared)."""
    return select(t.text.c.old_text, t.text.c.old_flags).where(t.text.c.old_id == bindparam("old_id"))


class TextRows:
    """Text rows (contents, flags) by old_id, read a batch ahead of their use.

    Rebuilding history reads every revision's text in order; with a query
    per revision, the queries (with the one per commit for its aliases) were
    a large share of a replay (docs/history.md, "Measurements behind the
    design"). Only the last batch read ahead is kept, so memory holds one
    batch of texts.
    """

    #: Ids per query read ahead (well within every database's limit on bound parameters).
    BATCH = 500

    def __init__(self, db: WikiDatabase) -> None:
        self.db = db
        self._ahead: dict[int, tuple[bytes, str]] = {}

    def read_ahead(self, conn: Connection, addresses: Iterable[str]) -> None:
        """Read the text rows of these content addresses (others are read when asked for,
        and fail then with the reason)."""
        ids = sorted({int(a[3:]) for a in addresses if a and a.startswith("tt:") and a[3:].isdigit()})
        text = self.db.tables.text
        self._ahead = {}
        for start in range(0, len(ids), self.BATCH):
            for old_id, raw, flags in conn.execute(select(text.c.old_id, text.c.old_text, text.c.old_flags)
                                                   .where(text.c.old_id.in_(ids[start:start + self.BATCH]))):
                self._ahead[old_id] = (raw, flags or "")

    def text(self, conn: Connection, address: str, where: str) -> str:
        """The text at a content address; ``where`` names it in errors.

        Raises UnreadableText when the address or its text row cannot be read.
        """
        old_id = text_row_id(address)
        raw, flags = self._ahead.pop(old_id, None) or _stored_text(self.db, conn, old_id, where)
        return decode_text(raw, flags, f" ({where})")


def _page_query(t: Tables) -> Select[Any]:
    p = t.page
    return select(p.c.page_id, p.c.page_namespace, p.c.page_title, p.c.page_latest, p.c.page_len,
                  p.c.page_content_model, p.c.page_is_redirect)


def _page(row: Any) -> PageInfo:
    return PageInfo(row[0], row[1], row[2], row[3], row[4] or 0, row[5] or "wikitext", bool(row[6]))


def pages(db: WikiDatabase, conn: Connection) -> Iterator[PageInfo]:
    """Every existing page, by id."""
    for row in conn.execute(_page_query(db.tables).order_by(db.tables.page.c.page_id)):
        yield _page(row)


def page_by_title(db: WikiDatabase, conn: Connection, namespace: int, dbkey: str, *,
                  lock: bool = False) -> PageInfo | None:
    """The page with this title; ``lock`` holds its row until the transaction ends (writers)."""
    # SQLite's write transactions already lock the database
    query = db.prepared(_page_locked if lock and db.dialect != "sqlite" else _page_by_title)
    row = conn.execute(query, {"namespace": namespace, "title": dbkey}).first()
    return _page(row) if row else None


def _page_by_title(t: Tables) -> Select[Any]:
    p = t.page.c
    return _page_query(t).where(p.page_namespace == bindparam("namespace"), p.page_title == bindparam("title"))


def _page_locked(t: Tables) -> Select[Any]:
    return _page_by_title(t).with_for_update()


def revisions(db: WikiDatabase, conn: Connection, *, after: int = 0, page_id: int | None = None,
              limit: int | None = None) -> Iterator[RevisionInfo]:
    """Revisions in arrival order (by rev_id), optionally of one page, after a given id."""
    t = db.tables
    r = t.revision
    query = _comment_join(
        db,
        select(r.c.rev_id, r.c.rev_page, r.c.rev_timestamp, t.actor.c.actor_name, t.actor.c.actor_user,
               t.comment.c.comment_text, r.c.rev_minor_edit, r.c.rev_deleted, r.c.rev_len, r.c.rev_sha1,
               r.c.rev_parent_id)
        .select_from(r)
        .join(t.actor, t.actor.c.actor_id == r.c.rev_actor),
    ).where(r.c.rev_id > after).order_by(r.c.rev_id)
    if page_id is not None:
        query = query.where(r.c.rev_page == page_id)
    if limit is not None:
        query = query.limit(limit)
    for row in conn.execute(query):
        yield RevisionInfo(row[0], row[1], row[2], row[3], row[4] or 0, row[5] or "", bool(row[6]),
                           row[7] or 0, row[8] or 0, row[9] or "", row[10] or 0)


def user_by_name(db: WikiDatabase, conn: Connection, name: str) -> UserInfo | None:
    u = db.tables.user
    row = conn.execute(
        select(u.c.user_id, u.c.user_name, u.c.user_password, u.c.user_email, u.c.user_real_name,
               u.c.user_editcount).where(u.c.user_name == name)
    ).first()
    return UserInfo(row[0], row[1], row[2] or "", row[3] or "", row[4] or "", row[5]) if row else None


def user_groups(db: WikiDatabase, conn: Connection, user_id: int) -> frozenset[str]:
    """A user's unexpired groups."""
    g = db.tables.user_groups
    now = wiki_timestamp()
    rows = conn.execute(
        select(g.c.ug_group).where(
            g.c.ug_user == user_id, or_(g.c.ug_expiry.is_(None), g.c.ug_expiry > now)
        )
    )
    return frozenset(r[0] for r in rows)


def bot_password(db: WikiDatabase, conn: Connection, user_id: int, app_id: str) -> tuple[str, str, str] | None:
    """(hash, restrictions JSON, grants JSON) of a user's bot password."""
    b = db.tables.bot_passwords
    row = conn.execute(
        select(b.c.bp_password, b.c.bp_restrictions, b.c.bp_grants)
        .where(and_(b.c.bp_user == user_id, b.c.bp_app_id == app_id))
    ).first()
    return (row[0] or "", row[1] or "", row[2] or "") if row else None
