"""git_throttle: login attempts shared by every worker, for throttling failed logins.

A database made after this table was added to gitaccess.wiki.gitschema got it
from the first migration already; the table is created here for databases
made before.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07
"""

from alembic import op
from sqlalchemy import MetaData

from gitaccess.wiki.gitschema import git_tables

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade(prefix: str = "") -> None:
    git_tables(MetaData(), prefix)["git_throttle"].create(op.get_bind(), checkfirst=True)


def downgrade(prefix: str = "") -> None:
    git_tables(MetaData(), prefix)["git_throttle"].drop(op.get_bind(), checkfirst=True)
