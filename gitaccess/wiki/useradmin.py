"""Accounts of a standalone wiki, as an admin changes them from the command line: passwords,
groups and blocks, the rows MediaWiki's own maintenance scripts and Special:Block write
(MediaWiki 1.39's schema, the one a standalone wiki has: blocks in ``ipblocks``).

Each function works in the caller's transaction; UserMissing names an account that is not
there; database errors pass through as SQLAlchemy raises them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import Connection, delete, insert, select, update

from gitaccess.errors import UserMissing, WikiWriteError
from gitaccess.titles.codec import TitleCodec
from gitaccess.wiki.database import WikiDatabase
from gitaccess.wiki.rows import Editor, WikiRows
from gitaccess.wiki.types import wiki_timestamp


@dataclass(frozen=True)
class Account:
    """An account as `gitaccess user list` shows it."""

    name: str
    groups: tuple[str, ...]
    edits: int
    blocked: bool


def user_id(db: WikiDatabase, conn: Connection, name: str) -> int:
    u = db.tables.user
    found = conn.execute(select(u.c.user_id).where(u.c.user_name == name)).scalar()
    if found is None:
        raise UserMissing(f"there is no user {name!r} on this wiki (`gitaccess user list` shows them)")
    return int(found)


def set_password(db: WikiDatabase, conn: Connection, name: str, password_hash: str) -> None:
    """Replace the password, and the token, so that sessions made with the old one end."""
    u = db.tables.user
    conn.execute(update(u).where(u.c.user_id == user_id(db, conn, name))
                 .values(user_password=password_hash, user_token=uuid.uuid4().hex, user_touched=wiki_timestamp()))


def change_groups(db: WikiDatabase, conn: Connection, name: str, add: tuple[str, ...],
                  remove: tuple[str, ...]) -> tuple[str, ...]:
    """Add and remove groups (as Special:UserRights); the groups the account then has."""
    ident = user_id(db, conn, name)
    ug = db.tables.user_groups
    current = set(conn.execute(select(ug.c.ug_group).where(ug.c.ug_user == ident)).scalars())
    for group in dict.fromkeys(add):
        if group not in current:
            conn.execute(insert(ug).values(ug_user=ident, ug_group=group, ug_expiry=None))
    if remove:
        conn.execute(delete(ug).where(ug.c.ug_user == ident, ug.c.ug_group.in_(remove)))
    return tuple(sorted((current | set(add)) - set(remove)))


def block(db: WikiDatabase, conn: Connection, titles: TitleCodec, name: str, *, by: str, reason: str,
          expiry: str = "infinity") -> None:
    """A sitewide block of the account, as Special:Block writes it; ``expiry`` is
    ``infinity`` or a 14-digit wiki timestamp. WikiWriteError if it is blocked already."""
    ident = user_id(db, conn, name)
    ib = db.tables.ipblocks
    if conn.execute(select(ib.c.ipb_id).where(ib.c.ipb_user == ident)).first() is not None:
        raise WikiWriteError(f"{name!r} is blocked already: unblock it first to block it again")
    rows = WikiRows(db, conn, titles)
    by_actor = rows.actor_id(Editor(by, 0))
    conn.execute(insert(ib).values(
        ipb_address=name, ipb_user=ident, ipb_by_actor=by_actor, ipb_reason_id=rows.comment_id(reason),
        ipb_timestamp=wiki_timestamp(), ipb_expiry=expiry, ipb_range_start="", ipb_range_end="",
        ipb_create_account=1, ipb_enable_autoblock=1, ipb_allow_usertalk=1, ipb_sitewide=1))


def unblock(db: WikiDatabase, conn: Connection, name: str) -> bool:
    """Lift the account's blocks; whether there was one."""
    ib = db.tables.ipblocks
    return conn.execute(delete(ib).where(ib.c.ipb_user == user_id(db, conn, name))).rowcount > 0


def accounts(db: WikiDatabase, conn: Connection) -> list[Account]:
    """Every account, by name, with its groups, edit count and whether a block holds it now."""
    u, ug, ib = db.tables.user, db.tables.user_groups, db.tables.ipblocks
    groups: dict[int, list[str]] = {}
    for ident, group in conn.execute(select(ug.c.ug_user, ug.c.ug_group).order_by(ug.c.ug_group)):
        groups.setdefault(ident, []).append(group)
    now = wiki_timestamp()
    blocked = set(conn.execute(select(ib.c.ipb_user).where(
        (ib.c.ipb_expiry == "infinity") | (ib.c.ipb_expiry > now))).scalars())
    return [Account(name, tuple(groups.get(ident, ())), edits or 0, ident in blocked)
            for ident, name, edits in conn.execute(select(u.c.user_id, u.c.user_name, u.c.user_editcount)
                                                   .order_by(u.c.user_name))]
