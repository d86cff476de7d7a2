"""git push through the whole stack: receive-pack, the gate, the journal, the wiki (real git)."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from gitaccess.app import create_app
from gitaccess.auth.passwords import hash_password
from gitaccess.site import Site
from gitaccess.wiki import reader
from gitaccess.wiki.writer import Editor, WikiWriter
from tests.protocol_helpers import GitClient, dev_server

PASSWORD = "push-test-password"
ADMIN = Editor("Admin", 1, frozenset({"sysop"}))


@pytest.fixture
def clone(wiki: Site, tmp_path: Path):  # type: ignore[no-untyped-def]
    """A wiki served by the app, and a clone of it with an identity and credentials."""
    with wiki.db.write() as conn:
        w = WikiWriter(wiki.db, conn, titles=wiki.titles, upload_directory=wiki.config.upload_directory)
        w.create_user("Admin", hash_password(PASSWORD), ("sysop",))
        w.save(0, "Main_Page", "Welcome\n", editor=ADMIN, summary="start")
        w.save(0, "Old", "old text\n", editor=ADMIN, summary="old")
    git = GitClient(tmp_path / "home", protocol=2)
    git("config", "--global", "user.name", "Git Author")
    git("config", "--global", "user.email", "author@example.org")
    helper = f"!f() {{ echo username=Admin; echo password={PASSWORD}; }}; f"
    git("config", "--global", "credential.helper", helper)
    with dev_server(create_app(wiki.config)) as server:
        checkout = tmp_path / "clone"
        git("clone", server.url, str(checkout))
        yield git, checkout, server


def test_push_arrives_in_the_wiki_and_keeps_its_sha(clone, wiki: Site, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    git, checkout, server = clone
    (checkout / "(Main)" / "Main_Page.wiki").write_text("Welcome, from my editor\n")
    (checkout / "(Main)" / "Added.wiki").write_text("a new page\n")
    git("mv", "(Main)/Old.wiki", "(Main)/Renamed.wiki", cwd=checkout)
    git("add", "-A", cwd=checkout)
    git("commit", "-m", "Edit from git", cwd=checkout)
    pushed = git("rev-parse", "HEAD", cwd=checkout).stdout.strip()
    result = git("push", "origin", "master", cwd=checkout)
    assert "master -> master" in result.stderr
    with wiki.db.read() as conn:
        page = reader.page_by_title(wiki.db, conn, 0, "Main_Page")
        assert page is not None and reader.revision_text(wiki.db, conn, page.latest) == "Welcome, from my editor\n"
        last = list(reader.revisions(wiki.db, conn, page_id=page.id))[-1]
        assert (last.comment, last.user_name) == ("Edit from git", "Admin")
        assert reader.page_by_title(wiki.db, conn, 0, "Renamed") is not None
        assert reader.page_by_title(wiki.db, conn, 0, "Old") is None
    fresh = tmp_path / "fresh"
    git("clone", server.url, str(fresh))
    assert git("rev-parse", "HEAD", cwd=fresh).stdout.strip() == pushed
    assert git("status", "--porcelain", "-b", cwd=checkout).stdout.startswith("## master...origin/master\n") or \
        "ahead" not in git("status", "-sb", cwd=checkout).stdout


def test_refused_push_names_the_path_and_the_rule(clone, wiki: Site) -> None:  # type: ignore[no-untyped-def]
    git, checkout, _ = clone
    (checkout / "(Main)" / "foo bar.wiki").write_text("badly named\n")
    git("add", "-A", cwd=checkout)
    git("commit", "-m", "bad name", cwd=checkout)
    refused = git("push", "origin", "master", cwd=checkout, check=False)
    assert refused.returncode == 1
    assert "! [remote rejected] master -> master" in refused.stderr
    assert "name it (Main)/Foo_bar.wiki" in refused.stderr
    with wiki.db.read() as conn:
        assert reader.page_by_title(wiki.db, conn, 0, "Foo_bar") is None


def test_push_racing_a_wiki_edit_is_refused_as_stale(clone, wiki: Site) -> None:  # type: ignore[no-untyped-def]
    """The wiki is edited after git saw the branch and before the pack arrives (a pre-push hook)."""
    git, checkout, _ = clone
    (checkout / "(Main)" / "Main_Page.wiki").write_text("mine\n")
    git("commit", "-am", "mine", cwd=checkout)
    hook = checkout / ".git" / "hooks" / "pre-push"
    hook.write_text(textwrap.dedent(f"""\
        #!{sys.executable}
        from gitaccess.config import Config
        from gitaccess.site import Site
        from gitaccess.wiki.writer import Editor, WikiWriter
        site = Site(Config(database_url={wiki.config.database_url!r}))
        with site.db.write() as conn:
            WikiWriter(site.db, conn, titles=site.titles).save(
                0, "Main_Page", "theirs\\n", editor=Editor("Admin", 1), summary="theirs")
        """))
    hook.chmod(0o755)
    refused = git("push", "origin", "master", cwd=checkout, check=False)
    assert refused.returncode == 1 and "fetch, then rebase or merge" in refused.stderr
    hook.unlink()
    git("pull", "--rebase", "-X", "ours", "origin", "master", cwd=checkout)
    (checkout / "(Main)" / "Main_Page.wiki").write_text("mine, after fetching\n")
    git("commit", "-am", "mine again", cwd=checkout)
    git("push", "origin", "master", cwd=checkout)
    with wiki.db.read() as conn:
        page = reader.page_by_title(wiki.db, conn, 0, "Main_Page")
        assert page is not None
        texts = [reader.revision_text(wiki.db, conn, r.id) for r in reader.revisions(wiki.db, conn, page_id=page.id)]
    assert texts[-2:] == ["theirs\n", "mine, after fetching\n"]  # nothing lost
