"""The connection to the wiki's database and what differs between its versions.

One :class:`WikiDatabase` per process: it owns the SQLAlchemy engine, the
tables named with the wiki's prefix, and the schema facts gitaccess must
detect rather than assume (MediaWiki 1.39 keeps revision comments in
``revision_comment_temp``, later versions in ``rev_comment_id``; 1.42 moved
blocks from ``ipblocks`` to ``block``/``block_target``).
"""

from __future__ import annotations

from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

from sqlalchemy import Connection, Engine, Executable, Insert, MetaData, Table, create_engine, event, insert, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from gitaccess.engines import pooled_per_process
from gitaccess.errors import ConfigError, DatabaseError
from gitaccess.wiki.gitschema import git_tables
from gitaccess.wiki.schema import Tables, build_metadata

S = TypeVar("S", bound=Executable)


_ROLLBACK = "gitaccess_on_rollback"
_COMMIT = "gitaccess_after_commit"


def on_rollback(conn: Connection, undo: Callable[[], None]) -> None:
    """Run ``undo`` if the write transaction on ``conn`` is rolled back."""
    conn.info.setdefault(_ROLLBACK, []).append(undo)


def after_commit(conn: Connection, action: Callable[[], None]) -> None:
    """Run ``action`` once the write transaction on ``conn`` has committed."""
    conn.info.setdefault(_COMMIT, []).append(action)


def _quote_identifier(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise ConfigError(f"database schema name {name!r} must be letters, digits and underscores")
    return '"' + name + '"'


def make_engine(url: str, pg_schema: str = "mediawiki") -> Engine:
    """An engine set up the way MediaWiki uses each database.

    Raises ConfigError for a URL that is not one, a bad PostgreSQL schema
    name, or a database whose driver is not installed.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(f"database URL {url!r} is not a URL such as sqlite:///wiki.sqlite") from None
    backend = parsed.get_backend_name()
    kwargs: dict[str, Any] = {}
    if backend == "sqlite":
        # Pooled: a fetch makes many short transactions, and opening the file and setting its
        # journal mode for each cost more than the fetch's own work (docs/history.md). No
        # limit on connections beyond the pool's own.
        kwargs["max_overflow"] = -1
        kwargs["connect_args"] = {"timeout": 60}
    elif backend == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif backend in ("mysql", "mariadb") and parsed.drivername in ("mysql", "mariadb"):
        parsed = parsed.set(drivername=backend + "+pymysql")
    if backend in ("mysql", "mariadb"):
        kwargs["pool_recycle"] = 3600
        # MediaWiki's columns are binary whatever the connection's charset;
        # utf8mb4 makes gitaccess's own text columns come back as str.
        kwargs["connect_args"] = {"charset": "utf8mb4"}
        # Each statement sees what other transactions committed, as on PostgreSQL:
        # a push checks the journal and then reads pages, and both must agree.
        kwargs["isolation_level"] = "READ COMMITTED"
    try:
        engine = create_engine(parsed, **kwargs)
    except (NoSuchModuleError, ImportError) as exc:
        raise ConfigError(
            f"no driver for {backend}: install gitaccess[mysql] or gitaccess[postgresql] ({exc})"
        ) from None
    pooled_per_process(engine)
    if backend == "sqlite":
        _sqlite_transactions(engine)
    elif backend == "postgresql":
        search_path = f"{_quote_identifier(pg_schema)}, public"

        @event.listens_for(engine, "connect")
        def _set_search_path(dbapi_connection: Any, _record: Any) -> None:
            # MediaWiki keeps its tables in their own schema ($wgDBmwschema).
            with dbapi_connection.cursor() as cursor:
                cursor.execute("SET search_path TO " + search_path)
            dbapi_connection.commit()

    return engine


def _sqlite_transactions(engine: Engine) -> None:
    """Take SQLite's write lock at BEGIN so writers queue instead of deadlocking.

    pysqlite's own transaction handling begins lazily; gitaccess's write
    transactions read then write, and two of them upgrading their locks at
    once would fail with "database is locked" instead of waiting.
    """

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        dbapi_connection.execute("PRAGMA journal_mode=WAL")

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        immediate = connection.get_execution_options().get("sqlite_immediate", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class WikiDatabase:
    """The wiki's database: engine, tables and detected schema features.

    Raises ConfigError as :func:`make_engine` does; nothing is connected yet.
    """

    def __init__(self, url: str, prefix: str = "", pg_schema: str = "mediawiki") -> None:
        self.url = url
        self.prefix = prefix
        self.pg_schema = pg_schema
        self.engine = make_engine(url, pg_schema)
        self.metadata = build_metadata(prefix, self.engine.dialect.name)
        git_tables(self.metadata, prefix)
        self.tables = Tables(self.metadata, prefix)
        self._prepared: dict[Callable[[Tables], Executable], Executable] = {}
        self._inserts: dict[Table, Insert] = {}

    def prepared(self, build: Callable[[Tables], S]) -> S:
        """The statement ``build`` makes from these tables, made once.

        Hot paths (an edit writes some thirty rows) execute the same statements
        with bound parameters: SQLAlchemy then finds their compiled SQL by a
        key it computed once, instead of building and keying each statement
        anew. ``build`` must be a module-level function: it is the cache key.
        """
        statement = self._prepared.get(build)
        if statement is None:
            statement = self._prepared[build] = build(self.tables)
        return statement  # type: ignore[return-value]

    def insert_into(self, table: Table) -> Insert:
        """``INSERT INTO table``, made once; values are given as parameters when executed."""
        statement = self._inserts.get(table)
        if statement is None:
            statement = self._inserts[table] = insert(table)
        return statement

    @property
    def display_url(self) -> str:
        """The URL without its password, for messages."""
        return self.engine.url.render_as_string(hide_password=True)

    @property
    def sqlite_path(self) -> Path | None:
        """The file of an SQLite database (None for other databases and in-memory ones)."""
        if self.dialect != "sqlite" or self.engine.url.database in (None, "", ":memory:"):
            return None
        return Path(self.engine.url.database)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @cached_property
    def table_names(self) -> frozenset[str]:
        """Unprefixed names of the tables present, read once."""
        names = inspect(self.engine).get_table_names()
        return frozenset(n[len(self.prefix):] for n in names if n.startswith(self.prefix))

    def forget_schema(self) -> None:
        """Read the table list again next time (after gitaccess created tables)."""
        self.__dict__.pop("table_names", None)

    @property
    def has_comment_temp(self) -> bool:
        """MediaWiki 1.39 links revisions to comments through revision_comment_temp."""
        return "revision_comment_temp" in self.table_names

    def require_wiki(self) -> None:
        """Raise DatabaseError, saying what to check, when the database holds no MediaWiki schema."""
        missing = {"page", "revision", "slots", "content", "text", "actor", "comment"} - self.table_names
        if missing:
            raise DatabaseError(
                f"{self.display_url} has no MediaWiki tables "
                f"({', '.join(sorted(missing))} missing, table prefix {self.prefix!r}): "
                "run `gitaccess init` for a new wiki, or check --db and table_prefix"
            )

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection for reading, in one transaction for a consistent view."""
        with self.engine.connect() as conn, conn.begin():
            yield conn

    @cached_property
    def job_queue(self) -> Engine | None:
        """MediaWiki on SQLite keeps its job queue in a file of its own beside the wiki's.

        Its installer configures JobQueueDB with the database ``<name>_jobqueue``;
        when that file exists, jobs go there, after the wiki's transaction commits.
        """
        path = self.sqlite_path
        if path is None:
            return None
        queue = path.with_name(path.stem + "_jobqueue" + path.suffix)
        return make_engine(f"sqlite:///{queue}") if queue.exists() else None

    def queue_job(self, conn: Connection, row: dict[str, Any]) -> None:
        """Queue a MediaWiki job: in the same transaction, or after it commits for a separate queue."""
        if self.job_queue is None:
            conn.execute(self.insert_into(self.tables.job), row)
        else:
            after_commit(conn, lambda: self._insert_job(row))

    def _insert_job(self, row: dict[str, Any]) -> None:
        assert self.job_queue is not None
        # The installer creates the queue's job table without the wiki's table prefix.
        job = self.tables.job.to_metadata(MetaData(), name="job")
        with self.job_queue.begin() as queue:
            queue.execute(insert(job).values(**row))

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction: committed when the block ends, rolled back on any error.

        Work outside the database (files in the upload directory, jobs in a
        separate queue) registers with :func:`on_rollback` and
        :func:`after_commit`, so it follows the transaction's outcome.
        """
        with self.engine.connect() as conn:
            conn = conn.execution_options(sqlite_immediate=True)
            conn.info.pop(_ROLLBACK, None)  # a pooled connection's info outlives its transactions
            conn.info.pop(_COMMIT, None)
            try:
                with conn.begin():
                    yield conn
            except BaseException:
                for undo in reversed(conn.info.pop(_ROLLBACK, [])):
                    undo()
                conn.info.pop(_COMMIT, None)
                raise
            conn.info.pop(_ROLLBACK, None)
            for action in conn.info.pop(_COMMIT, []):
                action()

    def dispose(self) -> None:
        self.engine.dispose()
        if self.__dict__.get("job_queue") is not None:
            self.job_queue.dispose()
