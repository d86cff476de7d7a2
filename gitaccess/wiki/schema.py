"""MediaWiki's tables, built from MediaWiki's own abstract schema.

``mediawiki-1.39-tables.json`` is MediaWiki 1.39's ``maintenance/tables.json``
(GPL-2.0-or-later), copied verbatim. Building the SQLAlchemy tables from it
rather than retyping them keeps gitaccess's idea of the schema identical to
MediaWiki's, including the DDL ``gitaccess init`` emits for a standalone wiki.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    Table,
    text,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.types import TypeEngine

from gitaccess.wiki.types import WikiBlob, WikiString, WikiTimestamp

#: Columns that hold raw bytes whose meaning depends on other columns.
BINARY_BLOBS = {("text", "old_text")}


@cache
def abstract_schema() -> tuple[dict[str, Any], ...]:
    """MediaWiki's abstract schema, one dict per table."""
    data = resources.files("gitaccess.wiki").joinpath("mediawiki-1.39-tables.json").read_text("utf-8")
    return tuple(json.loads(data))


def _column_type(table: str, column: dict[str, Any]) -> TypeEngine[Any]:
    kind = column["type"]
    options = column.get("options", {})
    unsigned = bool(options.get("unsigned"))
    if kind == "integer":
        return Integer().with_variant(mysql.INTEGER(unsigned=unsigned), "mysql", "mariadb")
    if kind == "bigint":
        # SQLite only autoincrements a column declared exactly INTEGER.
        return (
            BigInteger()
            .with_variant(mysql.BIGINT(unsigned=unsigned), "mysql", "mariadb")
            .with_variant(Integer(), "sqlite")
        )
    if kind in ("smallint", "mwtinyint"):
        tiny = mysql.TINYINT(unsigned=unsigned) if kind == "mwtinyint" else mysql.SMALLINT(unsigned=unsigned)
        return SmallInteger().with_variant(tiny, "mysql", "mariadb")
    if kind == "float":
        return Float(precision=53).with_variant(mysql.DOUBLE(unsigned=unsigned), "mysql", "mariadb")
    if kind == "mwtimestamp":
        return WikiTimestamp()
    if kind == "datetimetz":
        return DateTime(timezone=True)
    if kind == "mwenum":
        return WikiString("enum", values=tuple(options["CustomSchemaOptions"]["enum_values"]))
    if (table, column["name"]) in BINARY_BLOBS:
        return WikiBlob(options.get("length"))
    return WikiString(kind, options.get("length"), bool(options.get("fixed")))


def _server_default(column: dict[str, Any], dialect: str) -> Any:
    options = column.get("options", {})
    if "default" not in options or options["default"] is None:
        return None
    value = options["default"]
    if column["type"] == "mwtimestamp" and dialect == "postgresql":
        value = f"{value[:4]}-{value[4:6]}-{value[6:8]} {value[8:10]}:{value[10:12]}:{value[12:14]}+00"
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, (int, float)):
        return text(str(value))
    return text("'" + str(value).replace("'", "''") + "'")


def _column(table: str, spec: dict[str, Any], primary_key: list[str], dialect: str) -> Column[Any]:
    options = spec.get("options", {})
    is_pk = spec["name"] in primary_key
    return Column(
        spec["name"],
        _column_type(table, spec),
        nullable=not options.get("notnull", False) and not is_pk,
        autoincrement=bool(options.get("autoincrement")) if is_pk else False,
        server_default=_server_default(spec, dialect),
    )


def _table_options(spec: dict[str, Any]) -> dict[str, str]:
    """MySQL engine and charset: MediaWiki's $wgDBTableOptions unless the table says otherwise."""
    options = {"mysql_engine": "InnoDB", "mysql_charset": "binary"}
    for option in spec.get("table_options", []):
        key, _, value = option.partition("=")
        if key == "ENGINE":
            options["mysql_engine"] = value
        elif key == "DEFAULT CHARSET":
            options["mysql_charset"] = value
    return options


def build_metadata(prefix: str = "", dialect: str = "sqlite") -> MetaData:
    """All of MediaWiki's tables, named with the wiki's table prefix.

    The dialect matters only for column defaults, which MediaWiki writes
    differently for PostgreSQL's timestamp columns.
    """
    metadata = MetaData()
    for spec in abstract_schema():
        name = spec["name"]
        pk = list(spec.get("pk", []))
        columns = [_column(name, c, pk, dialect) for c in spec["columns"]]
        # MediaWiki declares SQLite ids AUTOINCREMENT: an id is never reused after a delete.
        autoincrement = any(c.autoincrement is True for c in columns)
        table = Table(prefix + name, metadata, *columns, sqlite_autoincrement=autoincrement,
                      **_table_options(spec))
        if pk:
            table.append_constraint(PrimaryKeyConstraint(*pk))
        for index in spec.get("indexes", []):
            _index(table, prefix, index)
    return metadata


def _index(table: Table, prefix: str, spec: dict[str, Any]) -> None:
    """One of MediaWiki's indexes, with its MySQL prefix lengths and partial condition."""
    options = spec.get("options", {})
    kwargs: dict[str, Any] = {"unique": bool(spec.get("unique"))}
    lengths = options.get("lengths")
    if lengths:
        kwargs["mysql_length"] = {c: n for c, n in zip(spec["columns"], lengths) if n is not None}
    if "where" in options:
        kwargs["postgresql_where"] = kwargs["sqlite_where"] = text(options["where"])
    if "fulltext" in spec.get("flags", []):
        kwargs["mysql_prefix"] = "FULLTEXT"
    # Index names must be unique per schema on SQLite and PostgreSQL; MediaWiki's are.
    Index(prefix + spec["name"], *[table.c[col] for col in spec["columns"]], **kwargs)


class Tables:
    """Attribute access to the wiki's tables by their unprefixed names: ``t.page``."""

    def __init__(self, metadata: MetaData, prefix: str = "") -> None:
        self.metadata = metadata
        self.prefix = prefix

    def __getattr__(self, name: str) -> Table:
        try:
            return self.metadata.tables[self.prefix + name]
        except KeyError:
            raise AttributeError(name) from None

    def __getitem__(self, name: str) -> Table:
        return self.metadata.tables[self.prefix + name]
