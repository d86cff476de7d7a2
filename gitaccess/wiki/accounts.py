"""Rows about accounts beyond ``user``: two-factor enrolment and blocks.

Which tables hold them depends on what the wiki runs, so each query looks
for its tables rather than assuming them: OATHAuth 1.41+ keeps enrolments
in ``oathauth_devices``, older versions in ``oathauth_users``; MediaWiki
1.42+ keeps blocks in ``block``/``block_target``, older versions in
``ipblocks``. The table list is the one :class:`WikiDatabase` read
(``forget_schema`` makes it read it again).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, DateTime, Integer, Select, bindparam, column, inspect, or_, select, table
from sqlalchemy.types import TypeEngine

from gitaccess.wiki.database import WikiDatabase
from gitaccess.wiki.types import WikiString, WikiTimestamp, wiki_timestamp

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


class BlockCheck:
    """Whether an unexpired sitewide or partial block targets an account.

    Expiries are compared as the database declares the expiry column, read
    by reflection the first time each block table is queried: MediaWiki on
    MySQL/MariaDB and SQLite keeps them as 14-digit text or ``infinity``,
    on PostgreSQL as ``timestamp with time zone``, which refuses a
    comparison with text (``operator does not exist: timestamp with time
    zone = character varying``). Which table holds blocks is decided on each
    call from :attr:`WikiDatabase.table_names`, so a wiki upgraded to 1.42
    is followed once the database has forgotten its schema. One instance
    serves one wiki. Database errors pass to the caller as SQLAlchemy raises them.
    """

    def __init__(self) -> None:
        self._queries: dict[str, Select[Any]] = {}

    def is_blocked(self, db: WikiDatabase, conn: Connection, user_id: int) -> bool:
        holder = "block" if "block_target" in db.table_names else "ipblocks"
        query = self._queries.get(holder)
        if query is None:
            query = self._queries[holder] = _block_query(db, conn, holder)
        return conn.execute(query, {"user": user_id, "now": wiki_timestamp()}).first() is not None


def _block_query(db: WikiDatabase, conn: Connection, holder: str) -> Select[Any]:
    """Any block of :user unexpired at :now, in ``block``/``block_target`` (MediaWiki 1.42+,
    not in the 1.39 table definitions gitaccess carries) or ``ipblocks``."""
    if holder == "block":
        expiry = column("bl_expiry", _expiry_type(db, conn, "block", "bl_expiry"))
        bt = table(db.prefix + "block_target", column("bt_id", Integer), column("bt_user", Integer))
        b = table(db.prefix + "block", column("bl_target", Integer), expiry)
        query = select(b.c.bl_target).join(bt, bt.c.bt_id == b.c.bl_target).where(bt.c.bt_user == bindparam("user"))
    else:
        expiry = column("ipb_expiry", _expiry_type(db, conn, "ipblocks", "ipb_expiry"))
        ib = table(db.prefix + "ipblocks", column("ipb_id", Integer), column("ipb_user", Integer), expiry)
        query = select(ib.c.ipb_id).where(ib.c.ipb_user == bindparam("user"))
    return query.where(or_(expiry == "infinity", expiry > bindparam("now", type_=expiry.type))).limit(1)


def _expiry_type(db: WikiDatabase, conn: Connection, name: str, expiry: str) -> TypeEngine[str]:
    """How to bind an expiry (14 digits or ``infinity``) for the column as the database declares it:
    as a timestamp for a date-time column, as text otherwise."""
    declared = next(c["type"] for c in inspect(conn).get_columns(db.prefix + name) if c["name"] == expiry)
    if isinstance(declared, DateTime):
        return WikiTimestamp()
    return WikiString("binary", 14, fixed=True)
