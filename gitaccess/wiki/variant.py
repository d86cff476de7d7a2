"""Which MediaWiki schema the database holds, read from the database itself.

MediaWiki does not record its version in the database, but each release
leaves traces in its tables: a table appears or goes, a column goes. The
traces gitaccess looks for are :data:`CHANGES`; the newest one found dates
the schema. gitaccess writes MediaWiki's rows the way 1.39 to 1.43 write
them (where those differ it asks :class:`WikiDatabase` which tables are
there); a change it does not write for, from 1.44 on, makes the wiki
read-only for gitaccess: fetches go on, pushes are refused with
:class:`UnsupportedSchema`, whose message names the change and its version.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import inspect

from gitaccess.errors import WikiWriteError
from gitaccess.wiki.database import WikiDatabase

log = logging.getLogger(__name__)

#: The oldest MediaWiki gitaccess serves, the schema found when none of the changes is.
OLDEST = "1.39"


@dataclass(frozen=True)
class Reflected:
    """The table names and, of the few tables the changes touch, the column names present."""

    names: frozenset[str]
    columns: dict[str, frozenset[str]]

    def has_column(self, table: str, column: str) -> bool:
        return column in self.columns.get(table, frozenset())

    def lacks_column(self, table: str, column: str) -> bool:
        """The table is there without the column (a dropped column, not a missing table)."""
        return table in self.columns and column not in self.columns[table]


@dataclass(frozen=True)
class Change:
    """A change to MediaWiki's schema that gitaccess recognises."""

    version: str
    what: str
    found: Callable[[Reflected], bool]
    #: Whether gitaccess writes correctly on a schema with this change.
    writable: bool


CHANGES = (
    Change("1.41", "revision comments in rev_comment_id (revision_comment_temp gone)",
           lambda t: "revision" in t.names and "revision_comment_temp" not in t.names, writable=True),
    Change("1.41", "temporary accounts (user.user_is_temp)",
           lambda t: t.has_column("user", "user_is_temp"), writable=True),
    Change("1.42", "blocks in block/block_target", lambda t: "block_target" in t.names, writable=True),
    Change("1.43", "ipblocks gone", lambda t: "block_target" in t.names and "ipblocks" not in t.names,
           writable=True),
    Change("1.44", "files in file/filerevision (gitaccess writes only image/oldimage)",
           lambda t: "filerevision" in t.names, writable=False),
    Change("1.45", "recentchanges.rc_new gone", lambda t: t.lacks_column("recentchanges", "rc_new"),
           writable=False),
    Change("1.46", "recentchanges.rc_type gone", lambda t: t.lacks_column("recentchanges", "rc_type"),
           writable=False),
    Change("1.46", "revision.rev_sha1 gone", lambda t: t.lacks_column("revision", "rev_sha1"),
           writable=False),
    Change("1.46", "archive.ar_sha1 gone", lambda t: t.lacks_column("archive", "ar_sha1"),
           writable=False),
)

#: The tables whose columns a change looks at.
_INSPECTED = ("user", "revision", "archive", "recentchanges")


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


@dataclass(frozen=True)
class SchemaVariant:
    """The MediaWiki schema found: its changes since 1.39 and whether gitaccess writes on it."""

    found: tuple[Change, ...]

    @property
    def version(self) -> str:
        """The MediaWiki version of the newest change found, ``1.39`` when none is."""
        return max((c.version for c in self.found), key=_key, default=OLDEST)

    @property
    def unwritable(self) -> tuple[Change, ...]:
        return tuple(c for c in self.found if not c.writable)

    @property
    def writable(self) -> bool:
        return not self.unwritable

    def describe(self) -> str:
        """The version and each change found, on one line."""
        if not self.found:
            return f"MediaWiki {OLDEST} or 1.40"
        changes = "; ".join(f"{c.what} ({c.version})" for c in self.found)
        return f"MediaWiki {self.version}" + ("" if self.writable else " or newer") + f": {changes}"

    def refusal(self) -> str:
        """Why pushes are refused on this schema (empty when they are not)."""
        if self.writable:
            return ""
        changes = "; ".join(f"{c.what} (MediaWiki {c.version})" for c in self.unwritable)
        return (f"this wiki's database has a MediaWiki {self.version} schema, which gitaccess "
                f"serves read-only: it does not write for {changes}")


class UnsupportedSchema(WikiWriteError):
    """The wiki's schema is one gitaccess reads but does not write (a push is refused whole)."""


def detect(db: WikiDatabase) -> SchemaVariant:
    """The schema of the wiki's tables, reflected now (not cached: a wiki may be upgraded
    while gitaccess serves it). Database errors pass to the caller as SQLAlchemy raises them."""
    with db.engine.connect() as conn:
        inspector = inspect(conn)
        names = frozenset(n[len(db.prefix):] for n in inspector.get_table_names() if n.startswith(db.prefix))
        columns = {name: frozenset(c["name"] for c in inspector.get_columns(db.prefix + name))
                   for name in _INSPECTED if name in names}
    reflected = Reflected(names, columns)
    return SchemaVariant(tuple(c for c in CHANGES if c.found(reflected)))


def require_writable(db: WikiDatabase) -> SchemaVariant:
    """The schema found, when gitaccess may write on it; the push path calls this before planning.

    Raises :class:`UnsupportedSchema` (logged as a warning with the same message) when
    it may not; database errors pass as :func:`detect` lets them.
    """
    variant = detect(db)
    if not variant.writable:
        message = variant.refusal()
        log.warning("push refused: %s", message)
        raise UnsupportedSchema(message)
    return variant
