"""gitaccess's own tables, added beside MediaWiki's (names from the original extension).

``git_hash`` is the journal: one row per commit ever served, in order, with
everything needed to rebuild it byte for byte; ``git_throttle`` holds recent
login attempts, shared by every worker (gitaccess.wiki.throttle). Migrations under
``migrations/`` create and evolve these tables; this module is what the code
queries: the first migration creates every table defined here, and each
later one adds its tables to a database made before it.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Double, Index, Integer, LargeBinary, MetaData, SmallInteger, Table
from sqlalchemy.dialects import mysql

from gitaccess.wiki.types import WikiString

# SQLite only autoincrements a column declared exactly INTEGER.
_BIGID = BigInteger().with_variant(Integer(), "sqlite")
_RAW = LargeBinary().with_variant(mysql.LONGBLOB(), "mysql", "mariadb")


def _sha() -> WikiString:
    return WikiString("string", 40)


def git_tables(metadata: MetaData, prefix: str = "") -> dict[str, Table]:
    """Define gitaccess's tables in ``metadata``; returns them by unprefixed name."""
    tables = [
        Table(
            prefix + "git_hash", metadata,
            Column("gh_seq", _BIGID, primary_key=True, autoincrement=True),
            Column("gh_sha1", _sha(), nullable=False, unique=True),
            Column("gh_tree", _sha(), nullable=False),
            Column("gh_parents", WikiString("string", 615), nullable=False, default=""),
            Column("gh_author_name", WikiString("string", 255), nullable=False),
            Column("gh_author_email", WikiString("string", 255), nullable=False),
            Column("gh_author_time", BigInteger, nullable=False),
            Column("gh_author_tz", SmallInteger, nullable=False),
            Column("gh_committer_name", WikiString("string", 255), nullable=False),
            Column("gh_committer_email", WikiString("string", 255), nullable=False),
            Column("gh_committer_time", BigInteger, nullable=False),
            Column("gh_committer_tz", SmallInteger, nullable=False),
            Column("gh_kind", WikiString("string", 16), nullable=False),
            Column("gh_message", WikiString("text", 65535), nullable=False),
            Column("gh_raw", _RAW, nullable=True),
            # What replaying the commit needs to decide exactly as the first time: the
            # largest revision id of the batch that made it, and the journal's log mark
            # before that batch.
            Column("gh_rev_mark", BigInteger, nullable=True),
            Column("gh_log_mark", BigInteger, nullable=True),
            # The repository layout (git_site key "layout:<n>") the commit's tree was made with.
            Column("gh_layout", Integer, nullable=False, default=1),
            sqlite_autoincrement=True,
        ),
        Table(
            prefix + "git_edit_hash", metadata,
            Column("geh_sha1", _sha(), primary_key=True),
            Column("geh_rev_id", Integer, primary_key=True),
            Index(prefix + "geh_rev_id", "geh_rev_id"),
        ),
        Table(
            prefix + "git_status_modify_hash", metadata,
            Column("gsmh_sha1", _sha(), primary_key=True),
            Column("gsmh_log_id", Integer, primary_key=True),
            Index(prefix + "gsmh_log_id", "gsmh_log_id"),
        ),
        Table(
            prefix + "git_alias", metadata,
            Column("ga_id", _BIGID, primary_key=True, autoincrement=True),
            Column("ga_path", WikiString("string", 767), nullable=False, unique=True),
            Column("ga_namespace", Integer, nullable=False),
            Column("ga_title", WikiString("string", 255), nullable=False),
            # The journal position (git_hash.gh_seq) of the commit that first published the alias,
            # and of the pushed commit whose Aliases.xml dropped it (gitaccess itself never does).
            Column("ga_seq", BigInteger, nullable=False),
            Column("ga_until", BigInteger, nullable=True),
            Index(prefix + "ga_title", "ga_namespace", "ga_title"),
            sqlite_autoincrement=True,
        ),
        Table(
            prefix + "git_object", metadata,
            Column("go_sha1", _sha(), primary_key=True),
            Column("go_type", SmallInteger, nullable=False),
            Column("go_data", _RAW, nullable=False),
            # The pushed first-parent commit that brought the object (its side branch).
            Column("go_push", _sha(), nullable=False),
            Index(prefix + "go_push", "go_push"),
        ),
        Table(
            prefix + "git_site", metadata,
            Column("gs_key", WikiString("string", 64), primary_key=True),
            Column("gs_value", WikiString("text", 65535), nullable=False),
        ),
        Table(
            prefix + "git_throttle", metadata,
            Column("gt_id", _BIGID, primary_key=True, autoincrement=True),
            # The canonical user name the login was for, and the client's address (an IPv6
            # client's /64 network).
            Column("gt_account", WikiString("string", 255), nullable=False),
            Column("gt_address", WikiString("string", 255), nullable=False),
            # 0: a failed login, or one whose password is being checked; 1: a successful one,
            # which makes the address known for the account.
            Column("gt_known", SmallInteger, nullable=False),
            # When the row stops counting, in seconds since the epoch.
            Column("gt_expires", Double, nullable=False),
            Index(prefix + "gt_account", "gt_account", "gt_expires"),
            Index(prefix + "gt_address", "gt_address", "gt_expires"),
            Index(prefix + "gt_expires", "gt_expires"),
            sqlite_autoincrement=True,
        ),
    ]
    return {t.name[len(prefix):]: t for t in tables}
