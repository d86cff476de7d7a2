"""Acceptance: git push into a REAL MediaWiki 1.43 or 1.39 (shared/peers/mediawiki/mw-peer.sh), checked through its API.

gitaccess serves the peer's database and upload directory; the real git
client clones it as the wiki's admin (a credential helper), and pushes, in
two pushes: an edit, a new page, a deletion, a rename of unchanged content
(a move without redirect) and an upload (Media/ file plus File/ page). What
MediaWiki's Action API shows afterwards is the judge: texts, summaries (the
commit's first line), the authenticated user (never the git author), the
``gitaccess`` change tag, the move, deletion and upload log entries, the
file's size, SHA-1 and bytes at its URL. A fresh clone has the pushed
commits' SHA-1s, an edit made in MediaWiki afterwards arrives with
``git pull`` as one commit, and a push authenticated by a BotPassword is
attributed to the account that owns it.

The module runs on the MediaWiki of each version (1.43, 1.39) on each backend
(SQLite, MariaDB, PostgreSQL), shared with the other interop modules
(tests/interop/conftest.py); where it cannot run the tests skip
(GITACCESS_REQUIRE_ALL=1: fail).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Iterator

import pytest

from gitaccess.app import create_app
from gitaccess.site import Site
from tests.mediawiki import MediaWikiApi, MediaWikiPeer, site_on
from tests.protocol_helpers import GitClient, Served, dev_server
from tests.interop.test_mediawiki_clone import credentials, log_of, namespace_prefixes, png, run_cli

pytestmark = pytest.mark.mediawiki

SERVER_NAME = "wiki.example.org"
GIT_AUTHOR = "Somebody Else"
TAG = "gitaccess"
PUSHED_PNG = png(7, 5, (10, 120, 240))

#: Pages written through MediaWiki's API before gitaccess serves anything.
PAGES = {
    "Edited page": "The text before the push.",
    "Doomed page": "This page is deleted by a push.",
    "Wandering page": "This page is renamed by a push.",
    "Bot page": "The bot edits this page.",
}


# ---------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def api(peer: MediaWikiPeer) -> MediaWikiApi:
    client = peer.api(login=peer.bot)
    for title, text in PAGES.items():
        client.edit(title, text, summary=f"create {title}", createonly=True)
    return client


@pytest.fixture(scope="module")
def site(peer: MediaWikiPeer, api: MediaWikiApi, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    upgraded = run_cli(peer, tmp_path_factory.mktemp("cli"), "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    general = api.siteinfo()["general"]
    with site_on(peer, tmp_path_factory.mktemp("gitaccess-data"), server_name=SERVER_NAME,
                 site_name=general["sitename"],
                 meta_namespace=namespace_prefixes(api)[4].replace(" ", "_")) as the_site:
        yield the_site


@pytest.fixture(scope="module")
def server(site: Site) -> Iterator[Served]:
    with dev_server(create_app(site.config)) as served:
        yield served


def git_client(home: Path) -> GitClient:
    """git with protocol v2 and an author identity of its own in ``home``."""
    client = GitClient(home, protocol=2)
    client("config", "--global", "user.name", GIT_AUTHOR)
    client("config", "--global", "user.email", "somebody@example.org")
    return client


@pytest.fixture(scope="module")
def git(tmp_path_factory: pytest.TempPathFactory) -> GitClient:
    return git_client(tmp_path_factory.mktemp("home"))


@pytest.fixture(scope="module")
def admin_login(peer: MediaWikiPeer) -> list[str]:
    return credentials(*peer.admin)


@pytest.fixture(scope="module")
def clone(server: Served, git: GitClient, admin_login: list[str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("clones") / "work"
    git("clone", server.url, str(target), config=admin_login)
    return target


def commit(git: GitClient, clone: Path, message: str) -> str:
    git("add", "-A", cwd=clone)
    git("commit", "-q", "-m", message, cwd=clone)
    return git("rev-parse", "HEAD", cwd=clone).stdout.strip()


def push(git: GitClient, clone: Path, login: list[str]) -> None:
    result = git("push", "origin", "master", cwd=clone, config=login, check=False)
    assert result.returncode == 0 and "master -> master" in result.stderr, result.stderr


@pytest.fixture(scope="module")
def pushed(peer: MediaWikiPeer, git: GitClient, clone: Path, admin_login: list[str]) -> dict[str, Any]:
    """Two pushes: the first of three commits (edit; add; delete), the second of two (rename; upload)."""
    out: dict[str, Any] = {}
    (clone / "(Main)" / "Edited_page.wiki").write_text("The text after the push.", "utf-8")
    out["edit"] = commit(git, clone, "Edit from git\n\nThe body is not the summary.")
    (clone / "(Main)" / "Added_page.wiki").write_text("A page made by git.", "utf-8")
    out["add"] = commit(git, clone, "Add a page from git")
    (clone / "(Main)" / "Doomed_page.wiki").unlink()
    out["delete"] = commit(git, clone, "Delete a page from git")
    push(git, clone, admin_login)
    out["first push"] = out["delete"]
    git("mv", "(Main)/Wandering_page.wiki", "(Main)/Settled_page.wiki", cwd=clone)
    out["move"] = commit(git, clone, "Rename a page from git")
    (clone / "Media").mkdir(exist_ok=True)
    (clone / "File").mkdir(exist_ok=True)
    (clone / "Media" / "Pushed.png").write_bytes(PUSHED_PNG)
    (clone / "File" / "Pushed.png.wiki").write_text("A picture pushed with git.", "utf-8")
    out["upload"] = commit(git, clone, "Upload a picture from git")
    push(git, clone, admin_login)
    out["second push"] = out["upload"]
    return out


# ---------------------------------------------------------------------- tests
def last_revision(api: MediaWikiApi, title: str) -> dict[str, Any]:
    return api.revisions(title, rvprop="ids|content|comment|user|tags|timestamp")[-1]


def test_edit_and_new_page_are_revisions_by_the_admin(peer: MediaWikiPeer, api: MediaWikiApi,
                                                      pushed: dict[str, Any]) -> None:
    admin = peer.admin[0]
    edited = last_revision(api, "Edited page")
    assert edited["content"] == "The text after the push."
    assert edited["comment"] == "Edit from git"
    assert edited["user"] == admin and edited["user"] != GIT_AUTHOR
    assert TAG in edited["tags"]
    [added] = api.revisions("Added page", rvprop="ids|content|comment|user|tags|timestamp")
    assert (added["content"], added["comment"], added["user"]) == ("A page made by git.", "Add a page from git", admin)
    assert TAG in added["tags"]
    moved = last_revision(api, "Settled page")
    assert moved["content"] == PAGES["Wandering page"]


def test_recent_changes_carry_the_tag(api: MediaWikiApi, pushed: dict[str, Any]) -> None:
    tagged = api.recent_changes(tag=TAG)
    titles = {c["title"] for c in tagged}
    assert {"Edited page", "Added page"} <= titles, titles
    for change in tagged:
        assert TAG in change["tags"]
        assert change["user"] != GIT_AUTHOR
    summaries = {c["comment"] for c in tagged}
    assert {"Edit from git", "Add a page from git"} <= summaries


def test_deletion_and_move_are_logged(peer: MediaWikiPeer, api: MediaWikiApi, pushed: dict[str, Any]) -> None:
    admin = peer.admin[0]
    assert api.page("Doomed page").get("missing")
    [deletion] = [e for e in api.log_events(type="delete", title="Doomed page") if e["action"] == "delete"]
    assert (deletion["user"], deletion["comment"]) == (admin, "Delete a page from git")
    [move] = api.log_events(type="move", title="Wandering page")
    assert move["action"] == "move" and move["user"] == admin and move["comment"] == "Rename a page from git"
    params = move["params"]
    assert params["target_title"] == "Settled page"
    assert params.get("suppressredirect") is True, params
    assert api.page("Wandering page").get("missing"), "no redirect is left behind"


def test_upload_is_logged_and_served(peer: MediaWikiPeer, api: MediaWikiApi, pushed: dict[str, Any]) -> None:
    admin = peer.admin[0]
    [upload] = api.log_events(type="upload", title="File:Pushed.png")
    assert upload["action"] == "upload" and upload["user"] == admin
    assert upload["comment"] == "Upload a picture from git"
    [info] = api.image_info("File:Pushed.png")
    assert info["size"] == len(PUSHED_PNG)
    assert info["sha1"] == hashlib.sha1(PUSHED_PNG).hexdigest()
    assert info["user"] == admin
    assert api.fetch(info["url"]) == PUSHED_PNG
    description = last_revision(api, "File:Pushed.png")
    assert description["content"] == "A picture pushed with git."


def test_fresh_clone_has_the_pushed_commits(server: Served, git: GitClient, clone: Path, admin_login: list[str],
                                           pushed: dict[str, Any], tmp_path: Path) -> None:
    fresh = tmp_path / "fresh"
    git("clone", server.url, str(fresh), config=admin_login)
    assert git("rev-parse", "HEAD", cwd=fresh).stdout.strip() == pushed["second push"]
    shas = git("rev-list", "HEAD", cwd=fresh).stdout.split()
    for step in ("edit", "add", "delete", "move", "upload"):
        assert pushed[step] in shas, step
    assert git("cat-file", "-p", pushed["edit"], cwd=fresh).stdout.count(GIT_AUTHOR) == 2
    assert (fresh / "Media" / "Pushed.png").read_bytes() == PUSHED_PNG


def test_wiki_edit_after_the_push_arrives_with_pull(api: MediaWikiApi, git: GitClient, clone: Path,
                                                   admin_login: list[str], pushed: dict[str, Any]) -> None:
    before = git("rev-parse", "HEAD", cwd=clone).stdout.strip()
    assert before == pushed["second push"]
    edit = api.edit("Added page", "Edited in MediaWiki after the push.", summary="after the push", nocreate=True)
    git("pull", "--ff-only", cwd=clone, config=admin_login)
    new = log_of(git, clone, f"{before}..HEAD")
    assert len(new) == 1 and new[0].parents == [before]
    assert new[0].subject == "after the push" and new[0].values("Revision") == [str(edit["newrevid"])]
    assert (clone / "(Main)" / "Added_page.wiki").read_text("utf-8") == "Edited in MediaWiki after the push."


def test_push_with_a_bot_password_is_attributed_to_its_owner(peer: MediaWikiPeer, api: MediaWikiApi, git: GitClient,
                                                            clone: Path, admin_login: list[str],
                                                            pushed: dict[str, Any]) -> None:
    git("pull", "--ff-only", cwd=clone, config=admin_login)
    (clone / "(Main)" / "Bot_page.wiki").write_text("Edited with a BotPassword.", "utf-8")
    sha = commit(git, clone, "Edit with a BotPassword")
    push(git, clone, credentials(*peer.bot))
    revision = last_revision(api, "Bot page")
    assert revision["content"] == "Edited with a BotPassword."
    assert revision["comment"] == "Edit with a BotPassword"
    assert revision["user"] == peer.admin[0]
    assert TAG in revision["tags"]
    assert git("ls-remote", "origin", "master", cwd=clone, config=admin_login).stdout.split()[0] == sha
