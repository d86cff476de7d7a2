"""The command line, run as a user runs it: a subprocess in a working directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bench.generate import config_for, create_wiki
from bench.plan import SIZES
from gitaccess.auth.accounts import Authenticator
from gitaccess.cli import bootstrap
from gitaccess.config import load_config
from gitaccess.errors import AuthError, ConfigError
from gitaccess.journal.history import History
from gitaccess.repository import WikiRepository
from gitaccess.site import Site
from gitaccess.wiki import reader


def run(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GITACCESS_")}
    environment.update(env or {})
    return subprocess.run([sys.executable, "-m", "gitaccess", *args], cwd=cwd, env=environment,
                          capture_output=True, text=True, timeout=120)


def test_init_user_upgrade_title(tmp_path: Path) -> None:
    assert run(tmp_path, "init").returncode == 0
    assert (tmp_path / "gitaccess-data" / "wiki.sqlite").exists()
    again = run(tmp_path, "init")
    assert again.returncode == 1 and "already holds MediaWiki tables" in again.stderr
    added = run(tmp_path, "user", "add", "bob_smith", "--password", "pw-123456", "--group", "sysop")
    assert added.returncode == 0 and "Bob smith" in added.stdout
    assert run(tmp_path, "db", "upgrade").returncode == 0
    assert run(tmp_path, "db", "upgrade").returncode == 0
    title = run(tmp_path, "title", "user:alice/notes", "--json")
    assert json.loads(title.stdout) == {"namespace": 2, "dbkey": "Alice/notes", "path": "User/Alice/notes.wiki"}
    bad = run(tmp_path, "title", "a[b", "--json")
    assert bad.returncode == 1 and json.loads(bad.stdout) == {"error": "title-invalid-characters"}
    site = Site(load_config(None, f"sqlite:///{tmp_path}/gitaccess-data/wiki.sqlite", environ={}))
    account = Authenticator(site).authenticate("bob smith", "pw-123456", "127.0.0.1")
    assert account.can_push and account.grants is None
    with pytest.raises(AuthError):
        Authenticator(site).authenticate("Bob smith", "wrong", "127.0.0.1")


def test_upgrade_on_a_database_without_mediawiki_fails_clearly(tmp_path: Path) -> None:
    result = run(tmp_path, "--db", f"sqlite:///{tmp_path}/empty.sqlite", "db", "upgrade")
    assert result.returncode == 1
    assert "has no MediaWiki tables" in result.stderr and "Traceback" not in result.stderr


def test_configuration_precedence(tmp_path: Path) -> None:
    (tmp_path / "gitaccess.toml").write_text('[database]\nurl = "sqlite:///from-file.sqlite"\n[wiki]\nsite_name = "W"\n')
    other = tmp_path / "other.toml"
    other.write_text('[database]\nurl = "sqlite:///from-env-file.sqlite"\n')
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        assert load_config(environ={}).database_url == "sqlite:///from-file.sqlite"
        assert load_config(environ={}).site_name == "W"
        assert load_config(environ={"GITACCESS_CONFIG": str(other)}).database_url == "sqlite:///from-env-file.sqlite"
        assert load_config(environ={"GITACCESS_DB": "sqlite:///env.sqlite"}).database_url == "sqlite:///env.sqlite"
        assert load_config(other, "sqlite:///opt.sqlite", environ={"GITACCESS_DB": "x"}).database_url == (
            "sqlite:///opt.sqlite")
        (tmp_path / "bad.toml").write_text("[wiki]\nsite_nam = 1\n")
        with pytest.raises(ConfigError, match="site_nam"):
            load_config(tmp_path / "bad.toml", environ={})
        with pytest.raises(ConfigError, match="does not exist"):
            load_config(tmp_path / "missing.toml", environ={})
    finally:
        os.chdir(cwd)


def test_first_serve_creates_wiki_with_admin(tmp_path: Path) -> None:
    site = Site(load_config(None, f"sqlite:///{tmp_path}/data/wiki.sqlite", environ={}))
    password = bootstrap(site)
    assert password and len(password) >= 16
    assert bootstrap(site) is None  # only the first start creates anything
    account = Authenticator(site).authenticate("Admin", password, "127.0.0.1")
    assert account.can_push
    page = site.titles.parse("Main Page")
    with site.db.read() as conn:
        assert reader.page_by_title(site.db, conn, page.namespace, page.dbkey) is not None


def test_title_paths_both_ways(tmp_path: Path) -> None:
    def title_json(*args: str) -> dict[str, object]:
        result = run(tmp_path, "title", *args, "--json")
        return {"exit": result.returncode, **json.loads(result.stdout)}

    assert title_json("user:alice/notes") == {"exit": 0, "namespace": 2, "dbkey": "Alice/notes",
                                             "path": "User/Alice/notes.wiki"}
    assert title_json("MediaWiki:Common.css")["path"] == "MediaWiki/Common.css"
    assert title_json("Module:Foo")["path"] == "Module/Foo.lua"
    assert title_json("Who*")["path"] == "(Main)/Who%2A.wiki"
    assert "path" not in title_json("Talk:Excluded by default")
    assert title_json("--path", "User/Alice/Notes.wiki") == {
        "exit": 0, "namespace": 2, "dbkey": "Alice/Notes", "path": "User/Alice/Notes.wiki", "model": "wikitext"}
    assert title_json("--path", "(Main)/foo bar.wiki") == {"exit": 1, "error": "gitaccess-invalid-path"}
    message = run(tmp_path, "title", "--path", "(Main)/foo bar.wiki")
    assert message.returncode == 1 and "name it (Main)/Foo_bar.wiki" in message.stderr


def test_refresh_builds_the_served_history_ahead_of_the_first_request(tmp_path: Path) -> None:
    """`gitaccess refresh` leaves the cache a server uses at the journal's head, every commit in it."""
    create_wiki(tmp_path / "wiki", SIZES["tiny"])
    done = run(tmp_path / "wiki", "refresh")
    assert done.returncode == 0, done.stderr
    site = Site(config_for(tmp_path / "wiki"))
    with site.db.read() as conn:
        head = History(site).head(conn)
        commits = conn.execute(select(func.count()).select_from(site.db.tables.git_hash)).scalar()
    assert head and commits and commits > 150
    assert done.stdout.strip() == f"serving {commits} commits; refs/heads/master is {head.decode()}"
    assert "journaling the wiki" in done.stderr  # its progress bar's label
    repo = WikiRepository(site)
    assert repo.cache.head() == (commits - 1, head) and repo.cache.count() == commits
    again = run(tmp_path / "wiki", "refresh")
    assert again.stdout == done.stdout and again.stderr == ""  # nothing new: no bar
    verified = run(tmp_path / "wiki", "verify")
    assert verified.stdout.strip() == f"all {commits} commits of the journal rebuild identically"
    assert "rebuilding commits" in verified.stderr

    told: list[tuple[str, int, int]] = []  # a new cache replays the journal, telling how far it is
    WikiRepository(site, tmp_path / "another-cache").refresh(lambda *progress: told.append(progress))
    assert told[-1] == ("journaling the wiki", 0, 0)  # nothing new
    assert told[:-1] == [("replaying the journal", done, commits) for done in range(commits + 1)]


def test_accounts_of_a_standalone_wiki(tmp_path: Path) -> None:
    """passwd, list, groups, block and unblock, judged by the same login that git's gate uses."""
    assert run(tmp_path, "init").returncode == 0
    assert run(tmp_path, "user", "add", "Ann", "--password", "first-pass-1").returncode == 0
    site = Site(load_config(None, f"sqlite:///{tmp_path}/gitaccess-data/wiki.sqlite", environ={}))

    def login(password: str):  # type: ignore[no-untyped-def]
        return Authenticator(site).authenticate("Ann", password, "127.0.0.1")

    changed = run(tmp_path, "user", "passwd", "ann", "--password", "second-pass-2")
    assert changed.returncode == 0 and "changed the password of Ann" in changed.stdout
    with pytest.raises(AuthError):
        login("first-pass-1")
    assert not login("second-pass-2").can_push

    grouped = run(tmp_path, "user", "groups", "Ann", "--add", "sysop", "--add", "bot")
    assert grouped.returncode == 0 and grouped.stdout.strip() == "Ann: bot, sysop"
    assert login("second-pass-2").can_push
    assert run(tmp_path, "user", "groups", "Ann", "--remove", "bot").stdout.strip() == "Ann: sysop"

    blocked = run(tmp_path, "user", "block", "Ann", "--reason", "spam")
    assert blocked.returncode == 0 and login("second-pass-2").blocked
    again = run(tmp_path, "user", "block", "Ann")
    assert again.returncode == 1 and "blocked already" in again.stderr
    assert "Ann\tsysop\t0 edits\tblocked" in run(tmp_path, "user", "list").stdout
    assert run(tmp_path, "user", "unblock", "Ann").stdout.strip() == "unblocked Ann"
    assert not login("second-pass-2").blocked
    expired = run(tmp_path, "user", "block", "Ann", "--expiry", "20000101000000")
    assert expired.returncode == 0 and not login("second-pass-2").blocked
    assert run(tmp_path, "user", "block", "Ann", "--expiry", "tomorrow").returncode == 2

    missing = run(tmp_path, "user", "passwd", "Nobody", "--password", "x-123456")
    assert missing.returncode == 1 and "there is no user 'Nobody'" in missing.stderr


def test_the_first_start_says_how_to_change_the_password(tmp_path: Path) -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GITACCESS_")}
    server = subprocess.Popen([sys.executable, "-m", "gitaccess", "serve", "--port", "0"], cwd=tmp_path,
                              env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        said = [server.stdout.readline() for _ in range(2)] if server.stdout else []
    finally:
        server.terminate()
        server.wait(20)
    assert "with user Admin, password: " in said[0]
    assert "change it with `gitaccess user passwd Admin`" in said[1]
