"""Pushed commits become wiki edits (gitaccess.push), checked without the HTTP layer."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import text
from dulwich.objects import Blob, Commit, ShaFile

from gitaccess.auth.accounts import Account
from gitaccess.journal.history import History
from gitaccess.push.errors import PushRefused
from gitaccess.push.receiver import Receiver
from gitaccess.push.rules import ZERO
from gitaccess.repository import WikiRepository
from gitaccess.site import Site
from gitaccess.wiki import reader
from gitaccess.wiki.writer import Editor, WikiWriter
from tests.trees import nested_tree

ADMIN = Editor("Admin", 1, frozenset({"sysop"}))
PUSHER = Account(1, "Admin", frozenset({"sysop", "user", "*"}), None, False, True, True)


class Objects(dict):  # type: ignore[type-arg]
    """New objects of a push, falling back to what the repository serves."""

    def __init__(self, repo: WikiRepository) -> None:
        super().__init__()
        self.store = repo.cache.object_store

    def __missing__(self, sha: bytes) -> ShaFile:
        return self.store[sha]

    def get_raw(self, sha: bytes) -> tuple[int, bytes]:
        obj = self[sha]
        return obj.type_num, obj.as_raw_string()

    def add(self, obj: ShaFile) -> bytes:
        self[obj.id] = obj
        return obj.id


def tree_of(objects: Objects, files: dict[str, bytes], mode: int = 0o100644) -> bytes:
    """Nested trees for {path: content}."""
    return nested_tree(files, lambda data: (mode, objects.add(Blob.from_string(data))), objects.add)


def files_at(objects: Objects, commit: bytes) -> dict[str, bytes]:
    out: dict[str, bytes] = {}

    def walk(tree_id: bytes, prefix: str) -> None:
        for entry in objects[tree_id].iteritems():
            path = prefix + entry.path.decode()
            if entry.mode == 0o040000:
                walk(entry.sha, path + "/")
            else:
                out[path] = objects[entry.sha].as_raw_string()

    walk(objects[commit].tree, "")
    return out


def commit_on(objects: Objects, parent: bytes | None, files: dict[str, bytes], message: str) -> bytes:
    c = Commit()
    c.tree = tree_of(objects, files)
    c.parents = [parent] if parent else []
    c.author = c.committer = b"Someone Else <someone@example.org>"
    c.author_time = c.commit_time = 1767225600
    c.author_timezone = c.commit_timezone = 3600
    c.message = message.encode() + b"\n\nA body the wiki ignores.\n"
    return objects.add(c)


@pytest.fixture
def pushed(wiki: Site, tmp_path: Path):  # type: ignore[no-untyped-def]
    with wiki.db.write() as conn:
        w = WikiWriter(wiki.db, conn, titles=wiki.titles)
        w.create_user("Admin", "", ("sysop",))
        w.save(0, "Main_Page", "Welcome\n", editor=ADMIN, summary="start")
        w.save(0, "Old_name", "moving soon\n", editor=ADMIN, summary="old")
        w.save(0, "Doomed", "to be deleted\n", editor=ADMIN, summary="doomed")
    repo = WikiRepository(wiki, tmp_path / "cache")
    repo.refresh()
    yield wiki, repo
    repo.close()


def head_of(repo: WikiRepository) -> bytes:
    return repo.refs()[repo.head()]


def test_push_edits_creates_moves_and_deletes(pushed) -> None:  # type: ignore[no-untyped-def]
    wiki, repo = pushed
    objects = Objects(repo)
    head = head_of(repo)
    files = files_at(objects, head)
    files["(Main)/Main_Page.wiki"] = b"Welcome, from git\n"
    files["(Main)/New_page.wiki"] = b"brand new\n"
    files["(Main)/New_name.wiki"] = files.pop("(Main)/Old_name.wiki")
    del files["(Main)/Doomed.wiki"]
    first = commit_on(objects, head, files, "Edit, create, rename and delete from git")
    files["User/Admin/Notes.wiki"] = b"a subpage\n"
    second = commit_on(objects, first, files, "Second pushed commit")
    Receiver(wiki, repo).receive(PUSHER, head, second, repo.head(), objects)
    assert head_of(repo) == second  # the branch is exactly the pushed commit
    with wiki.db.read() as conn:
        main = reader.page_by_title(wiki.db, conn, 0, "Main_Page")
        assert main is not None and reader.revision_text(wiki.db, conn, main.latest) == "Welcome, from git\n"
        last = list(reader.revisions(wiki.db, conn, page_id=main.id))[-1]
        assert (last.comment, last.user_name) == ("Edit, create, rename and delete from git", "Admin")
        assert reader.page_by_title(wiki.db, conn, 0, "Doomed") is None
        assert reader.page_by_title(wiki.db, conn, 0, "Old_name") is None  # moved without a redirect
        assert reader.page_by_title(wiki.db, conn, 0, "New_name") is not None
        assert reader.page_by_title(wiki.db, conn, 2, "Admin/Notes") is not None
    assert History(wiki).verify() == 5
    # A new server rebuilds the pushed commits byte for byte.
    other = WikiRepository(wiki, Path(str(repo.cache.directory) + "-other"))
    other.refresh()
    assert head_of(other) == second
    other.close()
    # The wiki edits after the push become ordinary commits on top of it.
    with wiki.db.write() as conn:
        WikiWriter(wiki.db, conn, titles=wiki.titles).save(0, "After", "x\n", editor=ADMIN, summary="after")
    repo.refresh()
    assert objects.store[head_of(repo)].parents == [second]


@pytest.mark.parametrize("change, rule", [
    ({"(Main)/Crlf.wiki": b"line\r\n"}, "core.autocrlf"),
    ({"(Main)/Latin.wiki": b"caf\xe9\n"}, "not UTF-8"),
    ({"MediaWiki/Bad.json": b"{not json"}, "invalid JSON"),
    ({"(Main)/foo bar.wiki": b"x\n"}, "name it (Main)/Foo_bar.wiki"),
    ({"Talk/Excluded.wiki": b"x\n"}, "not in the repository"),
    ({"File/Lonely.png.wiki": b"no file\n"}, "Media file"),
    ({"(Main)/Huge.wiki": b"x" * 3_000_000}, "maximum page size"),
    ({"Media/Tool.exe": b"MZ", "File/Tool.exe.wiki": b"a program\n"}, "files of type 'exe' cannot be uploaded"),
    ({"Media/Big.png": b"\x89PNG" + b"\0" * 200, "File/Big.png.wiki": b"big\n"}, "maximum upload size"),
])
def test_refused_pushes_change_nothing(pushed, change: dict[str, bytes], rule: str) -> None:  # type: ignore[no-untyped-def]
    wiki, repo = pushed
    objects = Objects(repo)
    head = head_of(repo)
    files = files_at(objects, head) | change
    new = commit_on(objects, head, files, "a bad commit")
    limited = Site(replace(wiki.config, max_upload_size=100))  # a small $wgMaxUploadSize
    try:
        with pytest.raises(PushRefused, match=rule.replace("(", r"\(").replace(")", r"\)")):
            Receiver(limited, repo).receive(PUSHER, head, new, repo.head(), objects)
    finally:
        limited.db.dispose()
    repo.refresh()
    assert head_of(repo) == head
    with wiki.db.read() as conn:
        assert len(list(reader.revisions(wiki.db, conn))) == 3


def test_a_schema_newer_than_gitaccess_writes_refuses_pushes_and_changes_nothing(pushed) -> None:  # type: ignore[no-untyped-def]
    """MediaWiki 1.44's file tables, as its schema change adds them: fetches go on, pushes wait."""
    wiki, repo = pushed
    objects = Objects(repo)
    head = head_of(repo)
    new = commit_on(objects, head, files_at(objects, head) | {"(Main)/X.wiki": b"x\n"}, "mine")
    with wiki.db.engine.begin() as conn:
        conn.execute(text("CREATE TABLE filerevision (fr_id INTEGER PRIMARY KEY)"))
    with pytest.raises(PushRefused, match=r"MediaWiki 1\.44.* schema.*read-only"):
        Receiver(wiki, repo).receive(PUSHER, head, new, repo.head(), objects)
    repo.refresh()
    assert head_of(repo) == head
    with wiki.db.read() as conn:
        assert len(list(reader.revisions(wiki.db, conn))) == 3


def test_stale_and_non_fast_forward_pushes_are_refused(pushed) -> None:  # type: ignore[no-untyped-def]
    wiki, repo = pushed
    objects = Objects(repo)
    head = head_of(repo)
    new = commit_on(objects, head, files_at(objects, head) | {"(Main)/X.wiki": b"x\n"}, "mine")
    with wiki.db.write() as conn:  # somebody edits the wiki meanwhile
        WikiWriter(wiki.db, conn, titles=wiki.titles).save(0, "Main_Page", "theirs\n", editor=ADMIN, summary="t")
    with pytest.raises(PushRefused, match="fetch, then rebase or merge"):
        Receiver(wiki, repo).receive(PUSHER, head, new, repo.head(), objects)
    repo.refresh()
    current = head_of(repo)
    with pytest.raises(PushRefused, match="only refs/heads/master"):
        Receiver(wiki, repo).receive(PUSHER, current, new, b"refs/heads/other", objects)
    with pytest.raises(PushRefused, match="cannot be deleted"):
        Receiver(wiki, repo).receive(PUSHER, current, ZERO, repo.head(), objects)
    with pytest.raises(PushRefused, match="fetch, then rebase or merge"):
        Receiver(wiki, repo).receive(PUSHER, current, new, repo.head(), objects)  # not a fast-forward


def test_a_push_does_not_lock_the_journal_while_it_waits_for_the_cache(pushed) -> None:  # type: ignore[no-untyped-def]
    """Another worker's refresh holds the cache's lock while it journals new wiki activity: a push
    that locked the journal and then waited for the cache would deadlock with it (until the
    database's lock timeout failed one of them; on PostgreSQL, never)."""
    wiki, repo = pushed
    objects = Objects(repo)
    head = head_of(repo)
    new = commit_on(objects, head, files_at(objects, head) | {"(Main)/X.wiki": b"x\n"}, "mine")
    other_worker = WikiRepository(wiki, repo.cache.directory)
    push_errors: list[BaseException] = []
    journaled = threading.Event()

    def push() -> None:
        try:
            Receiver(wiki, repo).receive(PUSHER, head, new, repo.head(), objects)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            push_errors.append(exc)

    def journal() -> None:
        with wiki.db.write() as conn:
            History(wiki).marks(conn, lock=True)
        journaled.set()

    with other_worker.cache.locked():
        pusher = threading.Thread(target=push, daemon=True)
        pusher.start()
        time.sleep(1.5)  # the push, ready to apply, waits for the cache
        threading.Thread(target=journal, daemon=True).start()
        deadlocked = not journaled.wait(15)
    pusher.join(60)
    other_worker.close()
    assert not deadlocked, "the push held the journal while it waited for the cache"
    assert not pusher.is_alive() and not push_errors, push_errors
    assert files_at(objects, head_of(repo))["(Main)/X.wiki"] == b"x\n"


def test_merge_commits_are_kept_with_their_side_branch(pushed) -> None:  # type: ignore[no-untyped-def]
    """A merge is journaled as pushed; its first-parent diff is what the wiki applies."""
    wiki, repo = pushed
    objects = Objects(repo)
    head = head_of(repo)
    base = files_at(objects, head)
    side = commit_on(objects, head, base | {"(Main)/From_side.wiki": b"side branch\n"}, "work on a side branch")
    main = commit_on(objects, head, base | {"(Main)/Main_Page.wiki": b"main line\n"}, "work on the main line")
    merge = Commit()
    merge.tree = tree_of(objects, base | {"(Main)/Main_Page.wiki": b"main line\n",
                                          "(Main)/From_side.wiki": b"side branch\n"})
    merge.parents = [main, side]
    merge.author = merge.committer = b"Merger <merger@example.org>"
    merge.author_time = merge.commit_time = 1767225700
    merge.author_timezone = merge.commit_timezone = 0
    merge.message = b"Merge the side branch\n"
    objects.add(merge)
    Receiver(wiki, repo).receive(PUSHER, head, merge.id, repo.head(), objects)
    assert head_of(repo) == merge.id
    with wiki.db.read() as conn:
        page = reader.page_by_title(wiki.db, conn, 0, "From_side")
        assert page is not None
        (only,) = reader.revisions(wiki.db, conn, page_id=page.id)
        assert only.comment == "Merge the side branch"  # applied by the merge, the first-parent diff
    # A server with an empty cache rebuilds everything, the side branch's commit included.
    other = WikiRepository(wiki, Path(str(repo.cache.directory) + "-merge"))
    other.refresh()
    assert head_of(other) == merge.id
    assert other.cache.object_store[side].message.startswith(b"work on a side branch")
    other.close()
    assert History(wiki).verify() == 5
