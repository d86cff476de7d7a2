"""The schema update script: gitaccess's tables on any MediaWiki database, through Alembic."""

from __future__ import annotations

from importlib import resources

from alembic import command
from alembic.config import Config as AlembicConfig

from gitaccess.wiki.database import WikiDatabase


def upgrade(db: WikiDatabase) -> None:
    """Bring gitaccess's tables to the newest migration; a second run changes nothing."""
    location = resources.files("gitaccess.migrations")
    config = AlembicConfig()
    config.set_main_option("script_location", str(location))
    config.attributes["prefix"] = db.prefix
    with db.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
    db.forget_schema()
