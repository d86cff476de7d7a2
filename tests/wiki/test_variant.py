"""The MediaWiki schema gitaccess finds in a database, and the pushes it refuses on one it does not write.

A standalone wiki has MediaWiki 1.39's tables; each test reshapes it the way
a later release does (a table made or dropped, a column dropped) on every
database kind. The real 1.43 is checked in tests/interop/ against MediaWiki itself.
"""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest
from sqlalchemy import text

from gitaccess.site import Site
from gitaccess.wiki import migrate, variant


def reshape(site: Site, *statements: str) -> None:
    with site.db.engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))


def test_a_standalone_wiki_has_the_1_39_schema_and_takes_pushes(wiki: Site) -> None:
    found = variant.require_writable(wiki.db)
    assert found.version == "1.39" and found.found == () and found.refusal() == ""
    assert found.describe() == "MediaWiki 1.39 or 1.40"


def test_the_1_43_block_tables_are_recognised_and_written(wiki: Site) -> None:
    reshape(wiki, "CREATE TABLE block_target (bt_id INTEGER PRIMARY KEY, bt_user INTEGER)",
            "DROP TABLE ipblocks", "DROP TABLE revision_comment_temp")
    found = variant.require_writable(wiki.db)
    assert found.version == "1.43"
    assert [c.version for c in found.found] == ["1.41", "1.42", "1.43"]


@pytest.mark.parametrize("change", [
    "CREATE TABLE filerevision (fr_id INTEGER PRIMARY KEY)",
    "ALTER TABLE revision DROP COLUMN rev_sha1",
    "ALTER TABLE archive DROP COLUMN ar_sha1",
], ids=["file-tables-1.44", "rev_sha1-dropped-1.46", "ar_sha1-dropped-1.46"])
def test_a_schema_newer_than_gitaccess_writes_refuses_pushes_and_logs_why(
    wiki: Site, change: str, caplog: pytest.LogCaptureFixture
) -> None:
    reshape(wiki, change)
    found = variant.detect(wiki.db)
    assert not found.writable
    with caplog.at_level(logging.WARNING, logger="gitaccess.wiki.variant"), \
            pytest.raises(variant.UnsupportedSchema) as refused:
        variant.require_writable(wiki.db)
    message = str(refused.value)
    assert f"MediaWiki {found.version} schema" in message and "read-only" in message
    assert found.unwritable[0].what in message
    assert caplog.messages == [f"push refused: {message}"]


def test_db_status_prints_schema_backend_support_and_gitaccess_revision(wiki: Site) -> None:
    def status() -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "gitaccess", "--db", wiki.db.url, "db", "status"],
                              capture_output=True, text=True, timeout=120)

    shown = status()
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0].startswith("database: ") and f"({wiki.db.dialect} " in lines[0]
    assert lines[1:] == ["schema: MediaWiki 1.39 or 1.40", "pushes: accepted (read/write)",
                         f"gitaccess tables: revision {migrate.newest_revision(wiki.db)} (up to date)"]
    reshape(wiki, "CREATE TABLE filerevision (fr_id INTEGER PRIMARY KEY)")
    shown = status()
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[2].startswith("pushes: refused (read-only): this wiki's database has "
                                                   "a MediaWiki 1.44 schema")
