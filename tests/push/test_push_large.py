"""Large pushes through the real git client, and a server killed while applying one (SQLite).

Wall times are printed (``pytest -s`` shows them); speed itself belongs to the benchmarks.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path

import pytest

from gitaccess.app import create_app
from gitaccess.auth.passwords import hash_password
from gitaccess.repository import WikiRepository
from gitaccess.push.receiver import Receiver
from gitaccess.site import Site
from gitaccess.wiki import reader, standalone
from gitaccess.wiki.writer import Editor, WikiWriter
from tests.protocol_helpers import GitClient, dev_server, run_git
from tests.test_bad_input import assert_unchanged, state
from tests.push.test_receive import PUSHER, Objects, commit_on, files_at, head_of

PASSWORD = "large-push-password"
ADMIN = Editor("Admin", 1, frozenset({"sysop"}))
PAGES = 1000
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def sqlite_wiki(make_site, tmp_path: Path) -> Site:  # type: ignore[no-untyped-def]
    site = make_site(f"sqlite:///{tmp_path / 'wiki.sqlite'}")
    standalone.create(site.db)
    with site.db.write() as conn:
        w = WikiWriter(site.db, conn, titles=site.titles)
        w.create_user("Admin", hash_password(PASSWORD), ("sysop",))
        w.save(0, "Main_Page", "Welcome\n", editor=ADMIN, summary="start")
    return site


@pytest.fixture
def clone(sqlite_wiki: Site, tmp_path: Path):  # type: ignore[no-untyped-def]
    git = GitClient(tmp_path / "home", protocol=2)
    git("config", "--global", "user.name", "Git Author")
    git("config", "--global", "user.email", "author@example.org")
    git("config", "--global", "credential.helper", f"!f() {{ echo username=Admin; echo password={PASSWORD}; }}; f")
    with dev_server(create_app(sqlite_wiki.config)) as server:
        checkout = tmp_path / "clone"
        git("clone", "-q", server.url, str(checkout))
        yield git, checkout, server


def revisions_with(site: Site, summary_prefix: str) -> list[str]:
    with site.db.read() as conn:
        return [r.comment for n in range(PAGES)
                for r in reader.revisions(site.db, conn, page_id=reader.page_by_title(site.db, conn, 0, f"Page_{n}").id)
                if r.comment.startswith(summary_prefix)]


def push_timed(git: GitClient, checkout: Path, what: str) -> None:
    started = time.monotonic()
    result = run_git("-c", "protocol.version=2", "push", "origin", "master", cwd=checkout, check=False,
                     env=git.env, timeout=1800)
    print(f"\n{what}: push took {time.monotonic() - started:.1f} s")
    assert result.returncode == 0, result.stderr


def test_one_commit_of_a_thousand_pages(clone, sqlite_wiki: Site, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    git, checkout, server = clone
    for n in range(PAGES):
        (checkout / "(Main)" / f"Page_{n}.wiki").write_text(f"page {n}\n")
    git("add", "-A", cwd=checkout)
    git("commit", "-q", "-m", "A thousand pages at once", cwd=checkout)
    pushed = git("rev-parse", "HEAD", cwd=checkout).stdout.strip()
    push_timed(git, checkout, f"1 commit of {PAGES} pages")
    assert revisions_with(sqlite_wiki, "A thousand pages") == ["A thousand pages at once"] * PAGES
    fresh = tmp_path / "fresh"
    git("clone", "-q", server.url, str(fresh))
    assert git("rev-parse", "HEAD", cwd=fresh).stdout.strip() == pushed


def test_a_thousand_single_page_commits(clone, sqlite_wiki: Site, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    git, checkout, server = clone
    shas = []
    for n in range(PAGES):
        (checkout / "(Main)" / f"Page_{n}.wiki").write_text(f"page {n}\n")
        git("add", "-A", cwd=checkout)
        git("commit", "-q", "-m", f"Page number {n}", cwd=checkout)
        shas.append(git("rev-parse", "HEAD", cwd=checkout).stdout.strip())
    push_timed(git, checkout, f"{PAGES} commits of 1 page")
    assert sorted(revisions_with(sqlite_wiki, "Page number")) == sorted(f"Page number {n}" for n in range(PAGES))
    fresh = tmp_path / "fresh"
    git("clone", "-q", server.url, str(fresh))
    log = git("rev-list", "--first-parent", "HEAD", cwd=fresh).stdout.split()
    assert log[:PAGES] == shas[::-1]


KILLED_PUSH = textwrap.dedent("""\
    import os, sys
    from pathlib import Path
    from gitaccess.config import Config
    from gitaccess.push.receiver import Receiver
    from gitaccess.repository import WikiRepository
    from gitaccess.site import Site
    from gitaccess.wiki.writer import WikiWriter
    from tests.push.test_receive import PUSHER, Objects, commit_on, files_at, head_of

    url, data, images, cache = sys.argv[1:5]
    site = Site(Config(database_url=url, data_directory=Path(data), upload_directory=Path(images)))
    repo = WikiRepository(site, Path(cache))
    objects = Objects(repo)
    head = head_of(repo)
    files = files_at(objects, head)
    for n in range({pages}):
        files[f"(Main)/Page_{{n}}.wiki"] = f"page {{n}}\\n".encode()
    new = commit_on(objects, head, files, "A thousand pages, killed halfway")
    saved = 0
    original = WikiWriter.save

    def save(self, *args, **kwargs):
        global saved
        saved += 1
        if saved == {pages} // 2:
            os._exit(9)
        return original(self, *args, **kwargs)

    WikiWriter.save = save
    Receiver(site, repo).receive(PUSHER, head, new, repo.head(), objects)
    sys.exit("the push was not killed")
""").format(pages=PAGES)


def test_server_killed_while_applying_leaves_no_partial_edit(sqlite_wiki: Site, tmp_path: Path) -> None:
    site = sqlite_wiki
    cache = tmp_path / "cache"
    repo = WikiRepository(site, cache)
    repo.refresh()
    head = head_of(repo)
    repo.close()
    before = state(site)
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_PUSH, site.config.database_url, str(site.config.data_directory),
         str(site.config.upload_directory), str(cache)],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert killed.returncode == 9, killed.stderr
    assert_unchanged(before, state(site))  # page, revision, text, the journal (git_hash, marks), ...
    repo = WikiRepository(site, cache)
    try:
        repo.refresh()
        assert head_of(repo) == head
        objects = Objects(repo)
        files = files_at(objects, head)
        files["(Main)/After_the_crash.wiki"] = b"a normal push\n"
        new = commit_on(objects, head, files, "After the crash")
        Receiver(site, repo).receive(PUSHER, head, new, repo.head(), objects)
        assert head_of(repo) == new
    finally:
        repo.close()
    with site.db.read() as conn:
        page = reader.page_by_title(site.db, conn, 0, "After_the_crash")
        assert page is not None
        assert reader.page_by_title(site.db, conn, 0, "Page_0") is None


@pytest.mark.parametrize(("limit", "message"), [
    ({"max_tree_bytes": 20_000}, "more than the limit of 20000 bytes for one directory"),
    ({"max_push_inflated_bytes": 20_000}, "the pack's objects inflate to more than the limit of 20000 bytes"),
    ({"max_worker_memory": 1024 * 1024}, "this push takes the server past its memory limit of 1048576 bytes"),
], ids=["tree-size", "inflated", "memory"])
def test_a_push_over_a_configured_limit_leaves_the_wiki_unchanged(sqlite_wiki: Site, tmp_path: Path,
                                                                  limit: dict[str, int], message: str) -> None:
    git = GitClient(tmp_path / "home", protocol=2)
    git("config", "--global", "user.name", "Git Author")
    git("config", "--global", "user.email", "author@example.org")
    git("config", "--global", "credential.helper", f"!f() {{ echo username=Admin; echo password={PASSWORD}; }}; f")
    with dev_server(create_app(replace(sqlite_wiki.config, **limit))) as server:
        checkout = tmp_path / "clone"
        git("clone", "-q", server.url, str(checkout))
        for n in range(PAGES):
            (checkout / "(Main)" / f"Page_{n}.wiki").write_text(f"page {n}\n" * 10)
        (checkout / "Media").mkdir()
        (checkout / "Media" / "Noise.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 20_000)
        git("add", "-A", cwd=checkout)
        git("commit", "-q", "-m", "Over a limit", cwd=checkout)
        before = state(sqlite_wiki)
        pushed = git("push", "origin", "master", cwd=checkout, check=False)
        assert pushed.returncode == 1 and message in pushed.stderr, pushed.stderr
        assert_unchanged(before, state(sqlite_wiki))
