"""The history journal: one commit per revision and tree-changing event, SHA-1s that never change."""

from __future__ import annotations

import shutil
import subprocess
import threading
from dataclasses import replace
from pathlib import Path

import pytest
from dulwich.objects import Blob
from sqlalchemy import select, update

from gitaccess.journal.history import History, HistoryError
from gitaccess.journal.state import group
from gitaccess.repository import WikiRepository
from gitaccess.site import Site
from gitaccess.wiki import standalone
from gitaccess.wiki.events import DELETED_COMMENT, DELETED_TEXT, LogEvent, RevisionEvent
from gitaccess.wiki.writer import Editor, WikiWriter

ADMIN = Editor("Admin", 1, frozenset({"sysop"}))


def edit_wiki(site: Site) -> None:
    with site.db.write() as conn:
        w = WikiWriter(site.db, conn, titles=site.titles, upload_directory=site.config.upload_directory)
        w.save(0, "A", "a1", editor=ADMIN, summary="first", timestamp="20260101000000")
        w.save(0, "A", "a2", editor=ADMIN, summary="minor one", minor=True, timestamp="20260101000001")
        w.save(0, "B", "b1", editor=ADMIN, summary="", timestamp="20260101000002")
        w.save(0, "Who*", "hostile", editor=ADMIN, summary="h", timestamp="20260101000003")
        w.save(0, "FOO", "x", editor=ADMIN, summary="c1", timestamp="20260101000004")
        w.save(0, "Foo", "y", editor=ADMIN, summary="c2", timestamp="20260101000005")
        w.save(2, "Alice/Sandbox", "sub", editor=ADMIN, summary="s", timestamp="20260101000006")
        w.save(1, "Talk_page", "excluded by default", editor=ADMIN, summary="t", timestamp="20260101000007")
        w.move(0, "A", 0, "C", editor=ADMIN, reason="mv", redirect=False, timestamp="20260101000008")
        w.delete(0, "B", editor=ADMIN, reason="del", timestamp="20260101000009")
        w.upload("X.txt", b"hello", editor=ADMIN, comment="up", page_text="desc", timestamp="20260101000010")


@pytest.fixture
def open_repository():  # type: ignore[no-untyped-def]
    """WikiRepository factory that closes what it opened."""
    opened: list[WikiRepository] = []

    def open_(site: Site, directory: Path) -> WikiRepository:
        repo = WikiRepository(site, directory)
        opened.append(repo)
        return repo

    yield open_
    for repo in opened:
        repo.close()


def git(repo: WikiRepository, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo.cache.directory / "objects.git", check=True,
                          capture_output=True, text=True).stdout


def test_commits_follow_the_wiki(wiki: Site, tmp_path: Path, open_repository) -> None:  # type: ignore[no-untyped-def]
    edit_wiki(wiki)
    repo = open_repository(wiki, tmp_path / "cache")
    repo.refresh()
    log = git(repo, "log", "--reverse", "--format=%an <%ae>|%at|%s|%(trailers:only,unfold,separator=%x2C)")
    lines = log.splitlines()
    # 7 revisions in the repository's namespaces (the talk page is left out), a move,
    # a deletion, and an upload with its File page revision: 10 commits.
    assert len(lines) == 10
    assert lines[0] == "Admin <Admin@localhost>|1767225600|first|Revision: 1"
    assert lines[1].endswith("|minor one|Revision: 2,Minor: yes")
    assert lines[2].split("|")[2] == "(no edit summary)"
    assert [line.split("|")[2] for line in lines[-3:]] == ["mv", "del", "up"]
    tree = git(repo, "ls-tree", "-r", "--name-only", "HEAD").split()
    assert tree == ["(Main)/C.wiki", "(Main)/FOO.wiki", "(Main)/Foo__201a6b.wiki", "(Main)/Who%2A.wiki",
                    "Aliases.xml", "File/X.txt.wiki", "Media/X.txt", "User/Alice/Sandbox.wiki"]
    assert git(repo, "show", "HEAD:Media/X.txt") == "hello"
    assert 'title="Who*"' in git(repo, "show", "HEAD:Aliases.xml")
    subprocess.run(["git", "-c", "core.protectNTFS=true", "-c", "core.protectHFS=true", "fsck", "--strict"],
                   cwd=repo.cache.directory / "objects.git", check=True, capture_output=True)


def test_cache_rebuilds_byte_identically_and_second_server_agrees(  # type: ignore[no-untyped-def]
    wiki: Site, tmp_path: Path, open_repository
) -> None:
    edit_wiki(wiki)
    first = open_repository(wiki, tmp_path / "one")
    first.refresh()
    head = first.refs()
    first.close()
    shutil.rmtree(tmp_path / "one")
    rebuilt = open_repository(wiki, tmp_path / "one")
    rebuilt.refresh()
    assert rebuilt.refs() == head
    other = open_repository(wiki, tmp_path / "two")
    other.refresh()
    assert other.refs() == head
    # New activity is picked up by whichever server asks first; the other replays it.
    with wiki.db.write() as conn:
        WikiWriter(wiki.db, conn, titles=wiki.titles).save(0, "New", "n", editor=ADMIN, summary="new")
    other.refresh()
    rebuilt.refresh()
    assert rebuilt.refs() == other.refs() != head
    assert rebuilt.cache.count() == other.cache.count() == 11


def test_tampered_journal_is_detected_on_replay(wiki: Site, tmp_path: Path, open_repository) -> None:  # type: ignore[no-untyped-def]
    edit_wiki(wiki)
    open_repository(wiki, tmp_path / "one").refresh()
    gh = wiki.db.tables.git_hash
    with wiki.db.write() as conn:
        conn.execute(update(gh).where(gh.c.gh_seq == 3).values(gh_message="tampered\n"))
    with pytest.raises(HistoryError, match="rebuilds as"):
        open_repository(wiki, tmp_path / "two").refresh()
    with wiki.db.read() as conn:
        assert conn.execute(select(gh.c.gh_message).where(gh.c.gh_seq == 3)).scalar() == "tampered\n"


def test_verify_command_passes_and_names_hidden_revisions(wiki: Site, tmp_path: Path, open_repository) -> None:  # type: ignore[no-untyped-def]
    edit_wiki(wiki)
    open_repository(wiki, tmp_path / "one").refresh()
    assert History(wiki).verify() == 10
    r = wiki.db.tables.revision
    with wiki.db.write() as conn:
        conn.execute(update(r).where(r.c.rev_id == 4).values(rev_deleted=1))  # hide Who*'s text after serving it
    with pytest.raises(HistoryError, match="revision 4 was hidden or suppressed after it was published"):
        History(wiki).verify()


def test_configuration_change_is_a_commit_of_its_own(wiki: Site, tmp_path: Path, open_repository) -> None:  # type: ignore[no-untyped-def]
    edit_wiki(wiki)
    open_repository(wiki, tmp_path / "one").refresh()
    with_talk = Site(replace(wiki.config, included_namespaces=(1,)))
    repo = open_repository(with_talk, tmp_path / "two")
    repo.refresh()
    log = git(repo, "log", "-1", "--format=%an <%ae>|%s|%(trailers:only,unfold,separator=%x2C)|%H").strip()
    assert log.startswith("gitaccess <gitaccess@localhost>|Apply the configuration's new repository layout|Layout: 2")
    assert "Talk/Talk_page.wiki" in git(repo, "ls-tree", "-r", "--name-only", "HEAD")
    assert "Talk/Talk_page.wiki" not in git(repo, "ls-tree", "-r", "--name-only", "HEAD~1")
    # Old commits keep their layout: a server with the old configuration, or a rebuilt cache, agrees.
    assert History(with_talk).verify() == 11
    rebuilt = open_repository(with_talk, tmp_path / "three")
    rebuilt.refresh()
    assert rebuilt.refs() == repo.refs()


def test_revision_committed_late_below_the_marks_is_picked_up(wiki: Site, tmp_path: Path, open_repository) -> None:  # type: ignore[no-untyped-def]
    """MediaWiki transactions can commit out of id order: a missed id is looked for again."""
    def revision_with_id(rev_id: int, text: str) -> None:
        with wiki.db.write() as conn:
            w = WikiWriter(wiki.db, conn, titles=wiki.titles)
            page = w.page(0, "A")
            assert page is not None
            content, size, sha1 = w.rows.store_content(text, "wikitext")
            w.rows.insert_revision(page_id=page.id, content_id=content, size=size, sha1=sha1, actor=w.rows.actor_id(ADMIN),
                              comment=w.rows.comment_id(f"rev {rev_id}"), timestamp=f"2026010100000{rev_id}",
                              parent_id=page.latest, rev_id=rev_id)
    with wiki.db.write() as conn:
        WikiWriter(wiki.db, conn, titles=wiki.titles).save(0, "A", "one", editor=ADMIN, summary="rev 1",
                                                          timestamp="20260101000001")
    revision_with_id(3, "three")
    repo = open_repository(wiki, tmp_path / "cache")
    repo.refresh()
    assert git(repo, "log", "--format=%s").split() == ["rev", "3", "rev", "1"]
    revision_with_id(2, "two")  # id 2 commits after 3 was read
    repo.refresh()
    assert git(repo, "log", "-1", "--format=%s|%(trailers:only,unfold)").strip() == "rev 2|Revision: 2"
    assert History(wiki).verify() == 3


def test_redact_rewrites_history_without_hidden_content(wiki: Site, tmp_path: Path, open_repository) -> None:  # type: ignore[no-untyped-def]
    edit_wiki(wiki)
    repo = open_repository(wiki, tmp_path / "cache")
    repo.refresh()
    before = git(repo, "rev-list", "HEAD").split()
    assert "hostile" in git(repo, "show", f"{before[-4]}:(Main)/Who%2A.wiki")
    r = wiki.db.tables.revision
    with wiki.db.write() as conn:  # an admin hides revision 4's text and summary
        conn.execute(update(r).where(r.c.rev_id == 4).values(rev_deleted=DELETED_TEXT | DELETED_COMMENT))
    assert History(wiki).redact() == 7  # revision 4 and every commit after it
    assert History(wiki).redact() == 0
    assert History(wiki).verify() == 10
    repo.refresh()  # the cache notices its head is gone and rebuilds
    after = git(repo, "rev-list", "HEAD").split()
    assert after[-3:] == before[-3:] and after[-4] != before[-4]
    rewritten = after[-4]
    assert git(repo, "log", "-1", "--format=%s", rewritten).strip() == "(edit summary removed)"
    assert "(Main)/Who%2A.wiki" not in git(repo, "ls-tree", "-r", "--name-only", rewritten)
    hidden_blob = Blob.from_string(b"hostile").id.decode()
    assert hidden_blob not in git(repo, "rev-list", "--objects", "HEAD")


def test_table_prefix_is_honoured_everywhere(empty_url: str, make_site, tmp_path: Path, open_repository) -> None:  # type: ignore[no-untyped-def]
    """$wgDBprefix: MediaWiki's tables and gitaccess's own carry the wiki's prefix."""
    site = make_site(empty_url, table_prefix="mw_")
    standalone.create(site.db)
    assert {"mw_page", "mw_revision", "mw_git_hash", "mw_gitaccess_version"} <= set(
        site.db.prefix + name for name in site.db.table_names)
    edit_wiki(site)
    repo = open_repository(site, tmp_path / "cache")
    repo.refresh()
    assert repo.cache.count() == 10 and History(site).verify() == 10


def test_two_servers_catching_up_at_once_append_one_journal(wiki: Site, tmp_path: Path, open_repository) -> None:  # type: ignore[no-untyped-def]
    """The journal lock serialises appends: racing servers never journal the same activity twice."""
    edit_wiki(wiki)
    servers = [open_repository(wiki, tmp_path / f"server{i}") for i in range(3)]
    errors: list[BaseException] = []

    def refresh(repo: WikiRepository) -> None:
        try:
            repo.refresh()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=refresh, args=(repo,)) for repo in servers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    assert len({tuple(repo.refs().items()) for repo in servers}) == 1
    gh = wiki.db.tables.git_hash
    with wiki.db.read() as conn:
        assert len(conn.execute(select(gh.c.gh_sha1)).all()) == 10


@pytest.mark.parametrize("upload_after", [False, True])
def test_a_page_made_and_deleted_in_one_second_stays_deleted(  # type: ignore[no-untyped-def]
        wiki: Site, tmp_path: Path, open_repository, upload_after: bool) -> None:
    """Its edit lost its recentchanges row with the deletion: it must still come before the
    deletion, not after it (where it made the page again), whatever comes later."""
    with wiki.db.write() as conn:
        w = WikiWriter(wiki.db, conn, titles=wiki.titles, upload_directory=wiki.config.upload_directory)
        w.save(0, "Kept", "kept", editor=ADMIN, summary="k", timestamp="20260101000000")
        w.save(0, "Gone", "short-lived", editor=ADMIN, summary="g", timestamp="20260101000001")
        w.delete(0, "Gone", editor=ADMIN, reason="cleanup", timestamp="20260101000001")
        if upload_after:  # a later revision with a known place, which the edit's place was guessed from
            w.upload("Y.txt", b"hi", editor=ADMIN, comment="up", page_text="desc", timestamp="20260101000009")
    repo = open_repository(wiki, tmp_path / "cache")
    repo.refresh()
    assert "(Main)/Gone.wiki" not in git(repo, "ls-tree", "-r", "--name-only", "HEAD").split()
    assert git(repo, "log", "--format=%s").split()[-3:] == ["cleanup", "g", "k"]


def test_an_upload_takes_its_file_page_revision_along_when_a_second_ends_between_them() -> None:
    """The upload's log entry at 12:00:00, the File page's first revision at 12:00:01, an edit
    of that page at 12:00:02: the revision goes with the upload, before the edit (it came last
    in the batch, after the edit, whose text it then replaced)."""
    def revision(rev_id: int, timestamp: str) -> RevisionEvent:
        return RevisionEvent(rev_id, 7, 6, "Logo.png", timestamp, "Admin", 1, "", False, 0, "", "tt:1",
                             "wikitext", False, False)

    upload = LogEvent(20, "upload", "upload", "20261122120000", "Admin", 1, 6, "Logo.png", 7, "", 0,
                      {"associated_rev_id": 10})
    units = list(group([revision(10, "20261122120001"), upload, revision(11, "20261122120002")]))
    assert [([r.rev_id for r in u.revisions], [e.log_id for e in u.logs]) for u in units] == \
        [([10], [20]), ([11], [])]
