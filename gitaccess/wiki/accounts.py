"""Rows about accounts beyond ``user``: two-factor enrolment and blocks.

Which tables hold them depends on what the wiki runs, so each query looks
for its tables rather than assuming them: OATHAuth 1.41+ keeps enrolments
in ``oathauth_devices``, older versions in ``oathauth_users``; MediaWiki
1.42+ keeps blocks in ``block``/``block_target``, older versions in
``ipblocks``. The table list is the one :class:`WikiDatabase` read
(``forget_schema`` makes it read it again).
"""

from __future__ import annotations

from sqlalchemy import Connection, column, or_, select, table

from gitaccess.wiki.database import WikiDatabase
from gitaccess.wiki.types import wiki_timestamp

#: OATHAuth's tables naming enrolled users, newest first: (table, user id column).
_TWO_FACTOR_TABLES = (("oathauth_devices", "oad_user"), ("oathauth_users", "id"))


def has_two_factor(db: WikiDatabase, conn: Connection, user_id: int) -> bool:
    """Whether OATHAuth holds a second factor for the user (False without OATHAuth)."""
    for name, id_column in _TWO_FACTOR_TABLES:
        if name in db.table_names:
            query = select(column(id_column)).select_from(table(db.prefix + name)).where(
                column(id_column) == user_id
            )
            if conn.execute(query.limit(1)).first() is not None:
                return True
    return False


def is_blocked(db: WikiDatabase, conn: Connection, user_id: int) -> bool:
    """Whether an unexpired sitewide or partial block targets the account."""
    now = wiki_timestamp()
    if "block_target" in db.table_names:
        # MediaWiki 1.42+ schema, not in the 1.39 table definitions gitaccess carries.
        bt = table(db.prefix + "block_target", column("bt_id"), column("bt_user"))
        b = table(db.prefix + "block", column("bl_target"), column("bl_expiry"))
        query = select(b.c.bl_target).join(bt, bt.c.bt_id == b.c.bl_target).where(
            bt.c.bt_user == user_id, or_(b.c.bl_expiry == "infinity", b.c.bl_expiry > now)
        )
    else:
        ib = db.tables.ipblocks
        query = select(ib.c.ipb_id).where(
            ib.c.ipb_user == user_id, or_(ib.c.ipb_expiry == "infinity", ib.c.ipb_expiry > now)
        )
    return conn.execute(query.limit(1)).first() is not None
