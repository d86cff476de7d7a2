"""git_throttle on each database: added to a wiki made before it, and named when it is missing."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import MetaData, text

from gitaccess.errors import DatabaseError
from gitaccess.site import Site
from gitaccess.wiki import migrate
from gitaccess.wiki.gitschema import git_tables
from gitaccess.wiki.throttle import LoginAttempts


def as_made_before_throttling(site: Site) -> None:
    """Take the wiki back to gitaccess's first migration, before git_throttle existed."""
    db = site.db
    git_tables(MetaData(), db.prefix)["git_throttle"].drop(db.engine)
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE gitaccess_version SET version_num = '0001'"))
    db.forget_schema()


def test_an_upgrade_adds_git_throttle_to_a_wiki_made_before_it(wiki: Site) -> None:
    as_made_before_throttling(wiki)
    attempts = LoginAttempts(wiki.db)
    with pytest.raises(DatabaseError, match="run `gitaccess db upgrade` and restart"):
        attempts.start("Admin", "192.0.2.1", 1000.0, 1060.0)
    migrate.upgrade(wiki.db)
    with wiki.db.engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM gitaccess_version")).scalar() == "0002"
    first = attempts.start("Admin", "192.0.2.1", 1000.0, 1060.0)
    second = attempts.start("Admin", "192.0.2.2", 1001.0, 1061.0)
    assert attempts.address_failures("192.0.2.1", 1002.0, other_than=second) == [1060.0]
    assert sorted(attempts.account_failures("Admin", 1002.0, other_than=first)) == [1061.0]
    attempts.succeeded(second, "Admin", "192.0.2.2", 5000.0)
    assert attempts.is_known("Admin", "192.0.2.2", 1003.0)
    assert not attempts.is_known("Admin", "192.0.2.1", 1003.0)
    assert attempts.account_failures("Admin", 1060.0, other_than=0) == []  # the first failure expired


def test_logins_at_once_from_many_threads_all_count(wiki: Site) -> None:
    """Concurrent logins collide on the table (InnoDB's gap locks make MariaDB pick deadlock
    victims): each write is tried again, and no login fails over it."""
    attempts = LoginAttempts(wiki.db)
    errors: list[BaseException] = []

    def logins(number: int) -> None:
        try:
            for round_ in range(25):
                now = time.time()
                attempt = attempts.start(f"User {number % 3}", f"192.0.2.{number}", now, now + 60)
                if round_ % 2:
                    attempts.succeeded(attempt, f"User {number % 3}", f"192.0.2.{number}", now + 3600)
                else:
                    attempts.withdraw(attempt)
        except BaseException as exc:  # noqa: BLE001 - any error fails the test below
            errors.append(exc)

    threads = [threading.Thread(target=logins, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors[0]
