"""The object cache is disposable: whatever happens to its files, the history served is the
journal's, rebuilt where it must be, without a restart.

A process killed at any moment of an append or a pack join, a file deleted,
cut short or overwritten, the whole directory removed while serving, a full
disk: each leaves a server whose next clone is the journal's history, whole.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable

import pytest
from dulwich.objects import ShaFile
from sqlalchemy import select

from bench.generate import config_for, create_wiki
from bench.plan import BENCH_USER, SIZES
from gitaccess.app import create_app
from gitaccess.auth.passwords import hash_password
from gitaccess.cache.objectcache import CacheFull, _packs
from gitaccess.config import Config
from gitaccess.journal.history import History
from gitaccess.journal.state import WikiState
from gitaccess.repository import WikiRepository
from gitaccess.site import Site
from gitaccess.wiki import standalone
from gitaccess.wiki.writer import Editor, WikiWriter
from tests.protocol_helpers import GitClient, dev_server
from tests.protocol_helpers import free_port, wait_until_listening
from tests.test_server import GITACCESS

ROOT = Path(__file__).resolve().parents[2]
EDITOR = Editor(BENCH_USER, 1, frozenset({"sysop"}))
TEXT_BYTES = 100_000


@pytest.fixture
def site(tmp_path: Path) -> Site:
    create_wiki(tmp_path / "wiki", SIZES["tiny"], 1)
    WikiRepository._kept_states.clear()
    return Site(config_for(tmp_path / "wiki"))


def text(n: int) -> str:
    """A page's text unlike any other version (stored whole, not as a delta): large enough that
    writing and joining packs take most of a refresh's time, where the kills should land."""
    return random.Random(n).randbytes(TEXT_BYTES).hex() + "\n"


def edit(site: Site, n: int) -> None:
    """One more wiki edit: one more commit for the next refresh to journal and cache."""
    with site.db.write() as conn:
        WikiWriter(site.db, conn, titles=site.titles).save(0, "Disposable", text(n), editor=EDITOR,
                                                           summary=f"edit {n}")


def assert_serves_the_journal(site: Site, tmp_path: Path) -> None:
    """The cache holds the packs its index lists and no other file; every object it lists
    reads back; a fresh clone is the journal's history and passes git fsck (the cache's own
    packs may hold deltas against each other's objects, which git fsck refuses in a
    repository: the clone checks every object instead)."""
    repo = WikiRepository(site)
    repo.refresh()
    with repo.cache.engine.connect() as conn:
        listed = {f"{name}{suffix}" for name in conn.execute(select(_packs.c.name)).scalars()
                  for suffix in (".pack", ".idx")}
    assert {path.name for path in repo.cache.pack_dir.iterdir()} == listed
    store = repo.object_store()
    for commit in repo.commits_since(-1):  # object by object, as a fetch reads them
        for sha, _type, _base in repo.introduced(commit):
            assert ShaFile.from_raw_string(*store.get_raw(sha)).id == sha
    with site.db.read() as conn:
        journal_head = repo.history.head(conn)
    cached = repo.cache.head()
    assert cached is not None and cached[1] == journal_head
    repo.close()
    git = GitClient(tmp_path / "home", protocol=2)
    clone = tmp_path / f"clone-{time.monotonic_ns()}"
    with dev_server(create_app(dataclasses.replace(site.config, anonymous_read=True))) as server:
        git("clone", "-q", server.url, str(clone))
    assert git("rev-parse", "HEAD", cwd=clone).stdout.strip() == journal_head.decode()
    git("fsck", "--strict", "--no-dangling", cwd=clone)


def _pack(repo: WikiRepository, suffix: str) -> Path:
    return next(repo.cache.pack_dir.glob(f"pack-*{suffix}"))


def _overwrite_middle(path: Path) -> None:
    """Overwrite bytes in the middle of a file, leaving its size and its ends as they were."""
    with open(path, "r+b") as handle:
        handle.seek(path.stat().st_size // 2)
        handle.write(b"\xff" * 64)


#: Ways a cache's files get damaged between two processes' lives.
DAMAGES: dict[str, Callable[[WikiRepository], None]] = {
    "pack deleted": lambda repo: _pack(repo, ".pack").unlink(),
    "pack index deleted": lambda repo: _pack(repo, ".idx").unlink(),
    "pack cut short": lambda repo: os.truncate(_pack(repo, ".pack"), _pack(repo, ".pack").stat().st_size // 2),
    "pack overwritten inside": lambda repo: _overwrite_middle(_pack(repo, ".pack")),
    "pack index overwritten inside": lambda repo: _overwrite_middle(_pack(repo, ".idx")),
    "pack directory deleted": lambda repo: shutil.rmtree(repo.cache.pack_dir),
    "index overwritten": lambda repo: (repo.cache.directory / "index.sqlite").write_bytes(b"not a database" * 500),
}
#: What a process killed while writing a pack leaves: no damage, files to remove.
LEFTOVERS: dict[str, Callable[[WikiRepository], None]] = {
    "half-written pack": lambda repo: (repo.cache.pack_dir / "tmp-999999-1.pack").write_bytes(b"PACK" * 100),
    "finished pack not yet listed": lambda repo: shutil.copy(_pack(repo, ".idx"), repo.cache.pack_dir
                                                             / f"pack-{'0' * 40}.idx"),
}


@pytest.mark.parametrize("damage", [*DAMAGES, *LEFTOVERS])
def test_a_cache_damaged_between_lives_is_found_on_opening_and_rebuilt(
        site: Site, tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture) -> None:
    repo = WikiRepository(site)
    repo.refresh()
    repo.close()
    {**DAMAGES, **LEFTOVERS}[damage](repo)
    WikiRepository._kept_states.clear()  # a new process
    with caplog.at_level(logging.WARNING):
        assert_serves_the_journal(site, tmp_path)
    if damage in DAMAGES:
        assert any("damaged" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)


def test_a_cache_removed_while_a_process_reads_it_is_rebuilt_and_the_read_retried(site: Site) -> None:
    repo = WikiRepository(site)
    repo.refresh()
    head = repo.refs()[repo.head()]
    serving = WikiRepository(site)  # opened, its packs not read yet
    shutil.rmtree(repo.cache.directory)
    assert serving.object_store().get_raw(head)[0] == 1  # a commit
    assert serving.introduced(head) and serving.refs()[serving.head()] == head


def test_a_push_finding_the_cache_damaged_as_it_stores_leaves_its_commits_to_the_next_refresh(
        site: Site, tmp_path: Path) -> None:
    WikiRepository(site).refresh()
    pusher = WikiRepository(site)  # its objects in no memory: storing reads the bases from the packs
    head = pusher.refs()[pusher.head()]
    state = pusher.take_state(head)
    edit(site, 1)
    made = list(pusher.history.catch_up(state, head))  # journaled, as a push's commits are
    for pack in pusher.cache.pack_dir.glob("pack-*.pack"):
        pack.unlink()
    pusher.store(made, state, head)
    assert_serves_the_journal(site, tmp_path)


def test_a_cache_removed_while_gunicorn_serves_is_rebuilt_without_a_restart(tmp_path: Path) -> None:
    create_wiki(tmp_path / "wiki", SIZES["tiny"], 1)
    (tmp_path / "wiki" / "gitaccess.toml").write_text(
        (tmp_path / "wiki" / "gitaccess.toml").read_text() + "\n[access]\nanonymous_read = true\n")
    env = {**os.environ, "GITACCESS_CONFIG": str(tmp_path / "wiki" / "gitaccess.toml")}
    env.pop("GITACCESS_DB", None)
    cache = Site(config_for(tmp_path / "wiki")).config.data_directory / "cache"
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen([str(GITACCESS), "serve", "--port", str(port), "--workers", "2"],
                                  cwd=tmp_path / "wiki", env=env, stdout=out, stderr=subprocess.STDOUT)
    git = GitClient(tmp_path / "home", protocol=2)
    try:
        wait_until_listening(port, server, log)
        url = f"http://127.0.0.1:{port}/wiki.git"
        git("clone", "-q", url, str(tmp_path / "before"))
        for attempt in range(4):  # enough to reach both workers, each holding the removed cache open
            shutil.rmtree(cache)
            clone = tmp_path / f"after-{attempt}"
            cloned = git("clone", "-q", url, str(clone), check=False)
            assert cloned.returncode == 0, f"{cloned.stderr}\n{log.read_text()}"
            git("fsck", "--strict", "--no-dangling", cwd=clone)
            assert (git("rev-parse", "HEAD", cwd=clone).stdout
                    == git("rev-parse", "HEAD", cwd=tmp_path / "before").stdout)
    finally:
        server.terminate()
        server.wait(20)


def keep_rebuilding(wiki: str) -> None:
    """Store the journal's commits the cache lacks, one append (and join) per commit, then
    throw the cache away, over and over until killed: the process the kill tests kill, whose
    time goes to writing, joining and removing packs. Each one goes on where the one killed
    before it stopped."""
    site = Site(config_for(Path(wiki)))
    cache = WikiRepository(site).cache
    print("storing", flush=True)  # the kill is timed from here, past the imports
    while True:
        with cache.locked():
            state = WikiState()
            for made in History(site).replay(state, None):
                if cache.position(made.commit.id) is None:
                    cache.append([made], state.to_json)
            cache.reset()


def _kill_at_random_moments(site: Site, tmp_path: Path, kills: int) -> None:
    rng = random.Random(kills)
    for n in range(20):  # more commits to store, larger packs to join
        edit(site, n)
    WikiRepository(site).refresh()
    for _kill in range(kills):
        child = subprocess.Popen(
            [sys.executable, "-c", f"from tests.cache.test_disposable import keep_rebuilding; "
                                   f"keep_rebuilding({str(tmp_path / 'wiki')!r})"],
            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE)
        assert child.stdout is not None and child.stdout.readline() == b"storing\n"
        time.sleep(rng.uniform(0.0, 1.0))
        assert child.poll() is None, "the rebuilding process stopped by itself"
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
    assert_serves_the_journal(site, tmp_path)


def test_a_process_killed_at_random_moments_of_appends_and_joins_leaves_a_cache_that_serves(
        site: Site, tmp_path: Path) -> None:
    _kill_at_random_moments(site, tmp_path, 8)


@pytest.mark.stress
def test_a_process_killed_thirty_times_at_random_moments_leaves_a_cache_that_serves(
        site: Site, tmp_path: Path) -> None:
    _kill_at_random_moments(site, tmp_path, 30)


def test_a_full_disk_stores_nothing_and_the_cache_catches_up_once_there_is_room(
        tmp_path: Path) -> None:
    create_wiki(tmp_path / "wiki", SIZES["tiny"], 1)
    WikiRepository._kept_states.clear()
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)], capture_output=True,
                             text=True)
    if mounted.returncode:
        pytest.skip(f"a small disk cannot be mounted here: {mounted.stderr.strip()}")
    try:
        site = Site(dataclasses.replace(config_for(tmp_path / "wiki"), data_directory=disk / "data"))
        repo = WikiRepository(site)
        repo.refresh()
        filler = disk / "filler"
        with open(filler, "wb", buffering=0) as out:
            try:
                while out.write(b"\0" * 4096):
                    pass
            except OSError:
                pass  # full
        for n in range(3):
            edit(site, n)
            with pytest.raises(CacheFull, match="disk is full"):
                repo.refresh()
        filler.unlink()
        assert_serves_the_journal(site, tmp_path)
        repo.close()
    finally:
        subprocess.run(["umount", "--lazy", str(disk)], check=True)


PASSWORD = "disposable-test-password"


def keep_pushing(git: GitClient, clone: Path, stop: threading.Event, in_flight: threading.Event) -> int:
    """Commit and push a page's new text until told to stop, whatever each push answers (its
    worker may be killed midway; ``in_flight`` is set while a push runs); returns how many
    pushes git reported as accepted."""
    accepted = 0
    for step in range(10**6):
        if stop.is_set():
            return accepted
        (clone / "(Main)" / "Pushed.wiki").write_text(text(step), "utf-8")
        git("commit", "-q", "-am", f"step {step}", cwd=clone)
        if git("pull", "-q", "--rebase", "-X", "theirs", "origin", "master", cwd=clone, check=False).returncode:
            git("rebase", "--abort", cwd=clone, check=False)
            git("reset", "-q", "--hard", "origin/master", cwd=clone, check=False)
        in_flight.set()
        accepted += git("push", "-q", "origin", "master", cwd=clone, check=False).returncode == 0
        in_flight.clear()
    return accepted


def _kill_workers_mid_push(tmp_path: Path, kills: int) -> None:
    """gitaccess serve (two workers) taking pushes, its workers killed at random moments."""
    rng = random.Random(kills)
    url = f"sqlite:///{tmp_path / 'wiki.sqlite'}"
    site = Site(Config(database_url=url, data_directory=tmp_path / "data", upload_directory=tmp_path / "images",
                       anonymous_read=True))
    standalone.create(site.db)
    with site.db.write() as conn:
        writer = WikiWriter(site.db, conn, titles=site.titles)
        writer.create_user("Admin", hash_password(PASSWORD), ("sysop",))
        writer.save(0, "Pushed", "start\n", editor=EDITOR, summary="start")
    (tmp_path / "gitaccess.toml").write_text(
        f'[wiki]\ndata_directory = "{tmp_path / "data"}"\nupload_directory = "{tmp_path / "images"}"\n')
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("GITACCESS_")},
           "GITACCESS_DB": url, "GITACCESS_CONFIG": str(tmp_path / "gitaccess.toml")}
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen([str(GITACCESS), "serve", "--port", str(port), "--workers", "2"],
                                  cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT)
    git = GitClient(tmp_path / "home", protocol=2)
    for key, value in (("user.name", "Pusher"), ("user.email", "pusher@example.org"),
                       ("credential.helper", f"!f() {{ echo username=Admin; echo password={PASSWORD}; }}; f")):
        git("config", "--global", key, value)
    stop, in_flight = threading.Event(), threading.Event()
    try:
        wait_until_listening(port, server, log)
        clone = tmp_path / "pusher"
        git("clone", "-q", f"http://127.0.0.1:{port}/wiki.git", str(clone))
        pushing = threading.Thread(target=keep_pushing, args=(git, clone, stop, in_flight), daemon=True)
        pushing.start()
        for _kill in range(kills):
            assert in_flight.wait(60), "no push started"
            time.sleep(rng.uniform(0.0, 0.5))  # somewhere in the push, or just after it
            workers = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
            if workers:
                os.kill(int(rng.choice(workers)), signal.SIGKILL)
        stop.set()
        pushing.join(120)
        assert not pushing.is_alive(), "the pushes did not stop"
        fresh = tmp_path / "fresh"
        cloned = git("clone", "-q", f"http://127.0.0.1:{port}/wiki.git", str(fresh), check=False)
        assert cloned.returncode == 0, f"{cloned.stderr}\n{log.read_text()[-3000:]}"
        git("fsck", "--strict", "--no-dangling", cwd=fresh)
    finally:
        stop.set()
        server.terminate()
        server.wait(20)
    with site.db.read() as conn:
        journal_head = WikiRepository(site).history.head(conn)
    assert git("rev-parse", "HEAD", cwd=fresh).stdout.strip() == journal_head.decode()
    assert_serves_the_journal(site, tmp_path)


@pytest.mark.stress
def test_workers_killed_thirty_times_mid_push_leave_a_server_that_serves(tmp_path: Path) -> None:
    _kill_workers_mid_push(tmp_path, 30)
