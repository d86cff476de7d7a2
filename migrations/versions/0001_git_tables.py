"""gitaccess's tables: journal, edit and log links, aliases, stored objects, site settings.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from alembic import op
from sqlalchemy import MetaData

from gitaccess.wiki.gitschema import git_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade(prefix: str = "") -> None:
    metadata = MetaData()
    git_tables(metadata, prefix)
    # checkfirst: a table left by an interrupted earlier run is kept, not recreated.
    metadata.create_all(op.get_bind(), checkfirst=True)


def downgrade(prefix: str = "") -> None:
    metadata = MetaData()
    git_tables(metadata, prefix)
    metadata.drop_all(op.get_bind())
