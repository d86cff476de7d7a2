"""The schema update script: gitaccess's tables on any MediaWiki database, through Alembic."""

from __future__ import annotations

from importlib import resources

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from gitaccess.wiki.database import WikiDatabase


def _config(db: WikiDatabase) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(resources.files("gitaccess.migrations")))
    config.attributes["prefix"] = db.prefix
    return config


def upgrade(db: WikiDatabase) -> None:
    """Bring gitaccess's tables to the newest migration; a second run changes nothing."""
    config = _config(db)
    with db.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
    db.forget_schema()


def installed_revision(db: WikiDatabase) -> str | None:
    """The migration gitaccess's tables are at (None before the first ``db upgrade``)."""
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": db.prefix + "gitaccess_version"})
        return context.get_current_revision()


def newest_revision(db: WikiDatabase) -> str | None:
    """The newest migration this gitaccess carries (what ``db upgrade`` brings the tables to)."""
    return ScriptDirectory.from_config(_config(db)).get_current_head()
