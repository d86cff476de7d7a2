"""Column types that hide how each database stores MediaWiki's columns.

MediaWiki declares most string columns as binary: MariaDB/MySQL hands them back
as ``bytes``, SQLite declares them BLOB but stores text, PostgreSQL uses TEXT
and TIMESTAMPTZ. The rest of gitaccess only ever sees ``str`` for text
columns, ``bytes`` for the revision text blob, and 14-character
``YYYYMMDDHHMMSS`` strings for timestamps, whatever the database.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import types
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import Dialect


def _mysql_blob(length: int | None) -> types.TypeEngine[Any]:
    """MediaWiki's generator picks the smallest MySQL blob type for a length."""
    if length is None or length > 16777215:
        return mysql.LONGBLOB()
    if length <= 255:
        return mysql.TINYBLOB()
    if length <= 65535:
        return mysql.BLOB()
    return mysql.MEDIUMBLOB()


class _SqliteBlob(types.BLOB):
    """A column declared BLOB, as MediaWiki declares it, that passes text through.

    MediaWiki on SQLite stores text in its BLOB columns as SQLite text; binding
    str (not bytes) keeps comparisons with MediaWiki's own rows working.
    """

    cache_ok = True

    def bind_processor(self, dialect: Dialect) -> None:
        return None

    def result_processor(self, dialect: Dialect, coltype: object) -> None:
        return None


class _MysqlEnum(types.UserDefinedType[str]):
    """MySQL's ENUM for the DDL only; values pass through as WikiString converts them."""

    cache_ok = True

    def __init__(self, values: tuple[str, ...]) -> None:
        self.values = values

    def get_col_spec(self, **kw: Any) -> str:
        return "ENUM(" + ", ".join("'" + v.replace("'", "''") + "'" for v in self.values) + ")"


class WikiString(types.TypeDecorator[str]):
    """A binary/blob/string/text/enum column of MediaWiki that holds UTF-8 text."""

    impl = types.Text
    cache_ok = True

    def __init__(self, kind: str = "binary", length: int | None = None, fixed: bool = False,
                 values: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.kind = kind
        self.length = length
        self.fixed = fixed
        self.values = values

    def load_dialect_impl(self, dialect: Dialect) -> types.TypeEngine[Any]:
        if dialect.name in ("mysql", "mariadb"):
            if self.kind == "enum":
                return dialect.type_descriptor(_MysqlEnum(self.values))
            if self.kind == "binary":
                return dialect.type_descriptor(
                    mysql.BINARY(self.length) if self.fixed else mysql.VARBINARY(self.length or 255)
                )
            if self.kind == "string":
                return dialect.type_descriptor(mysql.VARCHAR(self.length or 255))
            if self.kind == "text":
                return dialect.type_descriptor(mysql.MEDIUMTEXT() if (self.length or 0) > 65535 else mysql.TEXT())
            return dialect.type_descriptor(_mysql_blob(self.length))
        if dialect.name == "sqlite":
            if self.kind == "string":
                return dialect.type_descriptor(types.VARCHAR(self.length))
            if self.kind in ("text", "enum"):
                return dialect.type_descriptor(sqlite.TEXT())
            return dialect.type_descriptor(_SqliteBlob())
        return dialect.type_descriptor(types.Text())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if isinstance(value, str) and dialect.name in ("mysql", "mariadb"):
            return value.encode("utf-8")
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        if isinstance(value, (bytes, bytearray, memoryview)):
            raw = bytes(value)
            if self.fixed:
                raw = raw.rstrip(b"\0")
            return raw.decode("utf-8", errors="replace")
        return value


class WikiBlob(types.TypeDecorator[bytes]):
    """``text.old_text``: raw bytes in Python (the flags say how to read them).

    MediaWiki on SQLite stores plain UTF-8 text as SQLite text, so str binds
    are left as they are there; on MySQL everything is bytes.
    """

    impl = types.LargeBinary
    cache_ok = True

    def __init__(self, length: int | None = None) -> None:
        super().__init__()
        self.length = length

    def load_dialect_impl(self, dialect: Dialect) -> types.TypeEngine[Any]:
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(_mysql_blob(self.length))
        if dialect.name == "postgresql":
            return dialect.type_descriptor(types.Text())
        return dialect.type_descriptor(_SqliteBlob())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if dialect.name == "postgresql" and isinstance(value, (bytes, bytearray)):
            # MediaWiki's PostgreSQL layer keeps binary blobs in TEXT as bytea escapes.
            return "\\x" + bytes(value).hex()
        if dialect.name in ("mysql", "mariadb") and isinstance(value, str):
            return value.encode("utf-8")
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> bytes | None:
        if value is None:
            return None
        if isinstance(value, str):
            return value.encode("utf-8")
        return bytes(value)


def wiki_timestamp(moment: datetime | None = None) -> str:
    """A 14-character MediaWiki timestamp (UTC), now unless a moment is given."""
    return (moment or datetime.now(timezone.utc)).astimezone(timezone.utc).strftime("%Y%m%d%H%M%S")


def as_wiki_timestamp(text: str) -> str:
    """A timestamp MediaWiki wrote into a text column (a log entry's serialized parameters)
    as 14 characters: MediaWiki on PostgreSQL writes the database's own form there
    (``2026-12-07 21:35:12+00``), on the other databases the 14 characters already.
    Raises ValueError for text that is neither."""
    if len(text) == 14 and text.isdigit():
        return text
    return wiki_timestamp(datetime.fromisoformat(text))


def _parse_timestamp(text: str) -> datetime:
    return datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=timezone.utc)


class WikiTimestamp(types.TypeDecorator[str]):
    """MediaWiki's ``mwtimestamp``: always ``YYYYMMDDHHMMSS`` in Python."""

    impl = types.String
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> types.TypeEngine[Any]:
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.BINARY(14))
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.TIMESTAMP(timezone=True))
        return dialect.type_descriptor(_SqliteBlob())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if dialect.name == "postgresql":
            # MediaWiki's expiry columns hold 'infinity', which PostgreSQL accepts as is.
            return value if value in ("infinity", "-infinity") else _parse_timestamp(value)
        if dialect.name in ("mysql", "mariadb"):
            return value.encode("ascii")
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        if isinstance(value, datetime):
            return value.astimezone(timezone.utc).strftime("%Y%m%d%H%M%S")
        if isinstance(value, (bytes, bytearray, memoryview)):
            return bytes(value).decode("ascii")
        return str(value)
