"""Clone and fetch of a wiki through the whole stack: app, gate, journal, cache, upload-pack, real git."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import update
from dataclasses import replace

from gitaccess.app import create_app
from gitaccess.auth.passwords import hash_password
from gitaccess.site import Site
from gitaccess.wiki.writer import Editor, WikiWriter
from tests.protocol_helpers import GitClient, dev_server

ADMIN = Editor("Admin", 1, frozenset({"sysop"}))
PASSWORD = "clone-test-password"

PAGES = {
    (0, "Main_Page"): ("wikitext", "Welcome.\n", "(Main)/Main_Page.wiki"),
    (0, "Who*"): ("wikitext", "hostile title\n", "(Main)/Who%2A.wiki"),
    (1, "Talk_page"): ("wikitext", "talk pages are left out\n", None),
    (2, "Alice/Sandbox"): ("wikitext", "a subpage\n", "User/Alice/Sandbox.wiki"),
    (8, "Common.css"): ("css", "body { color: red; }\n", "MediaWiki/Common.css"),
    (10, "Infobox"): ("wikitext", "{{{1}}}\n", "Template/Infobox.wiki"),
}


def populate(site: Site) -> None:
    with site.db.write() as conn:
        w = WikiWriter(site.db, conn, titles=site.titles, upload_directory=site.config.upload_directory)
        w.create_user("Admin", hash_password(PASSWORD), ("sysop",))
        w.create_user("Reader", hash_password(PASSWORD), ())
        for (ns, dbkey), (model, text, _) in PAGES.items():
            w.save(ns, dbkey, text, editor=ADMIN, summary=f"create {dbkey}", model=model)
        w.save(0, "Main_Page", "Welcome, again.\n", editor=ADMIN, summary="second", minor=True)
        w.save(0, "Gone", "deleted later\n", editor=ADMIN, summary="short-lived")
        w.delete(0, "Gone", editor=ADMIN, reason="cleanup")
        w.upload("Logo.png", b"\x89PNG\r\n\x1a\n" + bytes(range(256)), editor=ADMIN, comment="logo",
                 page_text="The logo.\n")


@pytest.fixture
def served(wiki: Site):  # type: ignore[no-untyped-def]
    populate(wiki)
    app = create_app(wiki.config)
    with dev_server(app) as server:
        yield server, app


@pytest.fixture
def git(tmp_path: Path) -> GitClient:
    return GitClient(tmp_path / "home", protocol=2)


def credentials(user: str = "Admin") -> list[str]:
    helper = f"!f() {{ echo username={user}; echo password={PASSWORD}; }}; f"
    return [f"credential.helper={helper}"]


def test_clone_shows_the_wiki_and_fetch_brings_one_commit(served, wiki: Site, git: GitClient,  # type: ignore[no-untyped-def]
                                                           tmp_path: Path) -> None:
    server, app = served
    clone = tmp_path / "clone"
    git("clone", server.url, str(clone), config=credentials())
    for (ns, dbkey), (_, text, path) in PAGES.items():
        if path is None:
            continue
        expected = "Welcome, again.\n" if dbkey == "Main_Page" else text
        assert (clone / path).read_text("utf-8") == expected
    assert not (clone / "Talk").exists() and not (clone / "(Main)" / "Gone.wiki").exists()
    assert (clone / "Media" / "Logo.png").read_bytes().startswith(b"\x89PNG")
    assert 'path="(Main)/Who%2A.wiki" title="Who*"' in (clone / "Aliases.xml").read_text("utf-8")
    log = git("log", "--format=%s", cwd=clone).stdout.splitlines()
    # 5 pages in the repository's namespaces, an edit, a page later deleted, its deletion, an upload.
    assert log == ["logo", "cleanup", "short-lived", "second", "create Infobox", "create Common.css",
                   "create Alice/Sandbox", "create Who*", "create Main_Page"]
    git("-c", "core.protectNTFS=true", "-c", "core.protectHFS=true", "fsck", "--strict", cwd=clone)

    with wiki.db.write() as conn:
        WikiWriter(wiki.db, conn, titles=wiki.titles).save(0, "New_page", "new\n", editor=ADMIN, summary="fresh")
    before = git("rev-parse", "HEAD", cwd=clone).stdout.strip()
    git("pull", "--ff-only", cwd=clone, config=credentials())
    assert git("rev-list", "--count", f"{before}..HEAD", cwd=clone).stdout.strip() == "1"
    assert (clone / "(Main)" / "New_page.wiki").read_text("utf-8") == "new\n"


def test_shallow_clone_credentials_and_rights(served, git: GitClient, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    server, _ = served
    refused = git("clone", server.url, str(tmp_path / "anonymous"), check=False)
    # 401 with WWW-Authenticate: git asks for a user name (and may not prompt here).
    assert refused.returncode != 0 and "could not read Username" in refused.stderr
    no_right = git("clone", server.url, str(tmp_path / "reader"), check=False, config=credentials("Reader"))
    assert no_right.returncode != 0 and "403" in no_right.stderr
    shallow = tmp_path / "shallow"
    git("clone", "--depth", "1", server.url, str(shallow), config=credentials())
    assert git("rev-list", "--count", "HEAD", cwd=shallow).stdout.strip() == "1"
    assert (shallow / "(Main)" / "Main_Page.wiki").read_text("utf-8") == "Welcome, again.\n"


def test_second_server_and_rebuilt_cache_serve_the_same_shas(served, wiki: Site, git: GitClient,  # type: ignore[no-untyped-def]
                                                           tmp_path: Path) -> None:
    server, _ = served
    first = tmp_path / "first"
    git("clone", server.url, str(first), config=credentials())
    shutil.rmtree(wiki.config.data_directory / "cache")
    other = Site(replace(wiki.config, data_directory=tmp_path / "other-server"))
    with dev_server(create_app(other.config)) as second:
        again = tmp_path / "again"
        git("clone", second.url, str(again), config=credentials())
    assert git("rev-parse", "HEAD", cwd=again).stdout == git("rev-parse", "HEAD", cwd=first).stdout
    refetched = tmp_path / "refetched"
    git("clone", server.url, str(refetched), config=credentials())  # the first server's cache was deleted
    assert git("rev-parse", "HEAD", cwd=refetched).stdout == git("rev-parse", "HEAD", cwd=first).stdout


def test_history_that_cannot_be_served_is_explained_to_git(served, wiki: Site, git: GitClient,  # type: ignore[no-untyped-def]
                                                          tmp_path: Path) -> None:
    server, _ = served
    git("clone", server.url, str(tmp_path / "first"), config=credentials())
    gh = wiki.db.tables.git_hash
    with wiki.db.write() as conn:  # published history no longer matches the wiki
        conn.execute(update(gh).where(gh.c.gh_seq == 2).values(gh_message="tampered\n"))
    shutil.rmtree(wiki.config.data_directory / "cache")
    failed = git("clone", server.url, str(tmp_path / "second"), check=False, config=credentials())
    assert failed.returncode != 0
    assert "remote error: the wiki's history cannot be served" in failed.stderr
    assert "rebuilds as" in failed.stderr
