"""Alembic environment: gitaccess passes the connection and the wiki's table prefix.

Run through ``gitaccess db upgrade`` (gitaccess.wiki.migrate), never with a
bare ``alembic`` command: the table prefix and the database come from
gitaccess's configuration.
"""

from alembic import context

config = context.config
connection = config.attributes["connection"]
prefix = config.attributes.get("prefix", "")

context.configure(
    connection=connection,
    version_table=prefix + "gitaccess_version",
    transactional_ddl=connection.dialect.name != "mysql",
)
with context.begin_transaction():
    context.run_migrations(prefix=prefix)
