"""Logins against MediaWiki 1.42+'s block tables, declared as each database's MediaWiki declares them."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from gitaccess.auth.accounts import Authenticator
from gitaccess.auth.passwords import hash_password
from gitaccess.site import Site
from gitaccess.wiki.writer import WikiWriter

PASSWORD = "a-long-enough-secret"

#: Column types of MediaWiki 1.43's generated DDL (sql/{mysql,sqlite,postgres}/tables-generated.sql).
TYPES = {
    "postgresql": {"id": "SERIAL NOT NULL", "int": "INT", "bigint": "BIGINT", "small": "SMALLINT",
                   "text": "TEXT", "time": "TIMESTAMPTZ", "options": ""},
    "mysql": {"id": "INT UNSIGNED AUTO_INCREMENT NOT NULL", "int": "INT UNSIGNED", "bigint": "BIGINT UNSIGNED",
              "small": "TINYINT(1)", "text": "VARBINARY(255)", "time": "BINARY(14)",
              "options": " ENGINE=InnoDB DEFAULT CHARSET=binary"},
    "sqlite": {"id": "INTEGER NOT NULL", "int": "INTEGER UNSIGNED", "bigint": "BIGINT UNSIGNED",
               "small": "SMALLINT", "text": "BLOB", "time": "BLOB", "options": ""},
}
TYPES["mariadb"] = TYPES["mysql"]

BLOCK_TARGET = """CREATE TABLE {table}block_target (
  bt_id {id}, bt_address {text} DEFAULT NULL, bt_user {int} DEFAULT NULL, bt_user_text {text} DEFAULT NULL,
  bt_auto {small} DEFAULT 0 NOT NULL, bt_range_start {text} DEFAULT NULL, bt_range_end {text} DEFAULT NULL,
  bt_ip_hex {text} DEFAULT NULL, bt_count {int} DEFAULT 0 NOT NULL, PRIMARY KEY(bt_id)
){options}"""

BLOCK = """CREATE TABLE {table}block (
  bl_id {id}, bl_target {int} NOT NULL, bl_by_actor {bigint} NOT NULL, bl_reason_id {bigint} NOT NULL,
  bl_timestamp {time} NOT NULL, bl_anon_only {small} DEFAULT 0 NOT NULL,
  bl_create_account {small} DEFAULT 1 NOT NULL, bl_enable_autoblock {small} DEFAULT 1 NOT NULL,
  bl_expiry {time} NOT NULL, bl_deleted {small} DEFAULT 0 NOT NULL, bl_block_email {small} DEFAULT 0 NOT NULL,
  bl_allow_usertalk {small} DEFAULT 0 NOT NULL, bl_parent_block_id {int} DEFAULT NULL,
  bl_sitewide {small} DEFAULT 1 NOT NULL, PRIMARY KEY(bl_id)
){options}"""


def expiry_literal(dialect: str, expiry: str) -> str:
    """An expiry as MediaWiki stores it: text on MySQL and SQLite, a timestamp (or infinity) on PostgreSQL."""
    if dialect != "postgresql" or expiry == "infinity":
        return f"'{expiry}'"
    e = expiry
    return f"'{e[:4]}-{e[4:6]}-{e[6:8]} {e[8:10]}:{e[10:12]}:{e[12:]}+00'"


def upgrade_to_block_tables(site: Site) -> None:
    """The wiki's blocks as MediaWiki 1.43 keeps them: ipblocks dropped, block/block_target created
    (on PostgreSQL in MediaWiki's own schema)."""
    db = site.db
    dialect = db.dialect
    table = (f'"{db.pg_schema}".' if dialect == "postgresql" else "") + db.prefix
    with db.engine.begin() as conn:
        conn.execute(text(f"DROP TABLE {table}ipblocks"))
        for ddl in (BLOCK_TARGET, BLOCK):
            conn.execute(text(ddl.format(table=table, **TYPES[dialect])))
    db.forget_schema()


def block(site: Site, user_id: int, name: str, expiry: str) -> None:
    """A sitewide block of the account until ``expiry``, with its target row, as Special:Block writes them."""
    db = site.db
    with db.engine.begin() as conn:
        target = conn.execute(
            text(f"INSERT INTO {db.prefix}block_target (bt_user, bt_user_text, bt_count) VALUES (:user, :name, 1)"),
            {"user": user_id, "name": name},
        )
        target_id = target.lastrowid if db.dialect != "postgresql" else conn.execute(
            text(f"SELECT bt_id FROM {db.prefix}block_target WHERE bt_user = :user"), {"user": user_id}).scalar_one()
        conn.execute(text(
            f"INSERT INTO {db.prefix}block (bl_target, bl_by_actor, bl_reason_id, bl_timestamp, bl_expiry) "
            f"VALUES (:target, 1, 1, {expiry_literal(db.dialect, '20240101000000')}, "
            f"{expiry_literal(db.dialect, expiry)})"), {"target": target_id})


@pytest.mark.parametrize("expiry, blocked", [(None, False), ("20010101000000", False), ("infinity", True),
                                             ("29990101000000", True)],
                         ids=["never-blocked", "expired", "infinite", "future"])
def test_login_with_mediawiki_143_block_tables(wiki: Site, expiry: str | None, blocked: bool) -> None:
    upgrade_to_block_tables(wiki)
    with wiki.db.write() as conn:
        writer = WikiWriter(wiki.db, conn)
        writer.create_user("Alice", hash_password(PASSWORD), ("sysop",))
        carol = writer.create_user("Carol", hash_password(PASSWORD), ("sysop",))
    if expiry is not None:
        block(wiki, carol, "Carol", expiry)
    auth = Authenticator(wiki)
    account = auth.authenticate("Carol", PASSWORD, "127.0.0.1")
    assert account.blocked is blocked
    assert account.can_read and account.can_push  # a block is told apart from the right to push
    assert not auth.authenticate("Alice", PASSWORD, "127.0.0.1").blocked
