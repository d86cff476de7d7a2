"""Shared fixtures: real databases (SQLite always; MariaDB and PostgreSQL when reachable).

Each test run makes its own databases with unique names and drops them.
MariaDB is found at GITACCESS_TEST_MYSQL (default root@127.0.0.1:3306),
PostgreSQL at GITACCESS_TEST_POSTGRES (default postgres@127.0.0.1:5432).
Missing servers skip their tests with the reason shown; with
GITACCESS_REQUIRE_ALL=1 (set by .ci/run) they fail instead.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Iterator

import pytest
import sqlalchemy
from sqlalchemy.engine import make_url

from gitaccess.config import Config
from gitaccess.site import Site
from gitaccess.wiki import standalone

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
MYSQL_SERVER = os.environ.get("GITACCESS_TEST_MYSQL", "mysql+pymysql://root@127.0.0.1:3306/")
POSTGRES_SERVER = os.environ.get("GITACCESS_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REQUIRE_ALL = os.environ.get("GITACCESS_REQUIRE_ALL") == "1"


def unavailable(reason: str) -> None:
    """Skip with a visible reason, or fail when the run must not skip (CI)."""
    if REQUIRE_ALL:
        pytest.fail(f"{reason} (GITACCESS_REQUIRE_ALL=1: nothing may be skipped)")
    pytest.skip(reason)


def _admin_engine(server: str) -> sqlalchemy.Engine:
    return sqlalchemy.create_engine(server, isolation_level="AUTOCOMMIT", pool_pre_ping=True)


def _reachable(server: str) -> str | None:
    try:
        with _admin_engine(server).connect() as conn:
            conn.execute(sqlalchemy.text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        return f"{make_url(server).get_backend_name()} not reachable at {server}: {exc.__class__.__name__}"
    return None


class DatabaseFactory:
    """Makes empty databases of one kind and drops them at the end of the session."""

    def __init__(self, kind: str, tmp: Path) -> None:
        self.kind = kind
        self.tmp = tmp
        self.created: list[str] = []

    def new_url(self) -> str:
        name = "gitaccess_test_" + uuid.uuid4().hex[:12]
        if self.kind == "sqlite":
            return f"sqlite:///{self.tmp / (name + '.sqlite')}"
        server = MYSQL_SERVER if self.kind == "mariadb" else POSTGRES_SERVER
        reason = _reachable(server)
        if reason:
            unavailable(reason)
        with _admin_engine(server).connect() as conn:
            conn.execute(sqlalchemy.text(f"CREATE DATABASE {name}"))
        self.created.append(name)
        url = make_url(server).set(database=name)
        return url.render_as_string(hide_password=False)

    def drop_all(self) -> None:
        if not self.created:
            return
        server = MYSQL_SERVER if self.kind == "mariadb" else POSTGRES_SERVER
        engine = _admin_engine(server)
        with engine.connect() as conn:
            for name in self.created:
                if self.kind == "postgresql":
                    conn.execute(sqlalchemy.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                else:
                    conn.execute(sqlalchemy.text(f"DROP DATABASE IF EXISTS {name}"))
        engine.dispose()


@pytest.fixture(scope="session", params=["sqlite", "mariadb", "postgresql"])
def database_factory(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatabaseFactory]:
    """One factory per database kind; tests using it run once per kind."""
    factory = DatabaseFactory(request.param, tmp_path_factory.mktemp(request.param))
    yield factory
    factory.drop_all()


@pytest.fixture
def empty_url(database_factory: DatabaseFactory) -> str:
    """The URL of a new, empty database."""
    return database_factory.new_url()


@pytest.fixture
def make_site(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Build a Site for a database URL with extra configuration."""
    sites: list[Site] = []

    def make(url: str, **config: object) -> Site:
        site = Site(Config(database_url=url, data_directory=tmp_path / "data",
                           upload_directory=tmp_path / "images", **config))  # type: ignore[arg-type]
        sites.append(site)
        return site

    yield make
    for site in sites:
        if "db" in site.__dict__:
            site.db.dispose()


@pytest.fixture
def wiki(empty_url: str, make_site) -> Site:  # type: ignore[no-untyped-def]
    """A fresh standalone wiki on each database kind."""
    site = make_site(empty_url)
    standalone.create(site.db)
    return site
